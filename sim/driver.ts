/**
 * Runs one seed: the counting job on a virtual world with faults injected at random
 * points until the seed's fault budget or window is used up, then a liveness phase in
 * which the job must finish. Afterwards the output is checked, every checkpoint left in
 * storage must load, and the latest (and one more, sampled) is restored into a fresh
 * fault-free run whose output must continue the cut exactly.
 * @module
 */
import type { Runnable } from "../actors/dispatcher.ts";
import type { CoordinatorFaults } from "../checkpoint/coordinator.ts";
import { listCompleted } from "../checkpoint/metadata.ts";
import { WeirError } from "../errors.ts";
import type { JobHandle } from "../runtime/job_handle.ts";
import type { JobResult } from "../runtime/job_status.ts";
import type { Subtask } from "../runtime/subtask.ts";
import { checkChannels, checkCompletedDetails, checkMetadataAtCommit, checkOutput, unexpectedError } from "./checkers.ts";
import { type SimConfig, type SimMode, drawConfig } from "./config.ts";
import { FaultyStorage, type StorageFaultKind } from "./faulty_storage.ts";
import { buildCountingJob } from "./job.ts";
import { SimPrng } from "./prng.ts";
import { restoreChecks } from "./restore_check.ts";
import { takeRejections, trapRejections } from "./rejections.ts";
import { World, simJobId } from "./world.ts";

/** Every kind of fault the driver injects. */
export type FaultKind = StorageFaultKind | "subtask_crash" | "coordinator_crash_before_commit" | "coordinator_crash_after_commit";

/** What one seed did and found. */
export interface SeedResult {
  seed: number;
  mode: SimMode;
  ok: boolean;
  failures: string[];
  /** Hash over the whole trace (main run and restore runs): equal for two replays of a seed. */
  hash: string;
  /** The last trace lines of the main run. */
  tail: string[];
  events: number;
  virtualMs: number;
  faults: Partial<Record<FaultKind, number>>;
  checkpoints: {
    completed: number;
    failed: number;
    failedBy: Record<string, number>;
    /** Completed with at least one subtask unaligned (coverage of the unaligned paths). */
    unaligned: number;
    /** Completed with in-flight data persisted as channel state. */
    withChannelState: number;
  };
  restarts: number;
  restoresChecked: number;
  config: SimConfig;
}

/** Bounds of one seed's run. */
export interface RunLimits {
  /** Events of the main run in all. */
  maxEvents: number;
  /** Events after faults stopped by which the job must have finished. */
  livenessEvents: number;
  /** Trace lines kept for the failure report. */
  traceKeep: number;
}

export const DEFAULT_LIMITS: RunLimits = { maxEvents: 1_000_000, livenessEvents: 200_000, traceKeep: 40 };

const TERMINAL = new Set(["FINISHED", "FAILED", "CANCELED", "STOPPED"]);

const HARD_FAULTS = new Set<FaultKind>([
  "put_failed", "torn_write", "lost_ack", "subtask_crash", "coordinator_crash_before_commit", "coordinator_crash_after_commit",
]);

/** Runs one seed of one mode; never throws, every problem is a failure in the result. */
export async function runSeed(seed: number, mode: SimMode, limits: RunLimits = DEFAULT_LIMITS): Promise<SeedResult> {
  const root = new SimPrng(seed);
  const cfg = drawConfig(seed, mode, root.fork("config"));
  const world = new World(root.fork("world"), cfg, limits.traceKeep);
  const failures: string[] = [];
  const fail = (msg: string) => {
    if (failures.length < 20) failures.push(msg);
    world.log(`FAILURE ${msg}`);
  };
  const faults: Partial<Record<FaultKind, number>> = {};
  const failedBy: Record<string, number> = {};
  let hardFaults = 0;
  let faultsStoppedAt = -1;
  let job: JobHandle | undefined;

  const faultsOn = (): boolean => {
    if (faultsStoppedAt >= 0) return false;
    if (hardFaults >= cfg.faults.budget || world.elapsedMs >= cfg.faults.windowMs) {
      faultsStoppedAt = world.events;
      world.log(`faults stop: ${hardFaults} injected; liveness phase`);
      return false;
    }
    return true;
  };
  const fault = (kind: FaultKind, detail: string) => {
    faults[kind] = (faults[kind] ?? 0) + 1;
    if (HARD_FAULTS.has(kind)) hardFaults++;
    world.log(`FAULT ${kind} ${detail}`);
  };

  const storage = new FaultyStorage(world.scheduler, root.fork("storage"), cfg.faults.storage, {
    faultsOn,
    fault,
    log: (t) => world.log(t),
    metadataVisible: (key, bytes, present) => {
      // Once the job ended its directory is garbage that no recovery reads; a late metadata write landing there is a leak, not a half checkpoint.
      if (job && TERMINAL.has(job.status)) return;
      const bad = checkMetadataAtCommit(key, bytes, present);
      if (bad) fail(bad);
    },
  });

  const crashPrng = root.fork("crash");
  const beforeStep = (actor: Runnable) => {
    const s = actor as unknown as Subtask;
    world.log(`step ${s.name}`);
    const bad = checkChannels(s.inputs, s.name);
    if (bad) fail(bad);
    if (faultsOn() && crashPrng.chance(cfg.faults.crash)) {
      fault("subtask_crash", s.name);
      throw new WeirError("sim_crash", `Injected crash of ${s.name}`);
    }
  };
  const coordPrng = root.fork("coordinator");
  const coordinatorFaults: CoordinatorFaults = {
    beforeCommit(id) {
      if (faultsOn() && coordPrng.chance(cfg.faults.coordinatorBeforeCommit)) {
        fault("coordinator_crash_before_commit", `checkpoint ${id}`);
        throw new WeirError("coordinator_crash", `Injected coordinator crash before committing checkpoint ${id}`);
      }
    },
    afterCommit(id) {
      if (faultsOn() && coordPrng.chance(cfg.faults.coordinatorAfterCommit)) {
        fault("coordinator_crash_after_commit", `checkpoint ${id}`);
        throw new WeirError("coordinator_crash", `Injected coordinator crash after committing checkpoint ${id}`);
      }
    },
  };

  const jobId = simJobId(root.fork("job-id"));
  const { env, sink } = buildCountingJob(cfg, {
    jobName: "sim",
    storage,
    runtime: { ...world.runtime(jobId, beforeStep), faults: coordinatorFaults },
  }, world.waiter(cfg.asyncDelayMaxMs, root.fork("io")));

  let result: JobResult | undefined;
  let restarts = 0;
  let completed = 0;
  let unalignedCompleted = 0;
  let withChannelState = 0;
  let failedCount = 0;
  trapRejections();
  try {
    // Nothing here waits on an event: storage outside checkpoint directories answers at once.
    job = await env.execute();
    const handle = job;
    handle.on((e) => {
      switch (e.type) {
        case "restarting": {
          restarts++;
          world.log(`restarting #${e.attempt}: ${e.error.message}`);
          const bad = unexpectedError(e.error);
          if (bad) fail(bad);
          break;
        }
        case "checkpoint_completed": {
          completed++;
          if (e.unaligned) unalignedCompleted++;
          if (e.persistedData > 0) withChannelState++;
          world.log(`checkpoint ${e.checkpointId} completed`);
          const bad = checkCompletedDetails(handle.checkpointDetails(e.checkpointId), e.checkpointId);
          if (bad) fail(bad);
          break;
        }
        case "checkpoint_failed":
          failedCount++;
          failedBy[e.reason] = (failedBy[e.reason] ?? 0) + 1;
          world.log(`checkpoint ${e.checkpointId} failed: ${e.reason}`);
          break;
      }
    });
    handle.done.then((r) => (result = r));
    const end = await world.drive({
      done: () => result !== undefined || failures.length > 0,
      limit: () => {
        if (world.events >= limits.maxEvents) return `no end after ${world.events} events`;
        if (faultsStoppedAt >= 0 && world.events - faultsStoppedAt >= limits.livenessEvents) {
          return `job did not finish within ${limits.livenessEvents} events after faults stopped (liveness)`;
        }
        return undefined;
      },
    });
    if (end === "limit") fail(`Hang: ${world.limitReason}; job status ${handle.status}; ${describeSubtasks(handle)}`);
    if (end === "stuck") fail(`Stuck: no event left to run and the job is ${handle.status}; ${describeSubtasks(handle)}`);
  } catch (e) {
    fail(`Uncaught exception: ${(e as Error)?.stack ?? e}`);
  }
  for (const r of await takeRejections()) fail(`Unhandled rejection: ${(r as Error)?.stack ?? r}`);

  let restoresChecked = 0;
  if (failures.length === 0 && result) {
    if (result.status !== "finished") fail(`Job ended ${result.status}: ${result.error?.message ?? "no error"}`);
    else {
      for (const v of checkOutput(sink.committed, cfg.records, cfg.keys, mode === "at-least-once")) fail(v);
      // The job's clean-up deleted its checkpoints; the archive kept what recovery could have picked.
      const store = storage.archive;
      const ids = await listCompleted(store, "sim", jobId);
      world.log(`checkpoints in storage at the end: ${ids.join(",")}`);
      if (failures.length === 0) {
        const r = await restoreChecks(cfg, store, `sim/${jobId}`, ids, root.fork("restore"), limits);
        restoresChecked = r.checked;
        for (const line of r.trace) world.log(line);
        for (const f of r.failures) fail(f);
      }
    }
  }
  return {
    seed,
    mode,
    ok: failures.length === 0,
    failures,
    hash: world.trace.hash,
    tail: world.trace.tail(),
    events: world.events,
    virtualMs: Math.round(world.elapsedMs),
    faults,
    checkpoints: { completed, failed: failedCount, failedBy, unaligned: unalignedCompleted, withChannelState },
    restarts,
    restoresChecked,
    config: cfg,
  };
}

/** Where each subtask stands: for hang reports. */
function describeSubtasks(job: JobHandle): string {
  return job.vertices().flatMap((v) =>
    v.subtasks.map((s) => `${v.name} ${s.index}: ${s.barrierState}, ${s.queuedBatches} batches queued in, ${s.outputBuffered} buffered out, ${s.recordsIn} in/${s.recordsOut} out`)
  ).join("; ");
}
