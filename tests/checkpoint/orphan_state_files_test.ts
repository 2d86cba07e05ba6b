/**
 * Regression (found in a review): state files written after their checkpoint failed are never deleted.
 *
 * CheckpointCoordinator #fail (checkpoint/coordinator.ts:369) deletes the directory of a
 * failed checkpoint at once, but subtasks whose snapshot is already being written (or
 * whose unaligned barrier is processed before the abort) still put their state file
 * there afterwards: Execution.writeState resolves the directory with locate(), which
 * falls back to chk-<id> once the checkpoint is no longer pending, and the late ack is
 * ignored (coordinator.acknowledge returns early) without discarding what it names.
 * Every expired/declined checkpoint with a slow subtask leaves files that no later
 * subsumption or retention ever removes (only a finished job's clean-up does). Flink
 * discards the state of late acks ("discard late message state"). Fix: in acknowledge()
 * for an unknown/failed checkpoint id (or in Execution.writeState's continuation), delete
 * the file just written; for savepoints also delete under the savepoint's storage.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";

class GatedStorage extends MemoryStorage {
  release!: () => void;
  readonly #gate = new Promise<void>((r) => (this.release = r));
  override async put(key: string, bytes: Uint8Array): Promise<void> {
    if (key.endsWith("/chk-1/v1-0")) await this.#gate;
    return super.put(key, bytes);
  }
}

test("a checkpoint that expired leaves no state files behind once its slow writes land", async () => {
  const world = new VirtualWorld();
  const storage = new GatedStorage();
  const env = new StreamEnvironment({
    jobName: "orphans",
    parallelism: 1,
    storage,
    checkpoint: { timeout: 100, tolerableFailures: 10 },
    runtime: world.runtime(),
  });
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 1000 }), { uid: "src" })
    .map((n) => n, { uid: "m", disableChaining: true })
    .sinkTo(new CollectSink<number>(), { uid: "out" });
  const h = await env.execute();
  await world.drive(() => false, 20);
  let first: string | undefined;
  h.triggerCheckpoint().then((d) => (first = d.status));
  await world.drive(() => first !== undefined, 1_000);
  assert.equal(first, "FAILED", "checkpoint 1 expired (its v1-0 write is slow)");
  storage.release();
  await world.drive(() => false, 10);
  let second: string | undefined;
  h.triggerCheckpoint().then((d) => (second = d.status));
  await world.drive(() => second !== undefined, 1_000);
  assert.equal(second, "COMPLETED");
  await h.cancel();
  const left = await storage.list(`orphans/${h.id}/chk-1/`);
  assert.deepEqual(left, [], "files of failed checkpoint 1 left in storage forever");
});
