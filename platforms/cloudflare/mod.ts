/**
 * weir on Cloudflare: what a Worker imports to keep weir's state in Durable Objects.
 * The Durable Object classes of the job master and the subtasks build on these.
 * @module
 */
export { DO_CHUNK_BYTES_MAX, type DurableObjectSqlStorage, DurableObjectStorageAdapter } from "./do_storage.ts";
