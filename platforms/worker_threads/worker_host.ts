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
}

/**
 * See the module documentation. Give it to the job as `runtime.remoteHosts[hostId]`, with
 * `runtime.transport` the same WorkerThreadTransport and `runtime.hostOf` naming `hostId`
 * for the subtasks it runs; call `terminate()` once the job ended. A Worker that fails to
 * start or dies fails the attempt with `host_failed`; one that does not answer a deploy
 * within `runtime.deployTimeoutMs` is terminated (`deploy_timeout`); the restart starts a
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

  constructor(options: WorkerHostOptions) {
    this.hostId = options.hostId;
    this.#options = options;
  }

  connect(handlers: ControlHandlers): TaskExecutorGateway {
    const worker = this.#worker ?? this.#start();
    this.#handlers = handlers;
    let closed = false;
    return {
      send: (m) => {
        if (closed) return;
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
    this.#worker?.terminate();
    this.#worker = undefined;
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
    return worker;
  }

  #died(error: Error): void {
    this.terminate();
    this.#handlers?.failed(error);
  }
}
