/**
 * A remote host in a Worker thread (another core): `connect()` starts the Worker once (and
 * again after it died), which runs worker_entry.ts: the job's module is imported there and
 * a TaskExecutor runs the subtasks the master deploys. Control messages travel as encoded
 * bytes, channel frames through the master's WorkerThreadTransport.
 * @module
 */
import type { ControlHandlers, RemoteHost, TaskExecutorGateway } from "../../runtime/remote/gateway.ts";
import { decodeToMaster, encodeControl } from "../../runtime/remote/control_wire.ts";
import { WeirError } from "../../errors.ts";
import type { WorkerThreadTransport } from "./transport.ts";

// The sources run as .ts; the package's build (dist/) as .js beside it. tsc rewrites
// import specifiers, not this URL, so the extension follows this module's own.
const ENTRY = import.meta.url.endsWith(".ts") ? "./worker_entry.ts" : "./worker_entry.js";

/** What a WorkerHost starts its Worker with. */
export interface WorkerHostOptions {
  hostId: string;
  /** URL of the module that builds the job (imported in the Worker). */
  module: string;
  /** Its export: a function (args) → StreamEnvironment, the same one the main thread calls. */
  export: string;
  /** Structured-cloneable arguments for it. */
  args: unknown;
  /** The main thread's transport: the Worker becomes its peer `hostId`. */
  transport: WorkerThreadTransport;
  /**
   * Give this Worker a MessagePort to every other live Worker of the same transport, so
   * that their channels skip the main thread (default true); false: every frame goes
   * through the main thread, which relays it.
   */
  direct?: boolean;
}

/** The live Workers of each transport by host id: a new one gets a port to each. */
const workersOf = new WeakMap<WorkerThreadTransport, Map<string, Worker>>();

/**
 * See the module documentation. Give it to the job as `runtime.remoteHosts[hostId]`, with
 * `runtime.transport` the same WorkerThreadTransport and `runtime.hostOf` naming `hostId`
 * for the subtasks it runs; call `terminate()` once the job ended. A Worker that fails to
 * start or dies fails the attempt with `host_failed`; one that does not answer a deploy
 * and sends nothing for `runtime.deployTimeoutMs` is terminated (`deploy_timeout`); the restart starts a
 * new Worker either way.
 *
 * @example
 * ```ts
 * import { WorkerHost, WorkerThreadTransport } from "./mod.ts";
 * const transport = new WorkerThreadTransport({ threadOf: (s) => (s.vertexId === "v1" ? "w1" : "main") });
 * // The Worker starts on the job's first deploy; nothing runs yet.
 * const host = new WorkerHost({ hostId: "w1", module: "file:///app/job.ts", export: "buildJob", args: {}, transport });
 * console.assert(host.started === 0);
 * host.terminate();
 * ```
 */
export class WorkerHost implements RemoteHost {
  readonly hostId: string;
  readonly #options: WorkerHostOptions;
  #worker: Worker | undefined;
  #handlers: ControlHandlers | undefined;
  /** Workers started (1 + restarts after a death). */
  started = 0;
  /** MessageChannels this host's Workers were given to other Workers. */
  portsHandedOut = 0;

  constructor(options: WorkerHostOptions) {
    this.hostId = options.hostId;
    this.#options = options;
  }

  /** The transport its channels travel over: the job's `runtime.transport` must be this one. */
  get transport(): WorkerThreadTransport {
    return this.#options.transport;
  }

  connect(handlers: ControlHandlers): TaskExecutorGateway {
    const worker = this.#worker ?? this.#start();
    this.#handlers = handlers;
    let closed = false;
    return {
      send: (m) => {
        if (closed) return;
        if (m.kind === "deploy") this.#postPlacement(worker, m.graph.vertices);
        const b = encodeControl(m);
        worker.postMessage({ t: "control", b }, [b.buffer as ArrayBuffer]);
      },
      close: () => {
        closed = true;
        if (this.#handlers === handlers) this.#handlers = undefined;
      },
    };
  }

  /** Stops the Worker (at the end of a job). */
  terminate(): void {
    const live = workersOf.get(this.#options.transport);
    if (live?.get(this.hostId) === this.#worker) live?.delete(this.hostId);
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  /** Where every subtask of the attempt runs, for the Worker's direct sends; before the deploy on the same port. */
  #postPlacement(worker: Worker, vertices: readonly { id: string; parallelism: number }[]): void {
    if (this.#options.direct === false) return;
    const table: [string, string][] = [];
    for (const v of vertices) {
      for (let i = 0; i < v.parallelism; i++) table.push([`${v.id}/${i}`, this.#options.transport.threadOf({ vertexId: v.id, subtaskIndex: i })]);
    }
    worker.postMessage({ t: "placement", table });
  }

  /** Hands the new Worker and every other live Worker of the transport the two ends of a MessageChannel. */
  #introduce(worker: Worker): void {
    const o = this.#options;
    let live = workersOf.get(o.transport);
    if (!live) workersOf.set(o.transport, (live = new Map()));
    if (o.direct !== false) {
      for (const [id, other] of live) {
        if (id === o.hostId) continue;
        const channel = new MessageChannel();
        worker.postMessage({ t: "peer", id, port: channel.port1 }, [channel.port1]);
        other.postMessage({ t: "peer", id: o.hostId, port: channel.port2 }, [channel.port2]);
        this.portsHandedOut++;
      }
    }
    live.set(o.hostId, worker);
  }

  /** The master gave up on the Worker (a deploy it did not answer): it is terminated, the next connect starts another. */
  abandon(): void {
    this.terminate();
  }

  #start(): Worker {
    const o = this.#options;
    const worker = new Worker(new URL(ENTRY, import.meta.url).href, { type: "module" });
    this.started++;
    this.#worker = worker;
    o.transport.addPeer(o.hostId, worker);
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data;
      if (m?.t === "weir-data") o.transport.receive(m);
      else if (m?.t === "control") this.#handlers?.deliver(decodeToMaster(m.b));
      else if (m?.t === "error") this.#died(new WeirError("host_failed", `Worker host ${o.hostId} failed to start: ${m.message}`));
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault?.();
      this.#died(new WeirError("host_failed", `Worker host ${o.hostId} died: ${e.message}`));
    };
    worker.postMessage({ t: "init", module: o.module, export: o.export, args: o.args, hostId: o.hostId });
    this.#introduce(worker);
    return worker;
  }

  #died(error: Error): void {
    this.terminate();
    this.#handlers?.failed(error);
  }
}
