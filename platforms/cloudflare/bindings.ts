/**
 * The slices of Cloudflare's runtime types weir uses, typed here so that the core and the
 * package need no `@cloudflare/workers-types`: a Durable Object's state, a namespace to
 * reach objects by name, and an R2 bucket.
 * @module
 */
import type { DurableObjectSqlStorage } from "./do_storage.ts";

/** `ctx.storage` of a SQLite-backed Durable Object: the SQL API plus alarms. */
export interface DurableObjectStorageLike extends DurableObjectSqlStorage {
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number | Date): Promise<void>;
  deleteAlarm(): Promise<void>;
}

/** The `ctx` (DurableObjectState) a Durable Object's constructor receives. */
export interface DurableObjectStateLike {
  readonly id: { toString(): string; readonly name?: string };
  readonly storage: DurableObjectStorageLike;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

/** A stub of a Durable Object: its fetch (and, for RPC, its methods). */
export interface DurableObjectStubLike {
  fetch(request: Request): Promise<Response>;
}

/** A Durable Object namespace binding (`[[durable_objects.bindings]]` in wrangler.toml). */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): DurableObjectStubLike;
}

/** An R2 object as `get` returns it. */
export interface R2ObjectBodyLike {
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** An R2 bucket binding (`[[r2_buckets]]` in wrangler.toml): the calls R2Storage makes. */
export interface R2BucketLike {
  get(key: string): Promise<R2ObjectBodyLike | null>;
  put(key: string, value: ArrayBuffer | Uint8Array): Promise<unknown>;
  delete(keys: string | string[]): Promise<void>;
  list(options: { prefix?: string; cursor?: string; limit?: number }): Promise<{ objects: { key: string }[]; truncated: boolean; cursor?: string }>;
}

/** The bindings of a Worker (its `env`): anything, looked up by name. */
export type WorkerBindings = Record<string, unknown>;
