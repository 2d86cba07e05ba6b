/**
 * The options a StreamEnvironment is configured with (EnvironmentOptions and the REST API's
 * and the runtime's parts of it), and their checks: every option is checked when the
 * environment is built, so that a typo or a bad value fails before anything runs.
 * @module
 */
import type { BeforeStep, PickPolicy } from "../actors/dispatcher.ts";
import type { Clock, Scheduler } from "../actors/time.ts";
import type { SubtaskAddress, Transport } from "../actors/transport.ts";
import { checkpointConfig, type CheckpointOptions } from "../checkpoint/config.ts";
import type { CoordinatorFaults } from "../checkpoint/coordinator.ts";
import { invalidOption } from "../errors.ts";
import type { RemoteHost } from "../runtime/remote/gateway.ts";
import { type RestartOptions, restartStrategy } from "../runtime/restart_strategy.ts";
import { checkStateOptions, type StateBackendOptions } from "../state/backend_registry.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { checkBufferTimeout } from "./buffer_timeout.ts";
import { checkRuntimeOptions } from "./runtime_options.ts";

/** Options of the optional REST API. */
export interface HttpOptions {
  port?: number;
  hostname?: string;
  /** Bearer token required on mutating endpoints (default: WEIR_TOKEN). */
  token?: string;
  /**
   * Milliseconds the REST API keeps answering after the job ended while a client that
   * triggered a stop, savepoint or cancel has not read its outcome yet (default 10 000).
   */
  stopGraceMs?: number;
}

/** Injection points for tests and the simulator. */
export interface RuntimeOptions {
  clock?: Clock;
  scheduler?: Scheduler;
  pick?: PickPolicy;
  faults?: CoordinatorFaults;
  sliceSteps?: number;
  /** Runs before every actor step; a throw fails that step (the simulator's subtask crash). */
  beforeStep?: BeforeStep;
  jobId?: string;
  /** Carries batches, barriers and credit between subtasks (actors/transport.ts); in-memory unless set. */
  transport?: Transport;
  /** Which host runs each subtask; each host gets a dispatcher of its own (ExecutionTuning.hostOf). */
  hostOf?: (subtask: SubtaskAddress) => string;
  /**
   * Hosts outside this process by the names hostOf() returns (runtime/remote/): their
   * subtasks are deployed there; every other subtask runs here.
   */
  remoteHosts?: Readonly<Record<string, RemoteHost>>;
  /**
   * The name hostOf() gives this process, besides "main" and "master" (Cloudflare's job
   * object is "job"): subtasks placed on a name neither this nor a remote host are warned
   * about (`host_not_remote`).
   */
  masterHost?: string;
  /**
   * Milliseconds of the clock a remote host may stay silent while it deploys (default
   * 60 000): one that neither answers nor reports for that long (a dead or hung Worker)
   * fails the attempt with `deploy_timeout`, the restart strategy decides, and the host is
   * started anew. A host reports every `metricsIntervalMs` from the start of its deploy,
   * so a restore that takes longer is waited for.
   */
  deployTimeoutMs?: number;
  /**
   * How often a remote host sends its subtasks' figures (records in and out, busy and
   * backpressured time, queues) to the master, in ms of its clock (default 1000): remote
   * subtasks show in `job.vertices()`, REST metrics and backpressure that much behind.
   */
  metricsIntervalMs?: number;
  /**
   * Milliseconds of the clock a running remote host may send nothing (its metrics reports
   * are the heartbeat) before the attempt fails with `host_failed` and the restart starts
   * the host anew (default: 50 000, or 10 metrics intervals if longer).
   */
  heartbeatTimeoutMs?: number;
  /** The most state entries a slice of an asynchronous snapshot takes (tests, simulator). */
  snapshotSliceMax?: number;
}

/** Everything a job is configured with. */
export interface EnvironmentOptions {
  jobName?: string;
  parallelism?: number;
  maxParallelism?: number;
  storage?: StorageAdapter;
  checkpoint?: CheckpointOptions;
  restart?: RestartOptions;
  /**
   * A savepoint or retained checkpoint to start from: its directory, its `_metadata` file or
   * its `external_path` ("file:/…"); or `{ storage, path }`, the path a key in that storage
   * (`job/id/chk-7`) or the checkpoint's `external_path` there ("memory/job/id/chk-7").
   */
  restoreFrom?: string | { storage: StorageAdapter; path: string };
  /** Skip state of operators (uids) the job no longer has. */
  allowNonRestoredState?: boolean;
  /**
   * Start a new run even when the storage holds an unfinished run of this `jobName` (a
   * crashed process), which a start otherwise resumes from its latest checkpoint. The
   * earlier run's checkpoints stay in the storage, for `restoreFrom`. `weir run --fresh`.
   */
  fresh?: boolean;
  http?: HttpOptions;
  /** Records per batch on channels. */
  batchSize?: number;
  /** Batches a channel queue holds before the sender waits. */
  channelCapacity?: number;
  /**
   * How long, in ms of the job's clock, a record may wait in a partly filled output batch
   * before the batch is sent anyway (Flink's `execution.buffer-timeout`,
   * `StreamExecutionEnvironment.setBufferTimeout`): fewer, fuller batches where each one
   * costs a call (Durable Objects, Worker threads). `0` sends at the end of every actor step,
   * `-1` only full batches (and before barriers, watermarks, end of input). Default 0 in
   * one process; on Cloudflare with subtasks in objects (`WeirJob`) 10 unless set. An
   * operator's `bufferTimeout` option or `setBufferTimeout()` overrides it for its output.
   */
  bufferTimeout?: number;
  /**
   * Pass records between operators by reference instead of copying them (Flink's
   * `ExecutionConfig.enableObjectReuse`). Default false: records are values, and an
   * operator never sees another operator's or receiver's later mutation of a record.
   * Set it for speed only when no function changes a record it received or emitted
   * (see the README for what the copies cost); primitives are never copied either way.
   */
  objectReuse?: boolean;
  /**
   * How often, in ms of the job's clock, assignTimestampsAndWatermarks asks its generator
   * for a periodic watermark (Flink's `pipeline.auto-watermark-interval`). Default 200.
   */
  autoWatermarkInterval?: number;
  /**
   * Keyed state: `{ backend: "heap" | "sqlite", incremental: boolean }` (DESIGN.md "State
   * options"). Default heap; checkpoints incremental as the backend does by default (heap:
   * full, sqlite: incremental). "sqlite" is there once mod.ts registered it.
   */
  state?: StateBackendOptions;
  runtime?: RuntimeOptions;
}

const KNOWN = new Set([
  "jobName", "parallelism", "maxParallelism", "storage", "checkpoint", "restart", "restoreFrom",
  "allowNonRestoredState", "fresh", "http", "batchSize", "channelCapacity", "bufferTimeout", "objectReuse", "autoWatermarkInterval", "state", "runtime",
]);

/**
 * An integer option from 1 to `max`, returned as it is.
 * @throws {WeirError} `invalid_option` naming the option and its value.
 *
 * @example
 * ```ts
 * import { positiveInt } from "./environment_options.ts";
 * console.assert(positiveInt("parallelism", 4, 128) === 4);
 * ```
 */
export function positiveInt(name: string, v: unknown, max = Infinity): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalidOption(name, v, max === Infinity ? "must be an integer >= 1" : `must be an integer between 1 and ${max}`);
  }
  return v;
}

/**
 * Throws on an option a StreamEnvironment does not know (a typo must not be ignored).
 * @throws {WeirError} `invalid_option` naming the option, or when `options` is not an object.
 *
 * @example
 * ```ts
 * import { checkOptionNames } from "./environment_options.ts";
 * checkOptionNames({ jobName: "doc", parallelism: 2 });
 * ```
 */
export function checkOptionNames(options: EnvironmentOptions): void {
  if (options === null || typeof options !== "object") throw invalidOption("environment options", options, "must be an object");
  for (const k of Object.keys(options)) if (!KNOWN.has(k)) throw invalidOption(k, (options as Record<string, unknown>)[k], "is not a known option");
}

/**
 * Checks every option's value (after the defaults are merged in) and returns the job's
 * name and its default and maximum parallelism.
 * @throws {WeirError} `invalid_option` naming the option and its value (jobName, storage, parallelism, checkpoint, restart, restoreFrom, state: an unknown backend by its name, runtime: see checkRuntimeOptions).
 *
 * @example
 * ```ts
 * import { checkOptions } from "./environment_options.ts";
 * const checked = checkOptions({ jobName: "doc", parallelism: 2 });
 * console.assert(checked.jobName === "doc" && checked.parallelism === 2 && checked.maxParallelism === 128);
 * ```
 */
export function checkOptions(options: EnvironmentOptions): { jobName: string; parallelism: number; maxParallelism: number } {
  const jobName = options.jobName ?? "weir-job";
  if (typeof jobName !== "string" || !/^[A-Za-z0-9._-]{1,100}$/.test(jobName) || /^\.+$/.test(jobName)) {
    throw invalidOption("jobName", jobName, "must be 1-100 letters, digits, '.', '_' or '-', and not only dots");
  }
  const maxParallelism = positiveInt("maxParallelism", options.maxParallelism ?? 128, 32768);
  const parallelism = positiveInt("parallelism", options.parallelism ?? 1, maxParallelism);
  checkpointConfig(options.checkpoint);
  restartStrategy(options.restart);
  if (options.fresh !== undefined && typeof options.fresh !== "boolean") throw invalidOption("fresh", options.fresh, "must be a boolean");
  if (options.batchSize !== undefined) positiveInt("batchSize", options.batchSize, 1 << 20);
  if (options.channelCapacity !== undefined) positiveInt("channelCapacity", options.channelCapacity, 1 << 16);
  if (options.bufferTimeout !== undefined) checkBufferTimeout("bufferTimeout", options.bufferTimeout);
  if (options.objectReuse !== undefined && typeof options.objectReuse !== "boolean") {
    throw invalidOption("objectReuse", options.objectReuse, "must be true or false");
  }
  if (options.autoWatermarkInterval !== undefined) positiveInt("autoWatermarkInterval", options.autoWatermarkInterval, 3_600_000);
  checkStateOptions(options.state);
  checkRuntimeOptions(options.runtime);
  if (options.storage !== undefined && (typeof options.storage?.put !== "function" || typeof options.storage?.get !== "function")) {
    throw invalidOption("storage", options.storage, "must be a StorageAdapter");
  }
  return { jobName, parallelism, maxParallelism };
}
