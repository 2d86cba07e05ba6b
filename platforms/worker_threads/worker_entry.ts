/**
 * What runs inside a Worker started by WorkerHost: imports the job's module, builds the
 * job graph from the same code as the main thread, and runs a TaskExecutor whose control
 * messages and channel frames travel over the worker's port.
 * @module
 */
import { WeirError } from "../../errors.ts";
import { systemClock, systemScheduler } from "../system.ts";
import { TaskExecutor } from "../../runtime/remote/task_executor.ts";
import { decodeToHost, encodeControl } from "../../runtime/remote/control_wire.ts";
import type { StreamEnvironment } from "../../dataflow/environment.ts";
import { type ThreadFrame, WorkerThreadTransport } from "./transport.ts";

const scope = globalThis as unknown as { postMessage(m: unknown, t?: Transferable[]): void; onmessage: ((e: MessageEvent) => void) | null };
let executor: TaskExecutor | undefined;
let transport: WorkerThreadTransport | undefined;
const early: unknown[] = [];

function handle(m: { t: string; b?: Uint8Array }): void {
  if (!executor || !transport) return void early.push(m);
  if (m.t === "weir-data") transport.receive(m as unknown as ThreadFrame);
  else if (m.t === "control") executor.handle(decodeToHost(m.b!));
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
    transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: () => "main" });
    transport.addPeer("main", { postMessage: (x, t) => scope.postMessage(x, t) });
    executor = new TaskExecutor({
      hostId: m.hostId,
      graph: env.jobGraph(),
      storage: env.options.storage!,
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
    for (const x of early.splice(0)) handle(x as { t: string; b?: Uint8Array });
  })().catch((err) => scope.postMessage({ t: "error", message: String(err?.stack ?? err) }));
};
