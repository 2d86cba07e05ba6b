/**
 * The bookkeeping of one run of the job: once it started, every event it reports
 * (restarts, restores, completed and failed checkpoints) is counted, traced and checked,
 * and its end is recorded. A run whose process is no longer the current one is ignored:
 * a dead process reports nothing.
 * @module
 */
import type { JobHandle } from "../runtime/job_handle.ts";
import type { JobEvent } from "../runtime/job_master.ts";
import { checkCompletedDetails, unexpectedError } from "./checkers.ts";
import type { ProcessRun, SeedState } from "./seed_state.ts";

type EventOf<T extends JobEvent["type"]> = Extract<JobEvent, { type: T }>;

/** Adopts the job `handle` that run `p` started, and listens to it. */
export function runStarted(state: SeedState, p: ProcessRun, handle: JobHandle): void {
  if (state.current !== p) return;
  p.handle = state.job = handle;
  if (p.plan.kind === "resume" && handle.id !== p.plan.jobId) {
    state.fail(`The resumed run is job ${handle.id}, not ${p.plan.jobId}: the _current marker of the crashed run was lost`);
  }
  handle.on((e) => {
    if (state.current !== p) return;
    switch (e.type) {
      case "restarting":
        return restarting(state, e);
      case "restored":
        return restored(state, p, e);
      case "checkpoint_completed":
        return checkpointCompleted(state, p, handle, e);
      case "checkpoint_failed":
        return checkpointFailed(state, p, e);
    }
  });
  handle.done.then((r) => {
    if (state.current !== p) return;
    p.result = state.result = r;
    state.endedJobIds.add(handle.id);
    state.stopWindow = false;
  });
}

function restarting(state: SeedState, e: EventOf<"restarting">): void {
  state.restarts++;
  state.world.log(`restarting #${e.attempt}: ${e.error.message}`);
  const bad = unexpectedError(e.error);
  if (bad) state.fail(bad);
}

function restored(state: SeedState, p: ProcessRun, e: EventOf<"restored">): void {
  if (p.n > 0) state.world.log(`run ${p.n} restored checkpoint ${e.checkpointId}`);
  if (!p.restoredSeen && p.plan.expectRestore !== undefined && e.checkpointId !== p.plan.expectRestore) {
    state.fail(`Run ${p.n} (${p.plan.kind}) started from checkpoint ${e.checkpointId}, not the latest completed one, ${p.plan.expectRestore}`);
  }
  p.restoredSeen = true;
}

function checkpointCompleted(state: SeedState, p: ProcessRun, handle: JobHandle, e: EventOf<"checkpoint_completed">): void {
  state.completed++;
  if (e.unaligned) state.unalignedCompleted++;
  if (e.persistedData > 0) state.withChannelState++;
  state.world.log(`checkpoint ${e.checkpointId} completed`);
  // Ids that committed side effects: checkpoints and stop savepoints. An intermediate
  // savepoint commits nothing, and its id is not kept in the job's storage, so a resumed
  // run may use it again (harmless).
  const d = handle.rawCheckpointDetails(e.checkpointId);
  const stopSavepoint = d?.is_savepoint && p.stopInFlight && d.external_path?.startsWith("sp/stop-");
  if (!d?.is_savepoint || stopSavepoint) p.maxCompleted = Math.max(p.maxCompleted, e.checkpointId);
  if (stopSavepoint) {
    state.stopWindow = true;
    state.world.log("stop savepoint committed");
  }
  checkIdUnused(state, p, e.checkpointId);
  const bad = checkCompletedDetails(handle.rawCheckpointDetails(e.checkpointId), e.checkpointId);
  if (bad) state.fail(bad);
}

function checkpointFailed(state: SeedState, p: ProcessRun, e: EventOf<"checkpoint_failed">): void {
  state.failedCount++;
  state.failedBy[e.reason] = (state.failedBy[e.reason] ?? 0) + 1;
  state.world.log(`checkpoint ${e.checkpointId} failed: ${e.reason}`);
  checkIdUnused(state, p, e.checkpointId);
}

/** A run never reuses a checkpoint id an earlier run of its job id used. */
function checkIdUnused(state: SeedState, p: ProcessRun, id: number): void {
  if (id <= p.plan.idsAbove) state.fail(`Run ${p.n} (${p.plan.kind}) reused checkpoint id ${id}; ids up to ${p.plan.idsAbove} were used before`);
}
