/**
 * Subtasks in Worker threads (other cores), imported as `weir-stream/worker-threads`:
 * `WorkerHost` runs a job's subtasks in a Worker that builds the job from the same module,
 * and `WorkerThreadTransport` carries their channels by postMessage with transferred
 * buffers. Kept out of the main entry: it starts Workers from a module URL, which the
 * Cloudflare bundle has no use for.
 *
 * @example
 * ```ts
 * import { WorkerHost, WorkerThreadTransport } from "./mod.ts";
 * const hostOf = (s: { vertexId: string }) => (s.vertexId === "v1" ? "w1" : "main");
 * const transport = new WorkerThreadTransport({ threadOf: hostOf });
 * const w1 = new WorkerHost({ hostId: "w1", module: "file:///app/job.ts", export: "buildJob", args: {}, transport });
 * // env.options.runtime = { transport, hostOf, remoteHosts: { w1 } }; then env.execute()
 * w1.terminate();
 * ```
 * @module
 */
export { WorkerHost, type WorkerHostOptions } from "./worker_host.ts";
export { type PortLike, type ThreadFrame, WorkerThreadTransport, type WorkerThreadTransportOptions } from "./transport.ts";
