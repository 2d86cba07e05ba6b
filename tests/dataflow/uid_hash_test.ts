/**
 * Generated uids come from an operator's place in the graph and its code, never from a
 * running counter (issue 8, fault 3: removing one keyed `process` handed its state to the
 * next one), and a stateful operator without a uid is warned about.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, WeirError, OutputTag } from "../../mod.ts";
import type { DataStream, KeyedProcessFunction, EnvironmentOptions } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";

type Out = [key: number, value: number | undefined];
const byKey = (n: number) => n % 3;
/** A: counts per key in ValueState "v", passes the record on. */
const countA: KeyedProcessFunction<number, number, number> = (n, ctx) => {
  const v = ctx.valueState<number>("v");
  v.update((v.value() ?? 0) + 1);
  ctx.emit(n);
};
/** B: emits the key and the last record it kept in ValueState "v", then keeps this one. */
const lastB: KeyedProcessFunction<number, number, Out> = (n, ctx) => {
  const v = ctx.valueState<number>("v");
  ctx.emit([n % 3, v.value()]);
  v.update(n);
};

function env(o: EnvironmentOptions = {}): StreamEnvironment {
  return new StreamEnvironment({ jobName: "uids", storage: new MemoryStorage(), restart: { strategy: "none" }, ...o });
}

/** Runs a graph to a stop-with-savepoint after `upTo` records; returns its location. */
async function runToSavepoint(build: (e: StreamEnvironment, source: GatedSequence) => void, upTo: number): Promise<string> {
  const e = env();
  const source = new GatedSequence(100_000);
  build(e, source);
  const h = await e.execute();
  await source.allow(upTo);
  const location = await h.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-uid-")) });
  assert.equal((await h.done).status, "stopped");
  return location;
}

/** Runs a graph restored from `location` over `upTo` records in all; returns its sink. */
async function runRestored(build: (e: StreamEnvironment, source: GatedSequence, sink: CollectSink<Out>) => void, location: string, upTo: number) {
  const e = env({ restoreFrom: location, allowNonRestoredState: true });
  const source = new GatedSequence(upTo);
  source.allowed = upTo;
  const sink = new CollectSink<Out>();
  build(e, source, sink);
  const h = await e.execute();
  assert.equal((await h.done).status, "finished");
  return sink;
}

/** The first output per key: what B's state held when the restored run started. */
function firstPerKey(out: readonly Out[]): Map<number, number | undefined> {
  const first = new Map<number, number | undefined>();
  for (const [k, v] of out) if (!first.has(k)) first.set(k, v);
  return first;
}

const seen = (source: GatedSequence) => (n: number) => {
  source.seen = Math.max(source.seen, n);
  return n;
};

describe("generated uids", () => {
  test("removing the first of two keyed process operators does not hand its state to the second (the issue's input)", async () => {
    const location = await runToSavepoint((e, source) => {
      e.fromSource<number>(source).map(seen(source)).keyBy(byKey).process(countA).keyBy(byKey).process(lastB).sinkTo(new CollectSink<Out>());
    }, 300);
    const sink = await runRestored((e, source, sink) => {
      e.fromSource<number>(source).map(seen(source)).keyBy(byKey).process(lastB).sinkTo(sink);
    }, location, 330);
    // B stands where A stood: it must start empty (its place changed), never with A's count (100).
    assert.deepEqual([...firstPerKey(sink.committed).entries()].sort(), [[0, undefined], [1, undefined], [2, undefined]]);
  });

  test("an operator whose upstream is unchanged keeps its generated uid and restores its own state", async () => {
    const location = await runToSavepoint((e, source) => {
      const keyed = e.fromSource<number>(source).map(seen(source)).keyBy(byKey);
      keyed.process(countA).sinkTo(new CollectSink<number>());
      keyed.process(lastB).sinkTo(new CollectSink<Out>());
    }, 300);
    const sink = await runRestored((e, source, sink) => {
      e.fromSource<number>(source).map(seen(source)).keyBy(byKey).process(lastB).sinkTo(sink);
    }, location, 330);
    // Its own last records before the savepoint: 297, 298, 299 for keys 0, 1, 2.
    assert.deepEqual([...firstPerKey(sink.committed).entries()].sort(), [[0, 297], [1, 298], [2, 299]]);
  });

  test("uids depend on kind, code and upstream; not on parallelism, build order elsewhere or a counter", () => {
    const build = (o: { parallelism?: number; extraFirst?: boolean; code?: (n: number) => number }) => {
      const e = env({ parallelism: o.parallelism ?? 1 });
      if (o.extraFirst) e.fromSource(new SequenceSource(0, 1), { uid: "other" }).map((n) => n).sinkTo(new CollectSink(), { uid: "other-out" });
      const src = e.fromSource(new SequenceSource(0, 10));
      const m: DataStream<number> = src.map(o.code ?? ((n: number) => n + 1));
      const r = m.keyBy(byKey).reduce((a, b) => a + b);
      const twin1 = src.map((n: number) => n * 2);
      const twin2 = src.map((n: number) => n * 2);
      return [src, m, r, twin1, twin2].map((s) => s.transformation.uid);
    };
    const base = build({});
    for (const uid of base) assert.match(uid, /^[A-Za-z]+-[0-9a-f]{16}$/);
    assert.equal(new Set(base).size, base.length, "uids are unique, also for equal twins");
    assert.deepEqual(build({}), base, "the same graph gets the same uids");
    assert.deepEqual(build({ parallelism: 3 }), base, "parallelism is not part of a uid (rescaling keeps state)");
    assert.deepEqual(build({ extraFirst: true }), base, "operators added elsewhere shift nothing");
    const changed = build({ code: (n: number) => n + 2 });
    assert.equal(changed[0], base[0], "upstream of the change: same uid");
    assert.notEqual(changed[1], base[1], "changed code: new uid");
    assert.notEqual(changed[2], base[2], "downstream of the change: new uid");
  });

  test("state under a generated uid that the job no longer has is refused with a hint to set uids", async () => {
    const location = await runToSavepoint((e, source) => {
      e.fromSource<number>(source, { uid: "src" }).map(seen(source)).keyBy(byKey).process(countA).keyBy(byKey).process(lastB).sinkTo(new CollectSink<Out>(), { uid: "out" });
    }, 30);
    const e = env({ restoreFrom: location });
    const source = new GatedSequence(40);
    e.fromSource<number>(source, { uid: "src" }).map(seen(source)).keyBy(byKey).process(lastB).sinkTo(new CollectSink<Out>(), { uid: "out" });
    await assert.rejects(e.execute(), (err: unknown) =>
      err instanceof WeirError && err.code === "state_not_restored" && /"process-[0-9a-f]{16}"/.test(err.message) && err.message.includes("give the operator a uid"));
  });

  test("a stateful operator without a uid is warned about (job event and warnings())", async () => {
    const e = env();
    const odd = new OutputTag<number>("odd");
    const plain = e.fromSource(new SequenceSource(0, 10), { uid: "numbers" })
      .map((n) => n + 1)
      .process<number>((n, ctx) => (n % 2 === 0 ? ctx.emit(n) : ctx.output(odd, n)));
    plain.getSideOutput(odd).sinkTo(new CollectSink<number>(), { uid: "odd-out" });
    plain
      .keyBy(byKey)
      .reduce((a, b) => a + b, { name: "sum" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const h = await e.execute();
    const events: string[] = [];
    h.on((ev) => {
      if (ev.type === "warning") events.push(ev.message);
    });
    await h.done;
    const warnings = h.warnings();
    assert.deepEqual(warnings.map((w) => w.code), ["missing_uid"], "only the reduce: the map, the plain process and the side output keep no state, the others have uids");
    assert.match(warnings[0].message, /"sum" \(reduce\) keeps state but has no uid/);
    assert.deepEqual(events, [warnings[0].message]);
  });
});
