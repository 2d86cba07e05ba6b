/**
 * StreamEnvironment: where a job is built (sources, operators, sinks as transformations
 * with their uids) and started. Its options and their checks live in
 * environment_options.ts, the process-wide defaults in environment_defaults.ts.
 * @module
 */
import { checkpointConfig } from "../checkpoint/config.ts";
import { checkpointDirOf, checkpointPathOf } from "../checkpoint/metadata.ts";
import { WeirError, invalidOption } from "../errors.ts";
import { systemClock, systemScheduler } from "../platforms/system.ts";
import { JobHandle } from "../runtime/job_handle.ts";
import { JobMaster, type RestoreSource } from "../runtime/job_master.ts";
import { restartStrategy } from "../runtime/restart_strategy.ts";
import { DEFAULT_STORAGE_DIR, openDirectory } from "../storage/directory.ts";
import { DataStream, type GraphBuilder } from "./data_stream.ts";
import { environmentDefaults, installedHttpStarter, withDefaults } from "./environment_defaults.ts";
import { KeyedStream } from "./keyed_stream.ts";
import { checkOptionNames, checkOptions, type EnvironmentOptions, positiveInt } from "./environment_options.ts";
import { buildJobGraph, type JobGraph } from "./job_graph.ts";
import type { Source } from "./operator.ts";
import { type FromSourceOptions, fromSourceParts } from "./from_source.ts";
import type { WatermarkStrategy } from "./watermark_strategy.ts";
import type { OperatorOptions, Transformation } from "./transformation.ts";
import { codeOf, inputsOf, UidHasher } from "./uid_hash.ts";
import { checkRuntimeOptions } from "./runtime_options.ts";
import { checkBufferTimeout } from "./buffer_timeout.ts";

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
    checkOptionNames(options);
    options = withDefaults(options);
    this.options = options;
    const checked = checkOptions(options);
    this.jobName = checked.jobName;
    this.maxParallelism = checked.maxParallelism;
    this.parallelism = checked.parallelism;
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

  /** A keyed stream of this environment (GraphBuilder.keyed, for DataStream.keyBy). */
  keyed<T, K>(input: Transformation, keySelector: (value: T) => K): KeyedStream<T, K> {
    return new KeyedStream<T, K>(this, input, keySelector);
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
          masterHost: rt.masterHost,
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
    handle.launchCommand = environmentDefaults().launchCommand;
    try {
      if (o.http) {
        const httpStarter = installedHttpStarter();
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
    const path = checkpointPathOf(from);
    const { storage, root } = openDirectory(path, "restoreFrom");
    return { storage, dir: "", location: root, allowNonRestoredState, home: { kind: "directory", path } };
  }
  if (from && typeof from === "object" && typeof from.path === "string" && typeof from.storage?.get === "function") {
    const dir = checkpointDirOf(from.path);
    // An external_path names the storage before the directory ("memory/job/id/chk-3"); a
    // key that merely starts as the description does (a job named "memory") is read first.
    const prefix = `${from.storage.description}/`;
    const orDir = from.path.startsWith(prefix) ? checkpointDirOf(from.path.slice(prefix.length)) : undefined;
    return { storage: from.storage, dir, orDir, location: `${from.storage.description}/${dir}`, allowNonRestoredState, home: { kind: "storage", description: from.storage.description, dir } };
  }
  throw invalidOption("restoreFrom", from, "must be a directory path or { storage, path }");
}
