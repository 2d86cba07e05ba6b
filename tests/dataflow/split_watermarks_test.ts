import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileSource, MemoryStorage, OutputTag, SequenceSource, StreamEnvironment, TumblingEventTimeWindows, WatermarkStrategy, WeirError } from "../../mod.ts";
import type { DataStream, JobHandle } from "../../mod.ts";
import { GatedSplits, type SplitRecord } from "../gated_splits.ts";
import { memoryDirectories, VirtualWorld } from "../virtual_world.ts";

/** A fired window: [key, window start (ms), records in it]. */
type Fired = [key: string, start: number, count: number];

/** A job on the world's virtual time, checkpoints every 10 ms, no restarts. */
function env(world: VirtualWorld, name: string, extra: Record<string, unknown> = {}): StreamEnvironment {
  return new StreamEnvironment({ jobName: name, parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "none" }, runtime: world.runtime(), ...extra });
}

/** Tumbling 10 s windows per key: each firing goes to `fired` (and the sink), late records to `late`. */
function windows<T>(stream: DataStream<T>, key: (v: T) => string, fired: Fired[], late: T[], sizeMs = 10_000): DataStream<Fired> {
  const lateTag = new OutputTag<T>("late");
  const out = stream.keyBy(key)
    .window(TumblingEventTimeWindows.of(sizeMs))
    .sideOutputLateData(lateTag)
    .process<Fired>((k, w, elements, ctx) => ctx.emit([k as string, w.start, elements.length]), { uid: "win" });
  out.getSideOutput(lateTag).map((v) => (late.push(v), v), { uid: "late" }).sinkTo(new CollectSink<T>(), { uid: "late-out" });
  return out.map((f) => (fired.push(f), f), { uid: "fired" });
}

/** Record [split, i] happened at i seconds. */
const perSecond = WatermarkStrategy.forMonotonousTimestamps<SplitRecord>().withTimestampAssigner((r) => r[1] * 1000);
const ids = (fired: Fired[]) => fired.map(([k, s]) => `${k}@${s / 1000}`).sort();

async function cancel(world: VirtualWorld, job: JobHandle): Promise<void> {
  await job.cancel();
  await world.drive(() => false, 100);
}

describe("watermarks per source split (FLIP-27)", () => {
  test("a FileSource subtask reading two files whose event times overlap: the unread file holds the watermark back, no record is late", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-split-wm-"));
    try {
      // Two files of 100 s each, read one after the other by one subtask.
      for (const f of ["a", "b"]) writeFileSync(join(dir, `${f}.jsonl`), Array.from({ length: 100 }, (_, i) => JSON.stringify({ f, t: i * 1000 })).join("\n") + "\n");
      const world = new VirtualWorld();
      const fired: Fired[] = [];
      type Line = { f: string; t: number };
      const late: Line[] = [];
      const e = env(world, "split-files");
      // Punctuated (a watermark per record): what comes out does not depend on when periodic emits happen.
      const punctuated = WatermarkStrategy.forGenerator<Line>(() => ({ onEvent: (_v, t, out) => out.emitWatermark(t - 1), onPeriodicEmit() {} }))
        .withTimestampAssigner((l) => l.t);
      const lines = e.fromSource(new FileSource<Line>(dir, { format: "jsonl", chunkBytes: 256 }), punctuated, { uid: "files" });
      windows(lines, (l) => l.f, fired, late).sinkTo(new CollectSink<Fired>(), { uid: "out" });
      const result = await world.untilDone(await e.execute());
      assert.equal(result.status, "finished");
      assert.deepEqual(late, [], "no record of the second file came behind the first file's watermark");
      assert.deepEqual(fired.map(([k, s, n]) => `${k}@${s / 1000}:${n}`).sort(), ["a", "b"].flatMap((k) => Array.from({ length: 10 }, (_, w) => `${k}@${w * 10}:10`)).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("two splits in one subtask: the subtask's watermark is the minimum of the splits' watermarks", async () => {
    const world = new VirtualWorld();
    const fired: Fired[] = [];
    const late: SplitRecord[] = [];
    const source = new GatedSplits({ a: 100, b: 100 });
    const e = env(world, "split-min");
    windows(e.fromSource(source, { uid: "src", watermarkStrategy: perSecond }), (r) => r[0], fired, late).sinkTo(new CollectSink<Fired>(), { uid: "out" });
    const job = await e.execute();
    source.allow("a", 50); // a reached 49 s
    source.allow("b", 11); // b only 10 s
    await world.drive(() => false, 1000);
    assert.deepEqual(ids(fired), ["a@0", "b@0"], "only the windows before b's watermark fired");
    source.allow("b", 100);
    source.allow("a", 100);
    const result = await world.untilDone(job);
    assert.equal(result.status, "finished");
    assert.deepEqual(late, []);
    assert.equal(fired.length, 20);
    assert.ok(fired.every(([, , n]) => n === 10), JSON.stringify(fired));
  });

  test("a split idle for withIdleness(ms) stops holding back the subtask's watermark; without it, it holds it back", async () => {
    for (const idle of [false, true]) {
      const world = new VirtualWorld();
      const fired: Fired[] = [];
      const source = new GatedSplits({ a: 100, b: 100 });
      const e = env(world, `split-idle-${idle}`);
      const strategy = idle ? perSecond.withIdleness(300) : perSecond;
      windows(e.fromSource(source, { uid: "src", watermarkStrategy: strategy }), (r) => r[0], fired, []).sinkTo(new CollectSink<Fired>(), { uid: "out" });
      const job = await e.execute();
      source.allow("b", 11);
      // Split a keeps going (a record every 50 ms), split b has nothing more.
      for (let n = 1; n <= 60; n++) {
        source.allow("a", n);
        await world.drive(() => false, 50);
      }
      if (idle) assert.ok(fired.some(([k, s]) => k === "a" && s >= 40_000), `split b went idle and a's windows fired: ${ids(fired)}`);
      else assert.deepEqual(ids(fired), ["a@0", "b@0"], "split b held the watermark at 10 s");
      await cancel(world, job);
    }
  });

  test("a subtask that holds no split is idle at once: it does not hold back a window downstream", async () => {
    const world = new VirtualWorld();
    const fired: Fired[] = [];
    // Subtask 0 holds both splits, subtask 1 none (and never ends, as a stream source's).
    const source = new GatedSplits({ a: 100, b: 100 }, { bounded: false });
    const e = env(world, "split-none", { parallelism: 2 });
    windows(e.fromSource(source, { uid: "src", watermarkStrategy: perSecond }), (r) => r[0], fired, []).sinkTo(new CollectSink<Fired>(), { uid: "out" });
    const job = await e.execute();
    source.allow("a", 35);
    source.allow("b", 35);
    await world.drive(() => fired.length >= 6, 5000);
    assert.deepEqual(ids(fired), ["a@0", "a@10", "a@20", "b@0", "b@10", "b@20"]);
    await cancel(world, job);
  });

  test("a FileSource subtask without a file (fewer files than subtasks) does not hold back a window downstream", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-split-none-"));
    try {
      writeFileSync(join(dir, "only.jsonl"), Array.from({ length: 35 }, (_, i) => JSON.stringify({ t: i * 1000 })).join("\n") + "\n");
      const world = new VirtualWorld();
      const fired: Fired[] = [];
      const e = env(world, "split-file-none", { parallelism: 2 });
      const strategy = WatermarkStrategy.forMonotonousTimestamps<{ t: number }>().withTimestampAssigner((l) => l.t);
      const lines = e.fromSource(new FileSource<{ t: number }>(dir, { format: "jsonl", monitorInterval: 100 }), { uid: "files", watermarkStrategy: strategy });
      windows(lines, () => "only", fired, []).sinkTo(new CollectSink<Fired>(), { uid: "out" });
      const job = await e.execute();
      await world.drive(() => fired.length >= 3, 30_000);
      assert.deepEqual(ids(fired), ["only@0", "only@10", "only@20"]);
      await cancel(world, job);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const parallelism of [1, 2]) {
  test(`a restore keeps each split's watermark, also where a rescale moves the split (parallelism 1 → ${parallelism}): another split's progress advances the watermark at once`, async () => {
    const world = new VirtualWorld();
    const dirs = memoryDirectories();
    try {
      const fired: Fired[] = [];
      const build = (source: GatedSplits, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const e = env(world, "split-restore", { restoreFrom, parallelism: restoreFrom ? parallelism : 1 });
        windows(e.fromSource(source, { uid: "src", watermarkStrategy: perSecond }), (r) => r[0], fired, []).sinkTo(new CollectSink<Fired>(), { uid: "out" });
        return e;
      };
      const first = new GatedSplits({ a: 100, b: 100 });
      first.allow("a", 60);
      first.allow("b", 21);
      const run1 = await build(first).execute();
      await world.drive(() => false, 1000);
      assert.deepEqual(ids(fired), ["a@0", "a@10", "b@0", "b@10"]);
      let savepoint: string | undefined;
      run1.stop({ savepoint: "sp" }).then((p) => (savepoint = p));
      await world.drive(() => savepoint !== undefined, 60_000);
      assert.ok(savepoint);
      fired.length = 0;
      // After the restore only b moves on; a reads nothing, yet its 59 s still count (at parallelism 2
      // a and b are in different subtasks, a's watermark not in the state file of a's subtask).
      const second = new GatedSplits({ a: 100, b: 100 });
      second.allow("b", 41);
      const run2 = await build(second, { storage: dirs.storage, path: savepoint.replace(/^mem:sp\//, "") }).execute();
      await world.drive(() => fired.length >= 4, 5000);
      assert.deepEqual(ids(fired), ["a@20", "a@30", "b@20", "b@30"], "the windows before b's new watermark fired, a's included");
      await cancel(world, run2);
    } finally {
      dirs.restore();
    }
  });
  }

  test("SequenceSource restored at a lower parallelism: two splits in one subtask, the lagging one holds back, no window loses records", async () => {
    const world = new VirtualWorld();
    const dirs = memoryDirectories();
    try {
      const sink = new CollectSink<Fired>();
      const late: number[] = [];
      // Split 0..999 runs at 10 ms per record, split 1000..1999 at 5 ms: it lags in event time.
      const strategy = WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => (n < 1000 ? n * 10 : (n - 1000) * 5));
      let seen = 0;
      const build = (parallelism: number, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const e = env(world, "split-rescale", { parallelism, restoreFrom });
        const numbers = e.fromSource(new SequenceSource(0, 2000, { ratePerSecond: 1000 }), { uid: "src", watermarkStrategy: strategy }).map((n) => (seen++, n), { uid: "seen" });
        windows(numbers, (n) => (n < 1000 ? "a" : "b"), [], late, 1000).sinkTo(sink, { uid: "out", parallelism: 1 });
        return e;
      };
      const run1 = await build(2).execute();
      await world.drive(() => seen >= 1000, 60_000);
      await world.drive(() => false, 500);
      let savepoint: string | undefined;
      run1.stop({ savepoint: "sp" }).then((p) => (savepoint = p));
      await world.drive(() => savepoint !== undefined, 60_000);
      assert.ok(savepoint);
      const before = sink.committed.length;
      const result = await world.untilDone(await build(1, { storage: dirs.storage, path: savepoint.replace(/^mem:sp\//, "") }).execute());
      assert.equal(result.status, "finished");
      assert.deepEqual(late, [], "split 1000..1999 was not overtaken by split 0..999 after the restore");
      assert.ok(before > 0, "windows fired before the savepoint");
      const want = [...Array.from({ length: 10 }, (_, w) => `a@${w}:100`), ...Array.from({ length: 5 }, (_, w) => `b@${w}:200`)];
      assert.deepEqual(sink.committed.map(([k, s, n]) => `${k}@${s / 1000}:${n}`).sort(), want.sort(), "every window fired once, with all its records");
    } finally {
      dirs.restore();
    }
  });

  test("fromSource takes a watermarkStrategy as an option or second (Flink's shape); anything else is refused", () => {
    const e = new StreamEnvironment({ jobName: "split-api" });
    const strategy = WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n);
    e.fromSource(new SequenceSource(0, 10), { uid: "a", watermarkStrategy: strategy }).sinkTo(new CollectSink<number>(), { uid: "a-out" });
    e.fromSource(new SequenceSource(0, 10), strategy, "numbers").sinkTo(new CollectSink<number>(), { uid: "b-out" });
    const graph = e.jobGraph();
    assert.deepEqual(graph.vertices.map((v) => v.chain.map((c) => c.name)), [["a-watermarks", "a-out"], ["numbers-watermarks", "b-out"]], "the assigner is chained to its source");
    assert.ok(graph.vertices[0].uids.includes("a-watermarks"));
    assert.throws(() => e.fromSource(new SequenceSource(0, 1), { watermarkStrategy: "ms" as never }), (err: unknown) => err instanceof WeirError && err.code === "invalid_option" && /watermarkStrategy/.test(err.message));
    assert.throws(() => e.fromSource(new SequenceSource(0, 1), strategy, 5 as never), (err: unknown) => err instanceof WeirError && err.code === "invalid_option");
  });
});
