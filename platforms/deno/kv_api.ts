/**
 * The slice of Deno KV's API that weir uses, declared here because the type-check runs
 * with Bun's types, and the one place that reaches for `Deno.openKv`.
 * @module
 */
import { WeirError } from "../../errors.ts";

/** One part of a KV key (Deno.KvKeyPart). */
export type KvKeyPart = string | number | bigint | boolean | Uint8Array;
/** A KV key: a tuple of parts, ordered part by part (Deno.KvKey). */
export type KvKey = readonly KvKeyPart[];

/** An entry as Deno KV returns it; `versionstamp` is null when the key is absent. */
export interface KvEntryMaybe<T> {
  key: KvKey;
  value: T | null;
  versionstamp: string | null;
}

/** One step of an atomic operation (Deno.AtomicOperation), applied all or nothing. */
export interface KvAtomic {
  check(...checks: { key: KvKey; versionstamp: string | null }[]): KvAtomic;
  set(key: KvKey, value: unknown): KvAtomic;
  delete(key: KvKey): KvAtomic;
  commit(): Promise<{ ok: boolean; versionstamp?: string }>;
}

/** A selector for Deno.Kv.list: a key range, start inclusive, end exclusive. */
export interface KvRange {
  start: KvKey;
  end: KvKey;
}

/** An open Deno KV database (Deno.Kv). */
export interface Kv {
  get<T>(key: KvKey): Promise<KvEntryMaybe<T>>;
  list<T>(selector: KvRange | { prefix: KvKey }, options?: { batchSize?: number }): AsyncIterable<{ key: KvKey; value: T; versionstamp: string }>;
  atomic(): KvAtomic;
  close(): void;
}

/**
 * Deno KV's documented limits (denokv_proto's limits.rs): a value is at most 64 KiB, a
 * commit at most 1000 mutations and 800 KiB of keys and values, a key at most 2 KiB.
 */
export const KV_LIMITS = {
  valueBytesMax: 65_536,
  mutationsPerCommitMax: 1000,
  commitBytesMax: 819_200,
  keyBytesMax: 2048,
} as const;

/**
 * Opens Deno KV at `path` (a local SQLite file, ":memory:", a KV Connect URL, or the
 * default database when undefined, as on Deno Deploy).
 *
 * @throws {WeirError} `storage_unavailable` outside Deno or without `--unstable-kv`;
 *   `storage_failed` when the database cannot be opened.
 */
export async function openKv(path: string | undefined): Promise<Kv> {
  const deno = (globalThis as { Deno?: { openKv?: (path?: string) => Promise<Kv> } }).Deno;
  if (deno === undefined) {
    throw new WeirError("storage_unavailable", `DenoKvStorage needs Deno (Deno.openKv), but this runtime is not Deno; use FileStorage or SqliteStorage here`);
  }
  if (typeof deno.openKv !== "function") {
    throw new WeirError(
      "storage_unavailable",
      `Deno.openKv is not available: run deno with --unstable-kv or add "unstable": ["kv"] to deno.json (Deno Deploy has it enabled)`,
    );
  }
  try {
    return await deno.openKv(path);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new WeirError("storage_failed", `Cannot open Deno KV at ${JSON.stringify(path ?? "(default)")}: ${why}`, { cause: e });
  }
}
