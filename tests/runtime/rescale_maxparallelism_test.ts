/**
 * Regression (found in a review): restoring a savepoint/checkpoint into a job with a different maxParallelism is
 * accepted silently, and keyed state is lost or mis-placed.
 *
 * Keyed state is snapshotted as [keyGroup, entries] with key groups computed with the
 * OLD maxParallelism (state/keyed_state.ts snapshot()), and on restore
 * KeyedStateBackend.restore() filters those OLD key-group numbers against the NEW
 * subtask's key-group range (computed with the NEW maxParallelism). With 128 -> 64 at
 * parallelism 1 every key whose old key group is >= 64 is silently dropped; records of
 * that key then start counting from scratch.
 *
 * metadata.maxParallelism is written (checkpoint/coordinator.ts #commit) but never read:
 * checkCompatible (checkpoint/restore.ts:103) should refuse a restore whose
 * metadata.maxParallelism differs from the job's (as Flink does), or the backend must
 * re-hash keys on restore.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";

const KEYS = 100;
const N = 4000;
type P = [number, number];

function job(maxParallelism: number, sink: CollectSink<P>, restoreFrom?: string) {
  const env = new StreamEnvironment({
    jobName: "maxp",
    parallelism: 1,
    maxParallelism,
    storage: new MemoryStorage(),
    batchSize: 16,
    restoreFrom,
  });
  env.fromSource(new SequenceSource(0, N, { ratePerSecond: 20_000 }), { uid: "numbers" })
    .map((x): P => [x % KEYS, 1], { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "sum" })
    .sinkTo(sink, { uid: "out" });
  return env;
}

test("a restore with another maxParallelism is refused or keeps every key's state", async () => {
  const dir = mkdtempSync(join(tmpdir(), "weir-maxp-"));
  const sink = new CollectSink<P>();
  const h1 = await job(128, sink).execute();
  await new Promise((r) => setTimeout(r, 40));
  const location = await h1.stop({ savepoint: dir });
  assert.equal((await h1.done).status, "stopped");

  let h2;
  try {
    h2 = await job(64, sink, location).execute();
  } catch (e) {
    // Refusing the restore with a clear error is a fine outcome.
    assert.match(String(e), /maxParallelism|max parallelism/i);
    return;
  }
  const r2 = await h2.done;
  if (r2.status === "failed") {
    assert.match(String(r2.error), /maxParallelism|max parallelism/i);
    return;
  }
  assert.equal(r2.status, "finished");
  const finals = new Map<number, number>();
  for (const [k, c] of sink.committed) finals.set(k, Math.max(finals.get(k) ?? 0, c));
  const wrong = [...finals].filter(([, c]) => c !== N / KEYS);
  assert.equal(wrong.length, 0, `${wrong.length} of ${KEYS} keys restarted counting (state lost on restore)`);
});
