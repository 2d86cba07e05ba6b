/**
 * What one seed reports, and the bounds it runs within.
 * @module
 */
import type { SimConfig, SimMode } from "./config.ts";
import type { StorageFaultKind } from "./faulty_storage.ts";

/** Every kind of fault the driver injects. */
export type FaultKind = StorageFaultKind | "subtask_crash" | "coordinator_crash_before_commit" | "coordinator_crash_after_commit" | "rpc_failed";

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
  /** Runs of the job (1 + crashes + restores), whole-process crashes, savepoints completed/failed, stop attempts. */
  process: ProcessCounts;
  config: SimConfig;
}

/** Runs of the job (1 + crashes + restores), whole-process crashes, savepoints completed/failed, stop attempts. */
export interface ProcessCounts {
  runs: number;
  crashes: number;
  savepoints: number;
  savepointsFailed: number;
  stops: number;
  restoredFromStop: boolean;
  /** End-of-seed restores of a checkpoint holding channel state at a changed parallelism. */
  rescaledChannelStateRestores: number;
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

/**
 * The bounds `npm run sim` uses unless told otherwise.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "./seed_result.ts";
 * console.assert(DEFAULT_LIMITS.livenessEvents < DEFAULT_LIMITS.maxEvents);
 * ```
 */
export const DEFAULT_LIMITS: RunLimits = { maxEvents: 1_000_000, livenessEvents: 200_000, traceKeep: 40 };
