/**
 * A remote host in the master's own process: a TaskExecutor behind a connection that
 * encodes every control message to bytes and decodes it on a later turn of the
 * scheduler, in order, both ways. Nothing but bytes passes between master and host, so it
 * proves the control plane deterministically (on VirtualWorld) before a Worker thread or a
 * Durable Object carries it; `crash()` kills the host as a dead worker would.
 * @module
 */
import type { Clock, Scheduler } from "../../actors/time.ts";
import type { Transport } from "../../actors/transport.ts";
import type { JobGraph } from "../../dataflow/job_graph.ts";
import { WeirError } from "../../errors.ts";
import type { StorageAdapter } from "../../storage/adapter.ts";
import type { DirectoryOpener } from "../../storage/directory.ts";
import { decodeToHost, decodeToMaster, encodeControl } from "./control_wire.ts";
import type { ControlHandlers, RemoteHost, TaskExecutorGateway } from "./gateway.ts";
import { TaskExecutor } from "./task_executor.ts";

/** What a loopback host is built from: what a TaskExecutor needs, but the send. */
export interface LoopbackHostInit {
  hostId: string;
  /** Builds the host's own job graph (called once per host incarnation). */
  graph: () => JobGraph;
  storage: StorageAdapter;
  transport: Transport;
  clock: Clock;
  scheduler: Scheduler;
  /** As TaskExecutorInit: where the host opens a restored savepoint's directory path. */
  openDirectory?: DirectoryOpener;
  /** As TaskExecutorInit: the StorageAdapter given to `restoreFrom` in code. */
  restoreStorage?: StorageAdapter;
}

/** What crossed a loopback host's connections so far. */
export interface LoopbackStats {
  toHost: number;
  toMaster: number;
  bytes: number;
  /** Bytes of the largest message to the host (a deploy carries where state is, never the state). */
  largestToHost: number;
  /** Bytes of the largest message to the master (a host writes savepoint files itself where it can open their directory). */
  largestToMaster: number;
  /** Host incarnations started (1 + restarts after crash()). */
  incarnations: number;
}

/**
 * See the module documentation.
 *
 * @example
 * ```ts
 * import { LoopbackHost } from "./loopback.ts";
 * import { MemoryTransport } from "../../actors/memory_transport.ts";
 * import { MemoryStorage } from "../../storage/memory.ts";
 * import { systemClock, systemScheduler } from "../../platforms/system.ts";
 * const host = new LoopbackHost({
 *   hostId: "w1", graph: () => ({ vertices: [], edges: [], maxParallelism: 128 }),
 *   storage: new MemoryStorage(), transport: new MemoryTransport(), clock: systemClock, scheduler: systemScheduler,
 * });
 * const gateway = host.connect({ deliver() {}, failed() {} });
 * gateway.send({ kind: "start", attempt: 0 });
 * gateway.close();
 * console.assert(host.stats.toHost === 1);
 * ```
 */
export class LoopbackHost implements RemoteHost {
  readonly hostId: string;
  readonly stats: LoopbackStats = { toHost: 0, toMaster: 0, bytes: 0, largestToHost: 0, largestToMaster: 0, incarnations: 0 };
  readonly #init: LoopbackHostInit;
  #executor: TaskExecutor | undefined;
  #connection: Connection | undefined;

  constructor(init: LoopbackHostInit) {
    this.hostId = init.hostId;
    this.#init = init;
  }

  /** The host's executor while it lives (tests look at what runs there). */
  get executor(): TaskExecutor | undefined {
    return this.#executor;
  }

  connect(handlers: ControlHandlers): TaskExecutorGateway {
    this.#connection?.close();
    const executor = this.#executor ?? this.#start();
    const c = new Connection(this.#init.scheduler, handlers, executor, this.stats);
    this.#connection = c;
    return c;
  }

  /**
   * The host dies (as a worker that threw or an evicted object): what it ran stops, the
   * master hears `failed` on a later turn, and the next connect starts a new incarnation.
   */
  crash(reason = "crashed"): void {
    this.#executor?.stop();
    this.#executor = undefined;
    this.#connection?.fail(new WeirError("host_failed", `Loopback host ${this.hostId} ${reason}`));
    this.#connection = undefined;
  }

  /** The master gave up on this host: what it ran stops quietly, the next connect starts a new incarnation. */
  abandon(): void {
    this.#executor?.stop();
    this.#executor = undefined;
    this.#connection?.close();
    this.#connection = undefined;
  }

  #start(): TaskExecutor {
    const init = this.#init;
    this.stats.incarnations++;
    const executor: TaskExecutor = new TaskExecutor({
      hostId: init.hostId,
      graph: init.graph(),
      storage: init.storage,
      transport: init.transport,
      openDirectory: init.openDirectory,
      restoreStorage: init.restoreStorage,
      clock: init.clock,
      scheduler: init.scheduler,
      send: (m) => {
        const bytes = encodeControl(m);
        this.stats.toMaster++;
        this.stats.bytes += bytes.length;
        this.stats.largestToMaster = Math.max(this.stats.largestToMaster, bytes.length);
        if (this.#executor === executor) this.#connection?.toMaster(bytes);
      },
    });
    this.#executor = executor;
    return executor;
  }
}

/** One attempt's connection: two ordered lanes of bytes, each drained on later turns. */
class Connection implements TaskExecutorGateway {
  readonly #scheduler: Scheduler;
  readonly #handlers: ControlHandlers;
  readonly #executor: TaskExecutor;
  readonly #stats: LoopbackStats;
  readonly #toHost: Uint8Array[] = [];
  readonly #toMaster: Uint8Array[] = [];
  #scheduled = false;
  #closed = false;

  constructor(scheduler: Scheduler, handlers: ControlHandlers, executor: TaskExecutor, stats: LoopbackStats) {
    this.#scheduler = scheduler;
    this.#handlers = handlers;
    this.#executor = executor;
    this.#stats = stats;
  }

  send(message: Parameters<TaskExecutorGateway["send"]>[0]): void {
    if (this.#closed) return;
    const bytes = encodeControl(message);
    this.#stats.toHost++;
    this.#stats.bytes += bytes.length;
    this.#stats.largestToHost = Math.max(this.#stats.largestToHost, bytes.length);
    this.#toHost.push(bytes);
    this.#schedule();
  }

  toMaster(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#toMaster.push(bytes);
    this.#schedule();
  }

  /** The host's side stops what this attempt ran; nothing is delivered any more. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#toHost.length = 0;
    this.#toMaster.length = 0;
    const attempt = this.#executor.attempt;
    if (attempt !== undefined) this.#executor.handle({ kind: "cancel", attempt });
  }

  fail(error: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#scheduler.defer(() => this.#handlers.failed(error));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#scheduler.defer(() => this.#drain());
  }

  /** One turn delivers what is queued in both directions, each lane in order. */
  #drain(): void {
    this.#scheduled = false;
    try {
      for (const bytes of this.#toHost.splice(0)) {
        if (this.#closed) return;
        this.#executor.handle(decodeToHost(bytes));
      }
      for (const bytes of this.#toMaster.splice(0)) {
        if (this.#closed) return;
        this.#handlers.deliver(decodeToMaster(bytes));
      }
    } catch (e) {
      this.#closed = true;
      this.#handlers.failed(e);
    }
  }
}
