/**
 * Regression (found in a review): FileSink acknowledges a checkpoint before its pre-committed transaction is durable.
 *
 * FileSinkWriter.snapshotState (connectors/file_sink.ts:72-81) starts writeDurably() of
 * `.pending/<txn>.jsonl` and returns at once; the subtask then writes its state file and
 * acks (runtime/snapshot_writer.ts, SnapshotWriter.write), and the coordinator commits the
 * checkpoint (metadata written) while the pre-commit file does not exist yet. A crash
 * (process or a failover whose restart reaches open() before the write landed) after the
 * metadata write restores that checkpoint, and FileSinkWriter.open -> #commit finds
 * neither a pending nor a committed file: `sink_transaction_lost`, on every restart, so
 * the job can never recover (and the transaction's records are lost).
 *
 * Two-phase commit needs the pre-commit to be durable before the ack. Fix: make the
 * pre-commit part of the snapshot (e.g. an async snapshot phase the subtask awaits before
 * writing/acking its state, see SnapshotWriter), or store the
 * transaction's records in the operator state instead of a side file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { until } from "../helpers.ts";

test("when a checkpoint completes, the FileSink transactions it pre-committed are durable", async () => {
  const dir = mkdtempSync(join(tmpdir(), "weir-fsink-"));
  const env = new StreamEnvironment({ jobName: "fsink", parallelism: 1, storage: new MemoryStorage(), batchSize: 8 });
  env.fromSource(new SequenceSource(0, 100_000, { ratePerSecond: 5_000 }), { uid: "numbers" })
    .sinkTo(new FileSink<number>(dir), { uid: "out" });
  const h = await env.execute();
  // Size of checkpoint n's part file (hidden or visible) at the commit point, and at the end.
  const atCommit = new Map<string, number>();
  const partOf = (id: number) => {
    const tag = `part-out-0-${String(id).padStart(10, "0")}-`;
    return readdirSync(dir).filter((f) => f.includes(tag)).map((f) => f.replace(/^\./, "").replace(/\.inprogress$/, ""));
  };
  const sizeOf = (name: string) => {
    for (const f of [join(dir, name), join(dir, `.${name}.inprogress`)]) if (existsSync(f)) return statSync(f).size;
    return -1;
  };
  h.on((e) => {
    if (e.type !== "checkpoint_completed") return;
    // Checked at the commit point itself: metadata is written, the checkpoint is what recovery restores.
    for (const name of partOf(e.checkpointId)) atCommit.set(name, sizeOf(name));
  });
  try {
    // A part file with records first (the checkpoint must close one), not a fixed 50 ms.
    await until("the sink opened a part file", () => readdirSync(dir).some((f) => f.includes("part-out-0-")));
    const d = await h.triggerCheckpoint();
    assert.equal(d.status, "COMPLETED");
  } finally {
    await h.cancel();
  }
  assert.ok(atCommit.size > 0, "the checkpoint closed a part file");
  for (const [name, size] of atCommit) {
    assert.ok(size > 0, `${name} existed with data at the commit point`);
    assert.equal(size, sizeOf(name), `${name} was complete at the commit point`);
  }
});
