/**
 * weir on Cloudflare: the `WeirJob` Durable Object (a whole job in one object), the helper
 * that turns a job-building function into the Worker's default export, and the storage
 * adapters on a Durable Object's SQLite storage and on R2.
 *
 * @example
 * ```ts ignore
 * import { WeirJob, weirWorker } from "weir-stream/cloudflare";
 * export { WeirJob };
 * export default weirWorker(({ storage }) => buildMyJob(storage));
 * ```
 * @module
 */
export { DO_CHUNK_BYTES_MAX, type DurableObjectSqlStorage, DurableObjectStorageAdapter } from "./do_storage.ts";
export { R2Storage } from "./r2_storage.ts";
export { cloudflareDirectories, directoryKey, PrefixStorage } from "./directories.ts";
export type { DurableObjectNamespaceLike, DurableObjectStateLike, R2BucketLike, WorkerBindings } from "./bindings.ts";
export { type EdgeJobBuilder, type EdgeJobContext, weirWorker, type WeirWorkerOptions } from "./worker.ts";
export { WeirJob } from "./weir_job.ts";
