/**
 * The `WeirJob` Durable Object: the job master on Cloudflare. It hosts the job (its
 * coordinator, restart strategy and checkpoint metadata, the commit point, in the object's
 * own SQLite storage), serves the REST API, and keeps the job alive with alarms.
 * @module
 */
import type { Hono } from "hono";
import type { StreamEnvironment } from "../../dataflow/environment.ts";
import { environmentDefaults, setEnvironmentDefaults } from "../../dataflow/environment_defaults.ts";
import type { RuntimeOptions } from "../../dataflow/environment_options.ts";
import { WeirError, type WeirErrorCode } from "../../errors.ts";
import { createApp } from "../../http/app.ts";
import { statusForCode } from "../../http/errors.ts";
import { JobRegistry, isTerminal } from "../../http/registry.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import { type DirectoryOpener, setDirectoryOpener } from "../../storage/directory.ts";
import { systemClock } from "../system.ts";
import type { DurableObjectNamespaceLike, DurableObjectStateLike, R2BucketLike, WorkerBindings } from "./bindings.ts";
import { cloudflareDirectories, jobStorageAddress } from "./directories.ts";
import { rearmStoredAlarm } from "./alarms.ts";
import { DurableObjectStorageAdapter } from "./do_storage.ts";
import { CALLBACK_PATH, DurableObjectHost, HOST_HEADER, MASTER_HEADER } from "./object_host.ts";
import { STORAGE_PATH, serveStorage } from "./object_storage.ts";
import { objectStorages, RoutedStorage } from "./routed_storage.ts";
import { storageRoutes } from "./storage_routes.ts";
import { edgePlacement, FRAME_PATH, objectCaller } from "./placement.ts";
import { DurableObjectRpcTransport } from "./rpc_transport.ts";
import { decodeEnded, ENDED_KEY, type EndedRecord, endedIngestResponse, endedRecord, endedResponse, encodeEnded, ingestPathsOf, type StartConfig, startsNewRun, withConfigSeen } from "../ended_job.ts";
import { JOB_OBJECT_NAME, missingBindings, missingBindingsResponse, type RegisteredJob, registeredJob } from "./worker.ts";

/**
 * The buffer timeout (ms) of jobs whose subtasks run in `WeirSubtask` objects, when the job
 * sets none: a record waits at most this long for others to share its call between objects
 * (Flink's `execution.buffer-timeout`, default 100 ms there; bench/cloudflare.ts has the figures).
 */
export const EDGE_BUFFER_TIMEOUT_MS = 10;


/**
 * Where the object records that it refused to resume its job (the stored checkpoint does
 * not fit the graph). The core ends a refused start "failed", which forgets the unfinished
 * run, so without this record the next wake would quietly start the job anew.
 */
const REFUSED_KEY = "_weir_edge/refused";

/**
 * Every subtask object that ever ran a subtask of the job here (JSON list): one that a
 * lower parallelism no longer uses still holds its files, which list, deletePrefix and the
 * job's clean-up must reach.
 */
const OBJECTS_KEY = "_weir_edge/objects";

/**
 * One job in one Durable Object (DESIGN.md "Edge"; issue 14). The first request or alarm
 * builds the job with the function given to `weirWorker` and executes it on the object's
 * storage, which resumes an unfinished run from its latest completed checkpoint: so an
 * object that was evicted, restarted or moved picks its job up where the last checkpoint
 * left it, as a local process does after a crash. Savepoint and `restoreFrom` directories
 * are prefixes in the R2 bucket bound for savepoints, else in this object's storage; a
 * `WEIR_RESTORE_FROM` variable starts a new run from a savepoint (`flink run -s`), and
 * `WEIR_FRESH=true` starts a new run instead of resuming an unfinished one (`weir run --fresh`),
 * e.g. after a change of the graph that the unfinished run's checkpoint does not fit.
 * A job that ended (finished, stopped, canceled, failed) is not run again by a wake, unless
 * these variables now ask for a start its run was not started with (ended_job.ts): a stopped
 * job restarts from its savepoint once `WEIR_RESTORE_FROM` names it.
 *
 * Periodic checkpoints: the coordinator's timer triggers them while the object is in
 * memory; an alarm every checkpoint interval is the durable heartbeat that wakes the object
 * (resuming the job) and triggers a checkpoint when none was triggered for an interval.
 * Alarms are delivered at least once: a repeated alarm finds the checkpoint it would take
 * already in progress or just taken, and takes none.
 *
 * @example
 * ```ts ignore
 * // worker.ts, with WeirJob bound as WEIR_JOB in wrangler.toml (new_sqlite_classes):
 * import { WeirJob, weirWorker } from "weir-stream/cloudflare";
 * export { WeirJob };
 * export default weirWorker(({ storage }) => buildMyJob(storage));
 * ```
 */
export class WeirJob {
  readonly #ctx: DurableObjectStateLike;
  readonly #bindings: WorkerBindings;
  readonly #storage: DurableObjectStorageAdapter;
  /** The job's storage: this object's keys here, its subtask objects' files in theirs (routed_storage.ts). */
  readonly #jobStorage: RoutedStorage;
  #starting: Promise<JobHandle | undefined> | undefined;
  #job: JobHandle | undefined;
  #app: Hono | undefined;
  #ended: EndedRecord | undefined;
  /** What savepoint and restore directories mean for this job (directories.ts). */
  #directories: DirectoryOpener | undefined;
  /** Where the job's HttpIngestSources take events: refused once the job ended. */
  #ingestPaths = new Set<string>();
  #intervalMs = 0;
  #lastTriggerAt = -Infinity;
  #triggering: Promise<unknown> | undefined;
  /** This instance of the object, as the subtask objects it deploys know it (object_host.ts MASTER_HEADER). */
  readonly #incarnation = crypto.randomUUID();
  #placement: { transport: DurableObjectRpcTransport; hosts: Map<string, DurableObjectHost> } | undefined;

  constructor(ctx: DurableObjectStateLike, env: WorkerBindings) {
    this.#ctx = ctx;
    this.#bindings = env ?? {};
    this.#storage = new DurableObjectStorageAdapter(ctx.storage, "job");
    const namespace = (kind: "jobBinding" | "subtaskBinding") => () => {
      const binding = registeredJob()?.[kind] ?? (kind === "jobBinding" ? "WEIR_JOB" : "WEIR_SUBTASK");
      const ns = this.#bindings[binding] as DurableObjectNamespaceLike | undefined;
      if (!ns || typeof ns.get !== "function") throw new WeirError("binding_missing", `The Worker has no binding ${binding} (a Durable Object namespace)`);
      return ns;
    };
    this.#jobStorage = new RoutedStorage({
      self: JOB_OBJECT_NAME,
      local: this.#storage,
      remote: objectStorages({ job: namespace("jobBinding"), subtasks: namespace("subtaskBinding") }),
      fallback: JOB_OBJECT_NAME,
      // A checkpoint's location (external_path) is this address and its directory: restoreFrom
      // and WEIR_RESTORE_FROM take it (directories.ts resolves it to this storage).
      description: jobStorageAddress(registeredJob()?.jobBinding ?? "WEIR_JOB"),
    });
    // workerd loses its scheduler's copy of alarms when its process restarts (alarms.ts).
    void ctx.blockConcurrencyWhile(() => rearmStoredAlarm(ctx, () => systemClock.now())).catch(() => {/* the next start sets the alarm anew */});
  }

  /** Every request: the REST API, the dashboard, HttpIngestSource's endpoints; and from subtask objects, the job's storage. */
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    // Subtask objects write checkpoint files and sink commits into the job's storage (object_storage.ts).
    if (path.startsWith(`${STORAGE_PATH}/`)) return serveStorage(request, this.#storage);
    if (path === CALLBACK_PATH || path === FRAME_PATH) return this.#fromObject(request, path);
    const registered = registeredJob();
    if (!registered) return missingBindingsResponse(["The Worker registered no job: its default export must be weirWorker(buildJob)"]);
    const missing = missingBindings(this.#bindings, registered);
    if (missing.length > 0) return missingBindingsResponse(missing);
    let job: JobHandle | undefined;
    try {
      job = await this.#ensureStarted(registered);
    } catch (e) {
      // A job weir refuses to start (its stored checkpoint does not fit, a bad option) is a
      // conflict with what is stored or configured, not a server fault: 409 unless the code says more.
      const code = e instanceof WeirError ? e.code : "job_failed";
      const status = e instanceof WeirError ? (statusForCode(code) === 500 ? 409 : statusForCode(code)) : 500;
      return Response.json({ errors: [`The job could not start: ${(e as Error).message}`], code }, { status });
    }
    const own = await registered.routes?.(request, { storage: this.#storage, bindings: this.#bindings });
    if (own) return own;
    if (!job) return endedResponse(this.#ended!, request);
    return this.#app!.fetch(request);
  }

  /** What the REST app asks before its routes, once the token and the body limit passed (AppOptions.before). */
  async #beforeRoutes(request: Request): Promise<Response | undefined> {
    const path = new URL(request.url).pathname;
    const job = this.#job;
    // The source's endpoint outlives the run in this isolate: events it took now would be
    // acknowledged as durable and never read.
    if (job && isTerminal(job.status) && request.method === "POST" && this.#ingestPaths.has(path)) {
      return endedIngestResponse({ jobId: job.id, jobName: job.name, status: job.status }, path);
    }
    return await this.#refusedTarget(request, path);
  }

  /**
   * A savepoint or stop whose target directory this platform cannot honour (another bucket
   * binding, another scheme, a file system path): 400 naming it at the POST, as other bad
   * input is, not a trigger that fails later.
   */
  async #refusedTarget(request: Request, path: string): Promise<Response | undefined> {
    if (request.method !== "POST" || !this.#directories || !/^\/jobs\/[^/]+\/(savepoints|stop)\/?$/.test(path)) return undefined;
    let body: Record<string, unknown> | null;
    try {
      body = await request.clone().json() as Record<string, unknown> | null;
    } catch {
      return undefined;
    }
    const dir = body?.["target-directory"] ?? body?.targetDirectory;
    if (typeof dir !== "string" || dir === "") return undefined;
    try {
      const { root } = this.#directories(dir);
      // A checkpoint's address names the job's checkpoint storage, which the run deletes as it ends.
      if (root.startsWith(`${this.#jobStorage.description}/`)) {
        throw new WeirError("invalid_option", `Savepoint directory ${dir} is in the job's checkpoint storage, which the run deletes when it ends: give a directory such as "savepoints" or r2://<the savepoint bucket's binding>/…`);
      }
    } catch (e) {
      if (!(e instanceof WeirError)) throw e;
      return Response.json({ errors: [e.message], code: e.code }, { status: 400 });
    }
    return undefined;
  }

  /** A subtask object's reports (`/_weir/callback`) or a channel frame for a subtask running here (`/_weir/frame`). */
  async #fromObject(request: Request, path: string): Promise<Response> {
    const bytes = new Uint8Array(await request.arrayBuffer());
    try {
      if (path === FRAME_PATH) {
        if (!this.#placement) throw new WeirError("host_failed", "A channel frame for the job object, which runs no subtasks of a job now");
        this.#placement.transport.receive(bytes);
        return new Response(null, { status: 204 });
      }
      const host = this.#placement?.hosts.get(request.headers.get(HOST_HEADER) ?? "");
      if (!host || request.headers.get(MASTER_HEADER) !== this.#incarnation) {
        // Reports for an earlier incarnation of this object (before a restart): their host stops.
        throw new WeirError("host_failed", `No job master here deployed ${request.headers.get(HOST_HEADER)} (this object was restarted since)`);
      }
      host.fromHost(bytes);
      return new Response(null, { status: 204 });
    } catch (e) {
      const err = e as Error & { code?: string };
      return Response.json({ errors: [err.message], code: err.code ?? "job_failed" }, { status: err.code === "host_failed" ? 409 : 500 });
    }
  }

  /** The heartbeat: wakes (and resumes) the job, triggers a checkpoint when one is due, sets the next alarm. */
  async alarm(): Promise<void> {
    const registered = registeredJob();
    if (!registered || missingBindings(this.#bindings, registered).length > 0) return;
    const job = await this.#ensureStarted(registered);
    if (!job || isTerminal(job.status) || this.#intervalMs <= 0) return;
    await this.#checkpointIfDue(job);
    if (!isTerminal(job.status)) await this.#ctx.storage.setAlarm(systemClock.now() + this.#intervalMs);
  }

  /** The job of this object, once started (for tests and the fixture's own routes). */
  get job(): JobHandle | undefined {
    return this.#job;
  }

  /** The object's storage adapter (for sinks and tests that read what the job wrote). */
  get storage(): DurableObjectStorageAdapter {
    return this.#storage;
  }

  #checkpointIfDue(job: JobHandle): Promise<unknown> {
    // A repeated alarm while a checkpoint runs joins it instead of taking another.
    if (this.#triggering) return this.#triggering;
    const stats = job.checkpointStats();
    const lastTrigger = Math.max(this.#lastTriggerAt, ...stats.history.map((h) => h.trigger_timestamp));
    const now = systemClock.now();
    if (stats.counts.in_progress > 0 || now - lastTrigger < this.#intervalMs || job.status !== "RUNNING") return Promise.resolve();
    this.#lastTriggerAt = now;
    this.#triggering = job.triggerCheckpoint()
      .catch(() => {/* a job that is restarting or ending takes no checkpoint: the next alarm tries again */})
      .finally(() => (this.#triggering = undefined));
    return this.#triggering;
  }

  #ensureStarted(registered: RegisteredJob): Promise<JobHandle | undefined> {
    if (this.#job && !this.#ended) return Promise.resolve(this.#job);
    this.#starting ??= this.#start(registered).finally(() => (this.#starting = undefined));
    return this.#starting;
  }

  async #start(registered: RegisteredJob): Promise<JobHandle | undefined> {
    const bindings = this.#bindings;
    const fresh = bindings.WEIR_FRESH === "true";
    const restoreFrom = typeof bindings.WEIR_RESTORE_FROM === "string" && bindings.WEIR_RESTORE_FROM !== "" ? bindings.WEIR_RESTORE_FROM : undefined;
    const config: StartConfig = { restoreFrom, fresh };
    const stored = await this.#storage.get(ENDED_KEY);
    const ended = stored ? decodeEnded(stored) : undefined;
    if (ended && !startsNewRun(ended, config)) {
      // Variables changed to no start (WEIR_RESTORE_FROM removed): remember it, so that setting
      // them again later is a change that starts a run.
      const seen = withConfigSeen(ended, config);
      if (seen) await this.#storage.put(ENDED_KEY, encodeEnded(seen));
      this.#ended = { ...ended, config };
      return undefined;
    }
    const refused = await this.#storage.get(REFUSED_KEY);
    if (refused && !fresh) {
      const r = JSON.parse(new TextDecoder().decode(refused)) as { code: WeirErrorCode; message: string };
      throw new WeirError(r.code, r.message);
    }
    if (refused) await this.#storage.delete(REFUSED_KEY);
    // Builders read defaults in the StreamEnvironment constructor: set them around the build only.
    const previous = environmentDefaults();
    setEnvironmentDefaults({
      ...previous,
      restoreFrom,
      allowNonRestoredState: bindings.WEIR_ALLOW_NON_RESTORED_STATE === "true" || undefined,
      fresh: fresh || undefined,
    });
    let env;
    try {
      env = registered.build({ storage: this.#jobStorage, bindings });
    } finally {
      setEnvironmentDefaults(previous);
    }
    if (!env || typeof env.execute !== "function") {
      throw new WeirError("invalid_job", `The job-building function given to weirWorker must return a StreamEnvironment, got ${typeof env}`);
    }
    if (env.options.storage !== this.#jobStorage) {
      throw new WeirError("invalid_job", `Job "${env.jobName}" must keep its state in the WeirJob object's storage: pass { storage: job.storage } to its StreamEnvironment`);
    }
    const subtasks = bindings[registered.subtaskBinding] as DurableObjectNamespaceLike | undefined;
    if (subtasks && typeof subtasks.get === "function") await this.#placeSubtasks(env, subtasks, bindings[registered.jobBinding] as DurableObjectNamespaceLike);
    // One job per isolate: the directories of this job are the isolate's directories.
    const bucket = bindings[registered.savepointBucket] as R2BucketLike | undefined;
    this.#directories = cloudflareDirectories({
      jobStorage: this.#storage,
      jobName: env.jobName,
      bucket,
      bucketBinding: registered.savepointBucket,
      checkpoints: { binding: registered.jobBinding, storage: this.#jobStorage },
    });
    setDirectoryOpener(this.#directories);
    this.#ingestPaths = ingestPathsOf(env.jobGraph());
    let job: JobHandle;
    try {
      job = await env.execute();
    } catch (e) {
      if (e instanceof WeirError && (e.code === "state_not_restored" || e.code === "incompatible_restore")) {
        const refusal = new WeirError(e.code, `${e.message} (on Cloudflare: set the variable WEIR_FRESH=true)`, { cause: e });
        await this.#storage.put(REFUSED_KEY, new TextEncoder().encode(JSON.stringify({ code: refusal.code, message: refusal.message })));
        throw refusal;
      }
      throw e;
    }
    // A new run of an ended job (a restore from its savepoint, a fresh start): from here on
    // a wake resumes this run, not the ended one.
    if (ended) await this.#storage.delete(ENDED_KEY);
    this.#ended = undefined;
    const registry = new JobRegistry();
    registry.add(job);
    this.#app = createApp({ registry, token: typeof bindings.WEIR_TOKEN === "string" ? bindings.WEIR_TOKEN : undefined, before: (request) => this.#beforeRoutes(request) });
    this.#job = job;
    this.#intervalMs = env.options.checkpoint?.interval ?? 0;
    job.done.then(async (result) => {
      const record = endedRecord(job, registry, result, { config, ingestPaths: this.#ingestPaths });
      await this.#storage.put(ENDED_KEY, encodeEnded(record));
      await this.#ctx.storage.deleteAlarm();
    }).catch(() => {/* the record is best effort: without it a wake starts the job again */});
    if (this.#intervalMs > 0) await this.#ctx.storage.setAlarm(systemClock.now() + this.#intervalMs);
    return job;
  }

  /**
   * Every subtask in a `WeirSubtask` object of its own (with the environment's
   * `bufferTimeout` {@link EDGE_BUFFER_TIMEOUT_MS} unless the job set one) (edgePlacement), reached over the
   * RPC transport, with the runtime's remote hosts as the control plane: the master here
   * deploys, triggers and restarts them (runtime/remote/).
   */
  async #placeSubtasks(env: StreamEnvironment, subtasks: DurableObjectNamespaceLike, job: DurableObjectNamespaceLike): Promise<void> {
    const graph = env.jobGraph();
    const place = edgePlacement(graph, env.jobName);
    // Subtask objects keep their checkpoint files; _metadata and everything else stays here.
    const stored = await this.#storage.get(OBJECTS_KEY);
    const earlier: string[] = stored ? JSON.parse(new TextDecoder().decode(stored)) : [];
    const routes = storageRoutes(graph, env.jobName, place, { also: earlier });
    if (routes.objects().length > earlier.length) await this.#storage.put(OBJECTS_KEY, new TextEncoder().encode(JSON.stringify(routes.objects())));
    this.#jobStorage.route(routes);
    const hosts = new Map<string, DurableObjectHost>();
    for (const v of graph.vertices) {
      for (let i = 0; i < v.parallelism; i++) {
        const hostId = place({ vertexId: v.id, subtaskIndex: i });
        if (hostId === JOB_OBJECT_NAME || hosts.has(hostId)) continue;
        hosts.set(hostId, new DurableObjectHost({ hostId, incarnation: this.#incarnation, stub: () => subtasks.get(subtasks.idFromName(hostId)) }));
      }
    }
    const transport: DurableObjectRpcTransport = new DurableObjectRpcTransport({
      self: JOB_OBJECT_NAME,
      placement: (_jobId, s) => place(s),
      call: objectCaller({ self: JOB_OBJECT_NAME, local: (frame) => transport.receive(frame), subtasks, job }),
      epoch: () => this.#incarnation,
    });
    this.#placement = { transport, hosts };
    const runtime = env.options.runtime ?? {};
    (env.options as { runtime?: RuntimeOptions }).runtime = { ...runtime, transport, hostOf: place, remoteHosts: Object.fromEntries(hosts), masterHost: JOB_OBJECT_NAME };
    // Every batch between objects costs a call (about 0.3 ms and an fsync) whatever it carries:
    // records wait a little to share one, unless the job chose its own buffer timeout.
    if (env.options.bufferTimeout === undefined) env.options.bufferTimeout = EDGE_BUFFER_TIMEOUT_MS;
  }

  /** The subtask objects of the job and the transport to them, when its subtasks run in objects. */
  get placement(): { transport: DurableObjectRpcTransport; hosts: ReadonlyMap<string, DurableObjectHost> } | undefined {
    return this.#placement;
  }
}

