import type { BeforeStep, PickPolicy } from "../actors/dispatcher.ts";
import type { Clock, Scheduler } from "../actors/time.ts";
import type { SubtaskAddress, Transport } from "../actors/transport.ts";
import { checkpointConfig, type CheckpointOptions } from "../checkpoint/config.ts";
import { checkpointDirOf } from "../checkpoint/metadata.ts";
import type { CoordinatorFaults } from "../checkpoint/coordinator.ts";
import { WeirError, invalidOption } from "../errors.ts";
import { systemClock, systemScheduler } from "../platforms/system.ts";
import { JobHandle } from "../runtime/job_handle.ts";
import { JobMaster, type RestoreSource } from "../runtime/job_master.ts";
import type { RemoteHost } from "../runtime/remote/gateway.ts";
import { type RestartOptions, restartStrategy } from "../runtime/restart_strategy.ts";
import { checkStateOptions, type StateBackendOptions } from "../state/backend_registry.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { DEFAULT_STORAGE_DIR, openDirectory } from "../storage/directory.ts";
import { DataStream, type GraphBuilder } from "./data_stream.ts";
import { buildJobGraph, type JobGraph } from "./job_graph.ts";
import type { Source } from "./operator.ts";
import { type FromSourceOptions, fromSourceParts } from "./from_source.ts";
import type { WatermarkStrategy } from "./watermark_strategy.ts";
import type { OperatorOptions, Transformation } from "./transformation.ts";
import { codeOf, inputsOf, UidHasher } from "./uid_hash.ts";
import { checkRuntimeOptions } from "./runtime_options.ts";
import { checkBufferTimeout } from "./buffer_timeout.ts";

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
  /** A savepoint or retained checkpoint directory (or its `_metadata` file) to start from. */
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
   * options"). Default heap, full checkpoints. "sqlite" is there once mod.ts registered it.
   */
  state?: StateBackendOptions;
  runtime?: RuntimeOptions;
}

/** Starts the REST API for a job; installed by mod.ts so the core never imports a server. */
export type HttpStarter = (job: JobHandle, options: HttpOptions) => Promise<{ url: string; close(): Promise<void> }>;

let httpStarter: HttpStarter | undefined;

/** Installs the REST API server used when a job has `http` options. */
export function setHttpStarter(starter: HttpStarter): void {
  httpStarter = starter;
}

/**
 * Options `weir run` (or a job file's own command line) sets for the jobs of the file it
 * runs, plus `launchCommand`: the command line that started them, without the restore
 * flags, so that a stop can tell the user the exact command that restores its savepoint.
 */
export type EnvironmentDefaults = Pick<EnvironmentOptions, "parallelism" | "http" | "restoreFrom" | "allowNonRestoredState" | "fresh"> & {
  launchCommand?: string;
};

let currentDefaults: EnvironmentDefaults = {};

/**
 * Sets defaults for options a job does not set itself (`weir run --parallelism --port
 * --from-savepoint --allow-non-restored-state --fresh`); `http` is merged field by field,
 * so a job's own port wins over the flag's. This is how a job file receives the savepoint
 * path of `weir run FILE --from-savepoint DIR`: every StreamEnvironment it builds restores
 * from DIR unless it sets `restoreFrom` itself.
 *
 * @example
 * ```ts
 * import { setEnvironmentDefaults } from "./environment.ts";
 * setEnvironmentDefaults({ parallelism: 2 });
 * setEnvironmentDefaults({});
 * ```
 */
export function setEnvironmentDefaults(defaults: EnvironmentDefaults): void {
  currentDefaults = { ...defaults };
}

/**
 * The defaults in force (a copy).
 *
 * @example
 * ```ts
 * import { environmentDefaults, setEnvironmentDefaults } from "./environment.ts";
 * setEnvironmentDefaults({ parallelism: 2 });
 * console.assert(environmentDefaults().parallelism === 2);
 * setEnvironmentDefaults({});
 * ```
 */
export function environmentDefaults(): EnvironmentDefaults {
  return { ...currentDefaults };
}

function withDefaults(options: EnvironmentOptions): EnvironmentOptions {
  const d = currentDefaults;
  const merged = { ...options };
  if (merged.parallelism === undefined && d.parallelism !== undefined) merged.parallelism = d.parallelism;
  if (merged.restoreFrom === undefined && d.restoreFrom !== undefined) merged.restoreFrom = d.restoreFrom;
  if (merged.allowNonRestoredState === undefined && d.allowNonRestoredState !== undefined) merged.allowNonRestoredState = d.allowNonRestoredState;
  if (merged.fresh === undefined && d.fresh !== undefined) merged.fresh = d.fresh;
  if (d.http !== undefined) merged.http = { ...d.http, ...merged.http };
  return merged;
}

const KNOWN = new Set([
  "jobName", "parallelism", "maxParallelism", "storage", "checkpoint", "restart", "restoreFrom",
  "allowNonRestoredState", "fresh", "http", "batchSize", "channelCapacity", "bufferTimeout", "objectReuse", "autoWatermarkInterval", "state", "runtime",
]);

function positiveInt(name: string, v: unknown, max = Infinity): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > max) {
    throw invalidOption(name, v, max === Infinity ? "must be an integer >= 1" : `must be an integer between 1 and ${max}`);
  }
  return v;
}

/**
 * Where a job is built and started from.
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink, MemoryStorage } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc", storage: new MemoryStorage() });
 * const sink = new CollectSink<number>();
 * env.fromSource(new SequenceSource(0, 5)).map((n) => n + 1).sinkTo(sink);
 * const result = await (await env.execute()).done;
 * console.assert(result.status === "finished" && sink.committed.length === 5);
 * ```
 */
export class StreamEnvironment implements GraphBuilder {
  readonly options: EnvironmentOptions;
  readonly jobName: string;
  readonly parallelism: number;
  readonly maxParallelism: number;
  readonly #transformations: Transformation[] = [];
  readonly #uids = new UidHasher();
  #executed = false;

  /**
   * Checks the options; nothing runs until {@link execute}.
   * @throws {WeirError} `invalid_option` naming an unknown option, a bad value (jobName, storage, parallelism, checkpoint, restart, http, restoreFrom, state: an unknown backend by its name, runtime: see checkRuntimeOptions).
   */
  constructor(options: EnvironmentOptions = {}) {
    if (options === null || typeof options !== "object") throw invalidOption("environment options", options, "must be an object");
    for (const k of Object.keys(options)) if (!KNOWN.has(k)) throw invalidOption(k, (options as Record<string, unknown>)[k], "is not a known option");
    options = withDefaults(options);
    this.options = options;
    this.jobName = options.jobName ?? "weir-job";
    if (typeof this.jobName !== "string" || !/^[A-Za-z0-9._-]{1,100}$/.test(this.jobName) || /^\.+$/.test(this.jobName)) {
      throw invalidOption("jobName", this.jobName, "must be 1-100 letters, digits, '.', '_' or '-', and not only dots");
    }
    this.maxParallelism = positiveInt("maxParallelism", options.maxParallelism ?? 128, 32768);
    this.parallelism = positiveInt("parallelism", options.parallelism ?? 1, this.maxParallelism);
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
  }

  /**
   * Adds a transformation. Without a uid it gets one generated from its place in the graph
   * and its code (uid_hash.ts), never from a counter.
   */
  add(t: Omit<Transformation, "id" | "uid" | "name" | "uidGiven" | "parallelism" | "disableChaining">, options: OperatorOptions | undefined): Transformation {
    if (this.#executed) throw new WeirError("invalid_job", "The job was already executed; build a new StreamEnvironment");
    const o = options ?? {};
    if (typeof o !== "object") throw invalidOption(`${t.kind} options`, o, "must be an object");
    if (o.uid !== undefined && (typeof o.uid !== "string" || o.uid.length === 0 || o.uid.includes("/"))) {
      throw invalidOption(`${t.kind} uid`, o.uid, "must be a non-empty string without '/'");
    }
    if (o.name !== undefined && typeof o.name !== "string") throw invalidOption(`${t.kind} name`, o.name, "must be a string");
    if (o.parallelism !== undefined) positiveInt(`parallelism of ${o.name ?? o.uid ?? t.kind}`, o.parallelism, this.maxParallelism);
    if (o.bufferTimeout !== undefined) checkBufferTimeout(`bufferTimeout of ${o.name ?? o.uid ?? t.kind}`, o.bufferTimeout);
    const id = this.#transformations.length;
    const full: Transformation = {
      ...t,
      id,
      uid: o.uid ?? this.#uids.generate({ kind: t.kind, code: t.code, inputs: inputsOf(t) }, (i) => this.#transformations[i].uid),
      name: o.name ?? o.uid ?? t.kind,
      uidGiven: o.uid !== undefined,
      parallelism: o.parallelism,
      disableChaining: o.disableChaining ?? false,
    };
    if (o.bufferTimeout !== undefined) full.bufferTimeout = o.bufferTimeout;
    this.#transformations.push(full);
    return full;
  }

  /**
   * Starts a stream from a source; a `watermarkStrategy` (an option, or second as in Flink's
   * `fromSource(source, strategy, name)`) generates watermarks there, per source split.
   * @throws {WeirError} `invalid_option` for a source without createReader or bad options
   */
  fromSource<T>(source: Source<T>, options?: FromSourceOptions<T>): DataStream<T>;
  fromSource<T>(source: Source<T>, watermarkStrategy: WatermarkStrategy<T>, sourceName?: string | OperatorOptions): DataStream<T>;
  fromSource<T>(source: Source<T>, second?: FromSourceOptions<T> | WatermarkStrategy<T>, third?: string | OperatorOptions): DataStream<T> {
    if (!source || typeof (source as Source).createReader !== "function") throw invalidOption("fromSource source", source, "must be a Source (with createReader)");
    const parts = fromSourceParts(second, third);
    const t = this.add({ kind: "source", source: source as Source, code: codeOf(source) }, parts.source);
    const stream = new DataStream<T>(this, t);
    return parts.watermarks ? stream.assignTimestampsAndWatermarks(parts.watermarks.strategy, parts.watermarks.options) : stream;
  }

  /**
   * The job graph this environment would run: vertices (chained operators) and edges. A
   * remote host builds it from the same code to run its share of the subtasks (Flink's
   * `StreamExecutionEnvironment.getStreamGraph()`); it does not execute anything.
   * @throws {WeirError} `invalid_job` (an empty or invalid graph).
   */
  jobGraph(): JobGraph {
    return buildJobGraph(this.#transformations, { parallelism: this.parallelism, maxParallelism: this.maxParallelism });
  }

  /**
   * Validates the graph, starts the job and returns its handle at once.
   * @throws {WeirError} `invalid_job` (an empty or invalid graph, or a second execute()), `invalid_option`,
   *   `incompatible_restore` / `state_not_restored` / `checkpoint_corrupt` / `checkpoint_not_found` / `storage_corrupt` /
   *   `format_unsupported` (the restore point cannot be used as it is), `storage_unavailable`,
   *   `http_unavailable` / `http_listen_failed` (the REST API could not start).
   */
  async execute(): Promise<JobHandle> {
    if (this.#executed) throw new WeirError("invalid_job", `Job "${this.jobName}" was already executed; build a new StreamEnvironment to run it again`);
    const o = this.options;
    // Again here: platforms (WeirJob) and tests set runtime after construction.
    checkRuntimeOptions(o.runtime);
    const graph = buildJobGraph(this.#transformations, { parallelism: this.parallelism, maxParallelism: this.maxParallelism });
    this.#executed = true;
    const rt = o.runtime ?? {};
    const storage = o.storage ?? openDirectory(DEFAULT_STORAGE_DIR, "The default storage").storage;
    const checkpoint = checkpointConfig(o.checkpoint);
    const resumeId = rt.jobId || o.fresh ? undefined : await JobMaster.unfinishedRun(storage, this.jobName);
    const master = new JobMaster(
      {
        jobName: this.jobName,
        jobId: rt.jobId,
        graph,
        storage,
        checkpoint,
        restart: restartStrategy(o.restart),
        tuning: {
          batchSize: o.batchSize ?? 1024,
          channelCapacity: o.channelCapacity ?? 8,
          bufferTimeoutMs: o.bufferTimeout,
          channelStateMaxBytes: checkpoint.channelStateMaxBytes,
          objectReuse: o.objectReuse ?? false,
          autoWatermarkIntervalMs: o.autoWatermarkInterval,
          state: o.state,
          transport: rt.transport,
          hostOf: rt.hostOf,
          remoteHosts: rt.remoteHosts,
          deployTimeoutMs: rt.deployTimeoutMs,
          metricsIntervalMs: rt.metricsIntervalMs,
          heartbeatTimeoutMs: rt.heartbeatTimeoutMs,
          snapshotSliceMax: rt.snapshotSliceMax,
        },
        clock: rt.clock ?? systemClock,
        scheduler: rt.scheduler ?? systemScheduler,
        pick: rt.pick,
        faults: rt.faults,
        sliceSteps: rt.sliceSteps,
        beforeStep: rt.beforeStep,
        restoreFrom: o.restoreFrom === undefined ? undefined : restoreSource(o.restoreFrom, o.allowNonRestoredState ?? false),
      },
      resumeId,
    );
    const handle = new JobHandle(master, checkpoint);
    handle.launchCommand = currentDefaults.launchCommand;
    try {
      if (o.http) {
        if (!httpStarter) throw new WeirError("http_unavailable", "The http option needs the REST API: import weir from mod.ts");
        const server = await httpStarter(handle, o.http);
        handle.attachServer(server);
      }
      await master.start();
    } catch (e) {
      // Nothing may outlive a job that did not start: it ends failed, which closes its server.
      const error = e instanceof Error ? e : new WeirError("job_failed", String(e));
      master.abortStart(error);
      await master.done;
      throw error;
    }
    return handle;
  }
}

function restoreSource(from: EnvironmentOptions["restoreFrom"], allowNonRestoredState: boolean): RestoreSource {
  if (typeof from === "string") {
    if (from.length === 0) throw invalidOption("restoreFrom", from, "must be a savepoint or checkpoint directory");
    const path = checkpointDirOf(from.startsWith("file:") ? from.slice(5) : from);
    const { storage, root } = openDirectory(path, "restoreFrom");
    return { storage, dir: "", location: root, allowNonRestoredState, home: { kind: "directory", path } };
  }
  if (from && typeof from === "object" && typeof from.path === "string" && typeof from.storage?.get === "function") {
    const dir = checkpointDirOf(from.path);
    return { storage: from.storage, dir, location: `${from.storage.description}/${dir}`, allowNonRestoredState, home: { kind: "storage", description: from.storage.description, dir } };
  }
  throw invalidOption("restoreFrom", from, "must be a directory path or { storage, path }");
}
