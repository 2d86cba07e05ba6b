/**
 * What every part of one seed shares: its world, the failures found so far, the fault
 * budget and the phase it is in, the operator's intentions, and the counters that end
 * up in the seed's result.
 * @module
 */
import type { JobHandle } from "../runtime/job_handle.ts";
import type { JobResult } from "../runtime/job_status.ts";
import type { SimConfig, SimMode } from "./config.ts";
import type { ProcessScheduler, ProcessStorage } from "./process.ts";
import type { SimPrng } from "./prng.ts";
import type { FaultKind, ProcessCounts, RunLimits } from "./seed_result.ts";
import type { World } from "./world.ts";

/** Faults that count against the seed's budget; slow reads and writes do not. */
const HARD_FAULTS = new Set<FaultKind>([
  "put_failed", "torn_write", "lost_ack", "subtask_crash", "coordinator_crash_before_commit", "coordinator_crash_after_commit", "rpc_failed",
]);

/** How a run of the job came to be: the seed's first, a resume after a process crash, or a restore from a stop savepoint. */
export type RunKind = "first" | "resume" | "restore";

/** What a run of the job starts from. */
export interface RunPlan {
  kind: RunKind;
  cfg: SimConfig;
  /** The job id the run names (a resumed run must find it itself, through the _current marker). */
  jobId: string;
  restorePath: string | undefined;
  /** Checkpoint ids this run may not use: every id an earlier run of its job id used. */
  idsAbove: number;
  /** The checkpoint the run must restore first (undefined: nothing to restore). */
  expectRestore: number | undefined;
}

/** The process running the job now. */
export interface ProcessRun {
  n: number;
  plan: RunPlan;
  scheduler: ProcessScheduler;
  storage: ProcessStorage;
  handle?: JobHandle;
  result?: JobResult;
  startError?: unknown;
  restoredSeen: boolean;
  stopInFlight: boolean;
  /** The highest checkpoint or savepoint id that completed in this run (its sink commits used it). */
  maxCompleted: number;
  /** World events run before this run started: its liveness budget counts from here at the earliest. */
  startEvents: number;
}

/** One seed's shared state; the driver's parts read and write it, nothing else does. */
export class SeedState {
  readonly failures: string[] = [];
  readonly faults: Partial<Record<FaultKind, number>> = {};
  readonly failedBy: Record<string, number> = {};
  hardFaults = 0;
  /** The event at which the liveness phase began, or -1 while faults are on. */
  faultsStoppedAt = -1;
  /** The latest run's job, once started. */
  job: JobHandle | undefined;
  /** Job ids of runs that ended (stopped, then restored under a new id). */
  readonly endedJobIds = new Set<string>();
  result: JobResult | undefined;
  current: ProcessRun | undefined;
  /**
   * The window after a completed stop-with-savepoint and before the job ended: a failover
   * or a process crash there must finish from the stop savepoint (seeds 489 and 417 found
   * that it did not). Faults are injected there unless `stopWindowFaults` is false.
   */
  stopWindow = false;
  readonly stopWindowFaults: boolean;
  crashDue = false;
  stopWanted = false;
  stopDone = false;
  restarts = 0;
  completed = 0;
  unalignedCompleted = 0;
  withChannelState = 0;
  failedCount = 0;
  readonly proc: ProcessCounts = { crashes: 0, runs: 0, savepoints: 0, savepointsFailed: 0, stops: 0, restoredFromStop: false, rescaledChannelStateRestores: 0 };
  readonly savepointLocations: string[] = [];

  constructor(
    readonly world: World,
    readonly cfg: SimConfig,
    readonly options: { seed: number; mode: SimMode; root: SimPrng; limits: RunLimits; stopWindowFaults: boolean },
  ) {
    this.stopWindowFaults = options.stopWindowFaults;
  }

  /** Records a failure (the first 20 are kept) and traces it. */
  readonly fail = (msg: string): void => {
    if (this.failures.length < 20) this.failures.push(msg);
    this.world.log(`FAILURE ${msg}`);
  };

  /** Whether faults may be injected now; the first time the budget or window runs out, the liveness phase begins. */
  readonly faultsOn = (): boolean => {
    if (this.faultsStoppedAt >= 0) return false;
    if (this.hardFaults >= this.cfg.faults.budget || this.world.elapsedMs >= this.cfg.faults.windowMs) {
      this.faultsStoppedAt = this.world.events;
      this.world.log(`faults stop: ${this.hardFaults} injected; liveness phase`);
      return false;
    }
    return true;
  };

  /** Counts and traces one injected fault. */
  readonly fault = (kind: FaultKind, detail: string): void => {
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
    if (HARD_FAULTS.has(kind)) this.hardFaults++;
    this.world.log(`FAULT ${kind} ${detail}`);
  };

  /** False inside the stop window when the seed spares it from faults. */
  get stopWindowOpenToFaults(): boolean {
    return this.stopWindowFaults || !this.stopWindow;
  }

  /** Whether to inject a crash with probability `p` now (draws only when faults are on and allowed). */
  crashNow(prng: SimPrng, p: number): boolean {
    return this.faultsOn() && this.stopWindowOpenToFaults && prng.chance(p);
  }
}
