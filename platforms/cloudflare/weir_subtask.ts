/**
 * The `WeirSubtask` Durable Object: a remote host of runtime/remote/ (Flink's TaskExecutor)
 * running a job's subtasks in an object of their own, with channel ends on the Durable
 * Object RPC transport and a mailbox that serializes what arrives.
 * @module
 */
import { environmentDefaults, setEnvironmentDefaults } from "../../dataflow/environment_defaults.ts";
import { WeirError } from "../../errors.ts";
import { decodeToHost, encodeControl } from "../../runtime/remote/control_wire.ts";
import type { ToHost } from "../../runtime/remote/messages.ts";
import { TaskExecutor } from "../../runtime/remote/task_executor.ts";
import { systemClock, systemScheduler } from "../system.ts";
import type { DurableObjectNamespaceLike, DurableObjectStateLike, R2BucketLike, WorkerBindings } from "./bindings.ts";
import { cloudflareDirectories } from "./directories.ts";
import { DurableObjectStorageAdapter } from "./do_storage.ts";
import { Mailbox } from "./mailbox.ts";
import { CALLBACK_PATH, CONTROL_PATH, decodeFrame, FrameOutbox, HOST_HEADER, MASTER_HEADER } from "./object_host.ts";
import { serveStorage, STORAGE_PATH } from "./object_storage.ts";
import { objectStorages, RoutedStorage } from "./routed_storage.ts";
import { storageRoutes } from "./storage_routes.ts";
import { edgePlacement, FRAME_PATH, OBJECT_NAME_HEADER, objectCaller, subtaskObjectName } from "./placement.ts";
import { DurableObjectRpcTransport } from "./rpc_transport.ts";
import { JOB_OBJECT_NAME, registeredJob } from "./worker.ts";

export { FRAME_PATH, OBJECT_NAME_HEADER, subtaskCaller, type SubtaskCallerOptions, subtaskObjectName } from "./placement.ts";

/** The host of one master incarnation: its executor and the lane its reports go back on. */
interface Hosting {
  master: string;
  executor: TaskExecutor;
  callbacks: FrameOutbox;
}

/**
 * Subtasks in an object of their own (issue 14). The job master in `WeirJob` deploys,
 * triggers, notifies and cancels them with control messages at `POST /_weir/control`;
 * the object builds its own copy of the job graph from the function given to `weirWorker`
 * (the Worker bundle holds the user's code, as Flink ships the job jar to every
 * TaskManager) and runs the subtasks it was given in a {@link TaskExecutor}, whose reports
 * go back to `WeirJob` at `POST /_weir/callback`. Channel frames arrive at
 * `POST /_weir/frame` for its {@link DurableObjectRpcTransport}. Control calls and frames
 * pass through the object's {@link Mailbox} one at a time, in order (the input gate opens
 * at every await).
 *
 * Where state goes: the job's storage (`storage` of the job's code, in every object) is a
 * {@link RoutedStorage}: the checkpoint files and incremental shared files of the subtasks
 * running here go into this object's own SQLite storage, which outlives a reset
 * (`ctx.abort()`) and a restart; `_metadata` (the commit point), savepoint directories
 * (unless R2 is bound) and sink commits go to `WeirJob`. This object serves its keys to the
 * others at `POST /_weir/storage/<op>`: the master deletes subsumed files through it, and a
 * restore at another parallelism reads an old subtask's file from the object that wrote it.
 *
 * A control call for an attempt this object does not run (it was evicted or restarted
 * and lost its subtasks) is answered 409, which fails the attempt on the master: every
 * object is then redeployed from the latest completed checkpoint. Bind it as a
 * SQLite-backed class; `namespaceBinding` names its own namespace (default `WEIR_SUBTASK`),
 * `jobBinding` the `WeirJob` namespace (default `WEIR_JOB`).
 *
 * @example
 * ```ts ignore
 * export { WeirJob, WeirSubtask } from "weir-stream/cloudflare"; // wrangler.toml binds WEIR_SUBTASK → WeirSubtask
 * ```
 */
export class WeirSubtask {
  /** The object's own SQLite storage: its subtasks' checkpoint and shared files. */
  readonly storage: DurableObjectStorageAdapter;
  readonly mailbox: Mailbox = new Mailbox();
  protected readonly state: DurableObjectStateLike;
  protected readonly bindings: WorkerBindings;
  #transport: DurableObjectRpcTransport | undefined;
  #name: string | undefined;
  #placement: ((jobId: string, s: { vertexId: string; subtaskIndex: number }) => string) | undefined;
  #hosting: Hosting | undefined;
  #jobStorage: RoutedStorage | undefined;
  readonly #namespaceBinding: string;
  readonly #jobBinding: string;

  constructor(ctx: DurableObjectStateLike, env: WorkerBindings, namespaceBinding = "WEIR_SUBTASK", jobBinding = "WEIR_JOB") {
    this.state = ctx;
    this.bindings = env ?? {};
    this.#namespaceBinding = namespaceBinding;
    this.#jobBinding = jobBinding;
    this.storage = new DurableObjectStorageAdapter(ctx.storage, "subtask");
  }

  /** This object's name, as its callers know it (learned from their first request). */
  get name(): string | undefined {
    return this.#name;
  }

  /** The executor of the subtasks running here, if any (tests look at it). */
  get executor(): TaskExecutor | undefined {
    return this.#hosting?.executor;
  }

  /**
   * The transport of this object's channel ends, created at the first request. Until a
   * deploy says otherwise, a subtask lives in the object `subtaskObjectName(jobId, …)`.
   * @throws {WeirError} `binding_missing` when the subtask namespace is not bound.
   */
  get transport(): DurableObjectRpcTransport {
    if (!this.#transport) {
      const namespace = this.#namespace(this.#namespaceBinding, "WeirSubtask");
      const self = this.#name ?? this.state.id.toString();
      const transport: DurableObjectRpcTransport = new DurableObjectRpcTransport({
        self,
        placement: (jobId, s) => this.#placement ? this.#placement(jobId, s) : subtaskObjectName(jobId, s.vertexId, s.subtaskIndex),
        call: objectCaller({ self, local: (frame) => transport.receive(frame), subtasks: namespace, job: this.bindings[this.#jobBinding] as DurableObjectNamespaceLike | undefined }),
        epoch: () => this.#hosting?.master,
      });
      this.#transport = transport;
    }
    return this.#transport;
  }

  async fetch(request: Request): Promise<Response> {
    this.#name ??= request.headers.get(OBJECT_NAME_HEADER) ?? request.headers.get(HOST_HEADER) ?? undefined;
    const path = new URL(request.url).pathname;
    // The keys of the job's storage this object owns (its subtasks' checkpoint and shared
    // files), for the master and other objects; outside the mailbox: it touches no subtask.
    if (path.startsWith(`${STORAGE_PATH}/`)) return serveStorage(request, this.storage);
    if (request.method === "POST" && path === FRAME_PATH) {
      const frame = new Uint8Array(await request.arrayBuffer());
      return this.#answer(() => this.mailbox.post(() => this.transport.receive(frame)));
    }
    if (request.method === "POST" && path === CONTROL_PATH) {
      const frame = new Uint8Array(await request.arrayBuffer());
      const master = request.headers.get(MASTER_HEADER) ?? "";
      return this.#answer(() => this.mailbox.post(() => this.#control(decodeFrame(frame), master)));
    }
    return Response.json({ errors: [`No route ${request.method} ${path} on a WeirSubtask object`], code: "not_found" }, { status: 404 });
  }

  async #answer(task: () => Promise<unknown>): Promise<Response> {
    try {
      await task();
      return new Response(null, { status: 204 });
    } catch (e) {
      const err = e as Error & { code?: string };
      const status = err.code === "host_failed" ? 409 : 500;
      return Response.json({ errors: [err.message], code: err.code ?? "job_failed" }, { status });
    }
  }

  #control(messages: Uint8Array[], master: string): void {
    for (const bytes of messages) {
      const m = decodeToHost(bytes);
      let hosting = this.#hosting;
      if (m.kind === "deploy") {
        if (!hosting || hosting.master !== master) hosting = this.#host(m, master);
      } else if (!hosting || hosting.master !== master || (hosting.executor.attempt ?? -1) < m.attempt) {
        if (m.kind === "cancel") continue;
        throw new WeirError("host_failed", `Subtask object ${this.#name} runs no attempt ${m.attempt} of this job master (it was restarted or evicted since the deploy)`);
      }
      hosting.executor.handle(m);
    }
  }

  /** A new executor for a new master incarnation, over this object's own copy of the graph. */
  #host(deploy: Extract<ToHost, { kind: "deploy" }>, master: string): Hosting {
    const registered = registeredJob();
    if (!registered) throw new WeirError("invalid_job", "The Worker registered no job: its default export must be weirWorker(buildJob)");
    const previous = this.#hosting;
    previous?.executor.stop();
    previous?.callbacks.stop();
    const storage = this.#jobStorageOf();
    // Builders read defaults in the StreamEnvironment constructor; a host restores nothing itself.
    const defaults = environmentDefaults();
    setEnvironmentDefaults({ ...defaults, restoreFrom: undefined, fresh: undefined });
    let env;
    try {
      env = registered.build({ storage, bindings: this.bindings });
    } finally {
      setEnvironmentDefaults(defaults);
    }
    if (!env || typeof env.jobGraph !== "function") {
      throw new WeirError("invalid_job", `The job-building function given to weirWorker must return a StreamEnvironment, got ${typeof env}`);
    }
    if (env.jobName !== deploy.jobName) {
      throw new WeirError("invalid_job", `Subtask object ${this.#name} built job "${env.jobName}", but the master deploys "${deploy.jobName}": the Worker's objects run different code`);
    }
    const graph = env.jobGraph();
    const place = edgePlacement(graph, env.jobName);
    this.#placement = (_jobId, s) => place(s);
    storage.route(storageRoutes(graph, env.jobName, place), this.#name);
    const job = this.#namespace(this.#jobBinding, "WeirJob");
    const name = this.#name ?? this.state.id.toString();
    const callbacks = new FrameOutbox(async (frame) => {
      const res = await job.get(job.idFromName(JOB_OBJECT_NAME)).fetch(new Request(`https://weir-job${CALLBACK_PATH}`, {
        method: "POST", body: frame as BodyInit, headers: { [HOST_HEADER]: name, [MASTER_HEADER]: master },
      }));
      if (res.status !== 204) throw new WeirError("host_failed", `The job master refused the reports of ${name} (${res.status}): ${(await res.text()).slice(0, 300)}`);
    }, () => {
      // The master is gone or moved on: what runs here serves nobody.
      if (this.#hosting === hosting) hosting.executor.stop();
    });
    const bucket = this.bindings[registered.savepointBucket] as R2BucketLike | undefined;
    const executor = new TaskExecutor({
      hostId: name,
      graph,
      storage,
      transport: this.transport,
      // A restored savepoint's path means here what it means in WeirJob (R2, else the job's
      // storage): this object reads its own subtasks' files there, never through the deploy.
      // A retained checkpoint's external_path (do://<WeirJob binding>/…) names the job's storage.
      openDirectory: cloudflareDirectories({
        jobStorage: storage,
        jobName: env.jobName,
        bucket,
        bucketBinding: registered.savepointBucket,
        checkpoints: { binding: registered.jobBinding, storage },
      }),
      clock: systemClock,
      scheduler: systemScheduler,
      send: (m) => callbacks.push(encodeControl(m)),
    });
    const hosting: Hosting = { master, executor, callbacks };
    this.#hosting = hosting;
    return hosting;
  }

  /** The job's storage as the job's code sees it here: this object's keys in its own storage, others in their owners'. */
  #jobStorageOf(): RoutedStorage {
    this.#jobStorage ??= new RoutedStorage({
      self: this.#name,
      local: this.storage,
      remote: objectStorages({ job: () => this.#namespace(this.#jobBinding, "WeirJob"), subtasks: () => this.#namespace(this.#namespaceBinding, "WeirSubtask") }),
      fallback: JOB_OBJECT_NAME,
      description: `job storage seen from ${this.#name ?? "a subtask object"}`,
    });
    return this.#jobStorage;
  }

  #namespace(binding: string, className: string): DurableObjectNamespaceLike {
    const namespace = this.bindings[binding] as DurableObjectNamespaceLike | undefined;
    if (!namespace || typeof namespace.get !== "function") {
      throw new WeirError("binding_missing", `The Worker has no binding ${binding} (a Durable Object namespace of class ${className})`);
    }
    return namespace;
  }
}
