import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSink, WeirError } from "../../mod.ts";
import type { OperatorSnapshot, RestoredState, SinkWriter } from "../../mod.ts";
import { assertExactlyOnce } from "../helpers.ts";
import { countingJobInto, runSinkExactlyOnceConformance, runSinkTransactionConformance, type Row, type SinkHarness, writerContext } from "./sink_conformance.ts";

function fileHarness(name: string, options: ConstructorParameters<typeof FileSink>[1]): SinkHarness {
  return {
    name,
    target() {
      const dir = mkdtempSync(join(tmpdir(), "weir-fsink-"));
      return Promise.resolve({
        sink: new FileSink<Row>(dir, options),
        committed: async () => {
          const got = await FileSink.readCommitted(dir);
          return options?.format === "csv" ? (got as string[][]).map(([key, count]) => ({ key: Number(key), count: Number(count) })) : got as Row[];
        },
        spec: { kind: "file", dir, options },
      });
    },
  };
}

runSinkTransactionConformance(fileHarness("FileSink", {}));
runSinkExactlyOnceConformance(fileHarness("FileSink", {}));
// A target of 40 bytes: the conformance checkpoints of 10+ rows close their part, smaller ones keep it open.
runSinkTransactionConformance(fileHarness("FileSink (csv, compaction)", { format: "csv", compaction: { targetBytes: 40 } }));
// 256 bytes: a subtask's part spans a few checkpoints, so kills and restores meet parts kept open.
runSinkExactlyOnceConformance(fileHarness("FileSink (csv, compaction)", { format: "csv", compaction: { targetBytes: 256 } }));

const fresh = () => mkdtempSync(join(tmpdir(), "weir-fsink-"));
const rowsOf = (from: number, to: number): Row[] => Array.from({ length: to - from }, (_, i) => ({ key: (from + i) % 7, count: from + i }));
const hidden = (dir: string) => readdirSync(dir).filter((f) => f.startsWith("."));

async function writer(sink: FileSink<Row>, o: { run?: string; now?: () => number } = {}, from?: RestoredState) {
  const ctx = { ...writerContext({ run: o.run }), clock: { now: o.now ?? (() => 0) } };
  const w = sink.createWriter(ctx);
  await w.open(ctx, from);
  return w;
}

async function checkpoint(w: SinkWriter, id: number, complete = true): Promise<OperatorSnapshot> {
  const s = structuredClone(w.snapshotState(id));
  await w.preCommitted?.(id);
  if (complete) await w.notifyCheckpointComplete(id);
  return s;
}

const restoredFrom = (s: OperatorSnapshot, checkpointId: number) => ({ keyed: [], operator: s.operator ?? [], checkpointId, transactionsCommitted: false }) as RestoredState;

describe("FileSink", () => {
  test("bad options are refused with the option named", () => {
    const dir = fresh();
    const cases: [unknown, RegExp][] = [
      [{ format: "xml" }, /FileSink\.format/],
      [{ rollingPolicy: { maxBytes: 0 } }, /FileSink\.rollingPolicy\.maxBytes/],
      [{ rollingPolicy: { maxRecord: 5 } }, /FileSink\.rollingPolicy\.maxRecord\b/],
      [{ compaction: {} }, /FileSink\.compaction\.targetBytes/],
      [{ compaction: { targetBytes: 10, every: 3 } }, /FileSink\.compaction\.every/],
      [{ rolling: {} }, /FileSink\.rolling\b/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => new FileSink(dir, options as never), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && message.test(e.message), JSON.stringify(options));
    }
    assert.throws(() => new FileSink(""), (e: unknown) => e instanceof WeirError && e.code === "invalid_option");
  });

  test("a JSON-lines record JSON would change (NaN to null, a Map to {}) is refused naming the part, and nothing of it is written", async () => {
    const dir = fresh();
    const w = await writer(new FileSink(dir));
    for (const [record, part] of [[{ key: 1, count: NaN }, /record\.count is NaN/], [{ key: 1, count: new Map() }, /record\.count is a Map/]] as const) {
      assert.throws(() => w.write([record as unknown as Row]), (e: unknown) => e instanceof WeirError && e.code === "sink_record_invalid" && part.test(e.message));
    }
    w.write([{ key: 1, count: 2 }]);
    await checkpoint(w, 1);
    assert.deepEqual(await FileSink.readCommitted(dir), [{ key: 1, count: 2 }]);
  });

  test("preCommitted() resolves only once the checkpoint's part is on disk in full", async () => {
    const dir = fresh();
    const w = await writer(new FileSink<Row>(dir));
    await w.write(rowsOf(0, 1000));
    w.snapshotState(1);
    await w.preCommitted?.(1);
    const [part] = hidden(dir);
    const expected = rowsOf(0, 1000).map((r) => JSON.stringify(r) + "\n").join("").length;
    assert.equal(statSync(join(dir, part)).size, expected);
    w.close?.();
  });

  test("rollingPolicy maxRecords and maxBytes close parts within a checkpoint; no part is empty", async () => {
    const dir = fresh();
    const w = await writer(new FileSink<Row>(dir, { rollingPolicy: { maxRecords: 10 } }));
    await w.write(rowsOf(0, 25));
    await checkpoint(w, 1);
    await checkpoint(w, 2); // Nothing written: no file.
    const files = await FileSink.committedFiles(dir);
    assert.equal(files.length, 3);
    assert.deepEqual(files.map((f) => readFileSync(join(dir, f), "utf8").split("\n").length - 1), [10, 10, 5]);
    assert.deepEqual(await FileSink.readCommitted(dir), rowsOf(0, 25));

    const dir2 = fresh();
    const w2 = await writer(new FileSink<Row>(dir2, { rollingPolicy: { maxBytes: 100 } }));
    await w2.write(rowsOf(0, 40));
    await checkpoint(w2, 1);
    const sizes = (await FileSink.committedFiles(dir2)).map((f) => statSync(join(dir2, f)).size);
    assert.ok(sizes.length > 1 && sizes.every((s) => s > 0 && s < 100 + 30), `part sizes ${sizes}`);
    assert.deepEqual(await FileSink.readCommitted(dir2), rowsOf(0, 40));
  });

  test("rollingPolicy rolloverInterval closes a part by the writer's clock, also one kept open by compaction", async () => {
    const dir = fresh();
    let now = 0;
    const w = await writer(new FileSink<Row>(dir, { rollingPolicy: { rolloverInterval: 1000 }, compaction: { targetBytes: 1 << 20 } }), { now: () => now });
    await w.write(rowsOf(0, 5));
    await checkpoint(w, 1);
    assert.deepEqual(await FileSink.committedFiles(dir), [], "small and young: kept open");
    now = 999;
    await w.write(rowsOf(5, 6));
    await checkpoint(w, 2);
    assert.deepEqual(await FileSink.committedFiles(dir), []);
    now = 1000;
    await checkpoint(w, 3);
    assert.deepEqual(await FileSink.readCommitted(dir), rowsOf(0, 6), "old enough: closed and committed");
    now = 5000;
    await w.write(rowsOf(6, 8)); // Opens a part at 5000 …
    now = 6000;
    await w.write(rowsOf(8, 9)); // … which this write finds old enough to close.
    await w.write(rowsOf(9, 10));
    await checkpoint(w, 4);
    assert.equal((await FileSink.committedFiles(dir)).length, 2, "the rolled part became visible; the new one is kept open");
    w.close?.();
  });

  test("compaction keeps one part across checkpoints; a failure cuts it back to the last checkpoint", async () => {
    const dir = fresh();
    const sink = new FileSink<Row>(dir, { compaction: { targetBytes: 10_000 } });
    const w1 = await writer(sink);
    await w1.write(rowsOf(0, 10));
    await checkpoint(w1, 1);
    await w1.write(rowsOf(10, 20));
    const s2 = await checkpoint(w1, 2);
    assert.deepEqual(await FileSink.committedFiles(dir), [], "below the target: nothing visible yet");
    assert.equal(hidden(dir).length, 1, "one part for both checkpoints");
    await w1.write(rowsOf(20, 30)); // After the barrier: dropped by the failure.
    w1.close?.();
    const w2 = await writer(sink, {}, restoredFrom(s2, 2));
    await w2.write(rowsOf(20, 40));
    await w2.finish?.();
    await checkpoint(w2, 3);
    assert.equal((await FileSink.committedFiles(dir)).length, 1, "one file for the whole run");
    assert.deepEqual(await FileSink.readCommitted(dir), rowsOf(0, 40));
    assert.deepEqual(hidden(dir), [], "no hidden file is left over");
  });

  test("hidden parts of a failed attempt are removed when the run restarts", async () => {
    const dir = fresh();
    const sink = new FileSink<Row>(dir, { rollingPolicy: { maxRecords: 4 } });
    const w1 = await writer(sink);
    await w1.write(rowsOf(0, 10));
    const s1 = await checkpoint(w1, 1);
    await w1.write(rowsOf(10, 20));
    await checkpoint(w1, 2, false); // Never completes.
    await w1.write(rowsOf(20, 23));
    w1.close?.();
    assert.ok(hidden(dir).length >= 3, "the failed attempt left pending and in-progress parts");
    const w2 = await writer(sink, {}, restoredFrom(s1, 1));
    assert.deepEqual(hidden(dir), [], "its leftovers are gone once the run restarts");
    assert.deepEqual(await FileSink.readCommitted(dir), rowsOf(0, 10));
    w2.close?.();
  });

  test("a new run restoring a kept-open part copies it and leaves the savepoint's file as it was", async () => {
    const dir = fresh();
    const sink = new FileSink<Row>(dir, { compaction: { targetBytes: 10_000 } });
    const w1 = await writer(sink);
    await w1.write(rowsOf(0, 10));
    const s1 = await checkpoint(w1, 1);
    w1.close?.();
    const [original] = hidden(dir);
    const before = readFileSync(join(dir, original));
    for (const run of ["fedcba9876543210fedcba9876543210", "abababababababababababababababab"]) {
      const w = await writer(sink, { run }, restoredFrom(s1, 1));
      await w.write(rowsOf(10, 12));
      await w.finish?.();
      await checkpoint(w, 2);
      assert.deepEqual(readFileSync(join(dir, original)), before, "the restored part file is unchanged");
    }
    // Each run committed the restored ten rows and its own two.
    assert.equal((await FileSink.readCommitted(dir)).length, 24);
  });

  test("with checkpoints every 20 ms, compaction makes a bounded job's output a few files, not one per checkpoint", async () => {
    const dir = fresh();
    const env = countingJobInto(new FileSink<Row>(dir, { compaction: { targetBytes: 1 << 20 } }), { n: 6000, ratePerSecond: 4000, checkpoint: { interval: 20 } });
    const h = await env.execute();
    const result = await h.done;
    assert.equal(result.status, "finished", String(result.error));
    assert.ok(result.checkpoints.completed >= 10, `${result.checkpoints.completed} checkpoints`);
    const files = await FileSink.committedFiles(dir);
    assert.ok(files.length >= 1 && files.length <= 3, `${files.length} files for 3 sink subtasks`);
    for (const f of files) assert.ok(statSync(join(dir, f)).size > 0, `${f} is not empty`);
    assertExactlyOnce((await FileSink.readCommitted(dir) as Row[]).map((r) => [r.key, r.count]), 6000);
  });

  test("a record JSON cannot hold fails the write with the record named", async () => {
    const w = await writer(new FileSink<Row>(fresh()));
    assert.throws(() => w.write([{ key: 1n }]), (e: unknown) => e instanceof WeirError && e.code === "sink_record_invalid" && /1n|BigInt/i.test(e.message));
    w.close?.();
  });

  test("readCommitted() names the file and line of a broken JSON line", async () => {
    const dir = fresh();
    writeFileSync(join(dir, "part-x-0.jsonl"), '{"a":1}\n{"a":\n');
    await assert.rejects(FileSink.readCommitted(dir), (e: unknown) => e instanceof WeirError && e.code === "bad_record" && e.message.includes("part-x-0.jsonl at line 2"));
  });

  test("CSV: fields with commas, quotes and line breaks come back as written", async () => {
    const dir = fresh();
    const w = await writer(new FileSink<unknown>(dir, { format: "csv" }) as FileSink<Row>);
    await w.write([["a,b", 'say "hi"', "two\nlines", 3, null], { x: "plain", y: true }]);
    await checkpoint(w, 1);
    assert.deepEqual(await FileSink.readCommitted(dir), [["a,b", 'say "hi"', "two\nlines", "3", ""], ["plain", "true"]]);
  });
});
