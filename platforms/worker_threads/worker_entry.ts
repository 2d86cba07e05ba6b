/**
 * What runs inside a Worker started by WorkerHost: imports the job's module, builds the
 * job graph from the same code as the main thread, and runs a TaskExecutor whose control
 * messages travel over the worker's port. Channel frames go straight to another Worker
 * when the main thread handed this one a MessagePort to it (`peer`) and the deploy's
 * `placement` puts the other end there; everything else goes to the main thread, which
 * delivers or relays it.
 * @module
 */
import { WeirError } from "../../errors.ts";
import { systemClock, systemScheduler } from "../system.ts";
import { TaskExecutor } from "../../runtime/remote/task_executor.ts";
import { decodeToHost, encodeControl } from "../../runtime/remote/control_wire.ts";
import type { StreamEnvironment } from "../../dataflow/environment.ts";
import { type ThreadFrame, WorkerThreadTransport } from "./transport.ts";
import { DEFAULT_STORAGE_DIR, openDirectory } from "../../storage/directory.ts";
import { MemoryStorage } from "../../storage/memory.ts";

const scope = globalThis as unknown as { postMessage(m: unknown, t?: Transferable[]): void; onmessage: ((e: MessageEvent) => void) | null };
let executor: TaskExecutor | undefined;
let transport: WorkerThreadTransport | undefined;
const early: unknown[] = [];
/** The thread of every subtask of the attempt being deployed, by "vertexId/index". */
const placement = new Map<string, string>();
/** Other Workers this one has a port to. */
const direct = new Map<string, MessagePort>();

type Incoming = { t: string; b?: Uint8Array; id?: string; port?: MessagePort; table?: [string, string][] };

function handle(m: Incoming): void {
  if (!executor || !transport) return void early.push(m);
  switch (m.t) {
    case "weir-data":
      return transport.receive(m as unknown as ThreadFrame);
    case "control":
      return executor.handle(decodeToHost(m.b!));
    case "placement":
      // Posted just before its deploy: channels open only after it.
      placement.clear();
      for (const [k, thread] of m.table!) placement.set(k, thread);
      return;
    case "peer": {
      const { id, port } = m as { id: string; port: MessagePort };
      // A restarted Worker gets new ports; the old one led to its dead incarnation.
      direct.get(id)?.close();
      direct.set(id, port);
      port.onmessage = (e: MessageEvent) => handle(e.data);
      transport.addPeer(id, port);
      return;
    }
  }
}

/** Another Worker when this one has a port to it, else the main thread (which relays). */
function threadOf(s: { vertexId: string; subtaskIndex: number }): string {
  const t = placement.get(`${s.vertexId}/${s.subtaskIndex}`);
  return t !== undefined && direct.has(t) ? t : "main";
}

scope.onmessage = (e: MessageEvent) => {
  const m = e.data;
  if (m?.t !== "init") return handle(m);
  void (async () => {
    const mod = await import(m.module);
    if (typeof mod[m.export] !== "function") {
      throw new WeirError("invalid_option", `Module ${m.module} has no exported function "${m.export}" that builds the job (exports: ${Object.keys(mod).join(", ") || "none"})`);
    }
    const env: StreamEnvironment = await mod[m.export](m.args);
    if (env.options.storage instanceof MemoryStorage) {
      // Each thread would have its own: the master's _metadata and this Worker's state files
      // would never meet, and the first restore would fail ("No _metadata in memory/…").
      throw new WeirError("invalid_option", `Job built by ${m.export} in ${m.module} uses MemoryStorage, which is not shared between threads: subtasks in a Worker need storage every thread reaches (FileStorage, SqliteStorage, or none for the default .weir directory)`);
    }
    transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf });
    transport.addPeer("main", { postMessage: (x, t) => scope.postMessage(x, t) });
    executor = new TaskExecutor({
      hostId: m.hostId,
      graph: env.jobGraph(),
      // The master's default when the job names none (environment.ts): the same directory.
      storage: env.options.storage ?? openDirectory(DEFAULT_STORAGE_DIR, "The default storage").storage,
      sameStorage: true,
      // A restoreFrom given in code as { storage, path } is the same storage here (built by the same code).
      restoreStorage: typeof env.options.restoreFrom === "object" ? env.options.restoreFrom.storage : undefined,
      transport,
      clock: systemClock,
      scheduler: systemScheduler,
      send: (msg) => {
        const b = encodeControl(msg);
        scope.postMessage({ t: "control", b }, [b.buffer as ArrayBuffer]);
      },
    });
    for (const x of early.splice(0)) handle(x as Incoming);
  })().catch((err) => scope.postMessage({ t: "error", message: String(err?.stack ?? err) }));
};
