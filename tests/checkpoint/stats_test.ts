/**
 * The stats history is bounded; a checkpoint still in progress when it leaves the history
 * must still report its outcome (found in review: the coordinator handed `undefined` on).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CheckpointCoordinator } from "../../checkpoint/coordinator.ts";
import { CHECKPOINT_DEFAULTS } from "../../checkpoint/config.ts";
import type { CheckpointDetails } from "../../checkpoint/stats.ts";
import type { Barrier } from "../../actors/messages.ts";
import { MemoryStorage } from "../../mod.ts";
import { SimClock, SimScheduler } from "../../sim/clock.ts";

/** A coordinator on a simulated clock for one vertex of `parallelism` subtasks; `triggered` collects its barriers. */
function coordinatorOf(parallelism: number, maxConcurrent: number, onCheckpoint?: (d: CheckpointDetails) => void) {
  const clock = new SimClock(0);
  const coordinator = new CheckpointCoordinator({
    config: { ...CHECKPOINT_DEFAULTS, maxConcurrent, timeout: 10_000 },
    clock,
    scheduler: new SimScheduler(clock),
    storage: new MemoryStorage(),
    jobName: "stats",
    jobId: "0123456789abcdef0123456789abcdef",
    maxParallelism: 128,
    onJobFailure: () => {},
    onCheckpoint,
  });
  const triggered: Barrier[] = [];
  coordinator.attach({
    vertices: [{ id: "v0", name: "only", parallelism, uids: ["a"] }],
    triggerSources: (b) => void triggered.push(b),
    snapshotAll: () => {},
    notifyComplete: () => {},
    notifyAborted: () => {},
    resumeSources: () => {},
  }, 0, []);
  return { clock, coordinator, triggered };
}

test("a checkpoint evicted from the history while in progress still reports its outcome", async () => {
  const listenerErrors: unknown[] = [];
  // What JobMaster's listener does with every outcome.
  const { clock, coordinator, triggered } = coordinatorOf(1, 500, (d) => {
    try {
      void d.status;
    } catch (e) {
      listenerErrors.push(e);
    }
  });
  const ack = (id: number) => coordinator.acknowledge({
    checkpointId: id, vertexId: "v0", subtaskIndex: 0, stateKey: `k/${id}`, stateSize: 1, stateChecksum: "crc32c:00000000", persistedData: 0,
    unaligned: false, startDelayMs: 0, alignmentDurationMs: 0, ackTimestamp: clock.now(),
  });

  // Checkpoint 1 stays in progress while 120 newer ones start: it leaves the history.
  const first = coordinator.trigger("CHECKPOINT");
  const newer = Array.from({ length: 120 }, () => coordinator.trigger("CHECKPOINT"));
  assert.equal(coordinator.stats.snapshot().history.length, 100);
  // The newer ones complete; the first is subsumed by the first of them.
  for (const b of triggered.slice(1)) ack(b.checkpointId);
  for (const d of await Promise.all(newer)) assert.equal(d.status, "COMPLETED");
  const details: CheckpointDetails | undefined = await first;
  assert.deepEqual(listenerErrors, [], "onCheckpoint was handed undefined");
  assert.ok(details, "the trigger resolved to undefined instead of its details");
  assert.equal(details.status, "FAILED");
  assert.equal(details.failure_reason, "checkpoint_subsumed");
  assert.equal(coordinator.stats.snapshot().counts.in_progress, 0);
});

test("a subtask's longest async step shows in its checkpoint details as checkpoint.longest_step (ms, to 0.01)", async () => {
  const { clock, coordinator, triggered } = coordinatorOf(2, CHECKPOINT_DEFAULTS.maxConcurrent);
  const done = coordinator.trigger("CHECKPOINT");
  for (const [subtaskIndex, longestStepMs] of [[0, 3.456], [1, 0.5]]) {
    coordinator.acknowledge({
      checkpointId: triggered[0].checkpointId, vertexId: "v0", subtaskIndex, stateKey: `k/${subtaskIndex}`, stateSize: 1,
      stateChecksum: "crc32c:00000000", persistedData: 0, unaligned: false, startDelayMs: 0, alignmentDurationMs: 0,
      syncDurationMs: 1, asyncDurationMs: 20, longestStepMs, ackTimestamp: clock.now(),
    });
  }
  const details = await done;
  assert.equal(details.status, "COMPLETED");
  assert.deepEqual(details.tasks.v0.subtasks.map((s) => s.checkpoint), [
    { sync: 1, async: 20, longest_step: 3.46 },
    { sync: 1, async: 20, longest_step: 0.5 },
  ]);
});

test("a checkpoint in progress reports its latest ack's time since the trigger as end_to_end_duration (Flink's PendingCheckpointStats)", () => {
  const { clock, coordinator, triggered } = coordinatorOf(2, CHECKPOINT_DEFAULTS.maxConcurrent);
  void coordinator.trigger("CHECKPOINT");
  clock.advanceTo(clock.now() + 40);
  coordinator.acknowledge({
    checkpointId: triggered[0].checkpointId, vertexId: "v0", subtaskIndex: 0, stateKey: "k/0", stateSize: 1,
    stateChecksum: "crc32c:00000000", persistedData: 0, unaligned: false, startDelayMs: 0, alignmentDurationMs: 0,
    syncDurationMs: 1, asyncDurationMs: 20, longestStepMs: 1, ackTimestamp: clock.now(),
  });
  const d = coordinator.stats.details(triggered[0].checkpointId)!;
  assert.equal(d.status, "IN_PROGRESS");
  assert.equal(d.end_to_end_duration, 40);
});

