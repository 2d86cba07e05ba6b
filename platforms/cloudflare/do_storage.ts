/**
 * weir's storage adapter on a Durable Object's own SQLite-backed storage.
 * @module
 */
import { WeirError } from "../../errors.ts";
import { type StorageAdapter, checkKey } from "../../storage/adapter.ts";

/**
 * The slice of a Durable Object's `ctx.storage` this adapter uses: the SQL API of a
 * SQLite-backed object (`new_sqlite_classes` in wrangler.toml, `useSQLite` in miniflare).
 * Typed here so the core needs no Cloudflare type package.
 */
export interface DurableObjectSqlStorage {
  sql: {
    exec(query: string, ...bindings: unknown[]): { toArray(): Record<string, unknown>[] };
  };
  transactionSync<T>(fn: () => T): T;
}

/**
 * Bytes per row. Cloudflare limits a SQLite-backed object's row (and a string or BLOB) to
 * 2 MB; local workerd does not enforce it, so the adapter stays well below it on its own.
 */
export const DO_CHUNK_BYTES_MAX = 1024 * 1024;

/**
 * A {@link StorageAdapter} on a Durable Object's SQLite storage: the home of a subtask's
 * (or the job master's) checkpoint data on Cloudflare (DESIGN.md, "Edge").
 *
 * A value is split into rows of at most {@link DO_CHUNK_BYTES_MAX} bytes, so values of any
 * size fit under Cloudflare's 2 MB row limit. Every put replaces all rows of its key inside
 * one `transactionSync`, so a reader (or a restart after eviction) sees the old value or
 * the new one, never a mix of chunks. Methods return promises for the common contract,
 * though the SQL API is synchronous inside the object.
 *
 * @example
 * ```ts ignore
 * import { DurableObjectStorageAdapter } from "./do_storage.ts";
 * export class MyObject {
 *   storage: DurableObjectStorageAdapter;
 *   constructor(ctx: DurableObjectState) {
 *     this.storage = new DurableObjectStorageAdapter(ctx.storage, "subtask v1-0");
 *   }
 * }
 * ```
 */
export class DurableObjectStorageAdapter implements StorageAdapter {
  readonly description: string;
  readonly #storage: DurableObjectSqlStorage;
  readonly #chunkBytes: number;

  /**
   * @param storage `ctx.storage` of a SQLite-backed Durable Object.
   * @param name what messages call this storage, e.g. the object's name.
   * @throws {WeirError} `invalid_option` when `storage` has no SQL API (a KV-backed object).
   */
  constructor(storage: DurableObjectSqlStorage, name = "durable-object", options: { chunkBytes?: number } = {}) {
    if (!storage || typeof storage.sql?.exec !== "function" || typeof storage.transactionSync !== "function") {
      throw new WeirError(
        "invalid_option",
        `DurableObjectStorageAdapter needs the SQL API of a SQLite-backed Durable Object (new_sqlite_classes in wrangler.toml); ${name} has none`,
      );
    }
    const chunk = options.chunkBytes ?? DO_CHUNK_BYTES_MAX;
    if (!Number.isInteger(chunk) || chunk < 1 || chunk > DO_CHUNK_BYTES_MAX) {
      throw new WeirError("invalid_option", `Option chunkBytes must be an integer between 1 and ${DO_CHUNK_BYTES_MAX}, got ${chunk}`);
    }
    this.#storage = storage;
    this.#chunkBytes = chunk;
    this.description = `durable-object:${name}`;
    this.#run("open", name, () => {
      storage.sql.exec("CREATE TABLE IF NOT EXISTS weir_storage (key TEXT NOT NULL, chunk INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (key, chunk))");
    });
  }

  #run<T>(what: string, key: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof WeirError) throw e;
      throw new WeirError("storage_failed", `Cannot ${what} ${key} in ${this.description}: ${(e as Error).message}`, { cause: e });
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.#async(() =>
      this.#run("read", key, () => {
        const rows = this.#storage.sql.exec("SELECT chunk, value FROM weir_storage WHERE key = ? ORDER BY chunk", key).toArray();
        if (rows.length === 0) return undefined;
        const parts = rows.map((r, i) => {
          if (r.chunk !== i) throw new WeirError("storage_corrupt", `Value ${key} in ${this.description} lacks chunk ${i}`);
          return new Uint8Array(r.value as ArrayBuffer);
        });
        if (parts.length === 1) return parts[0];
        const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
        let at = 0;
        for (const p of parts) {
          out.set(p, at);
          at += p.byteLength;
        }
        return out;
      })
    );
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    return this.#async(() =>
      this.#run("write", key, () => {
        // At least one row, so an empty value is a value and not a missing key.
        const count = Math.max(1, Math.ceil(bytes.byteLength / this.#chunkBytes));
        this.#storage.transactionSync(() => {
          this.#storage.sql.exec("DELETE FROM weir_storage WHERE key = ?", key);
          for (let i = 0; i < count; i++) {
            // slice() copies: the caller may reuse its buffer once put() returned.
            const part = bytes.slice(i * this.#chunkBytes, (i + 1) * this.#chunkBytes);
            this.#storage.sql.exec("INSERT INTO weir_storage (key, chunk, value) VALUES (?, ?, ?)", key, i, part);
          }
        });
      })
    );
  }

  delete(key: string): Promise<void> {
    checkKey(key);
    return this.#async(() => this.#run("delete", key, () => void this.#storage.sql.exec("DELETE FROM weir_storage WHERE key = ?", key)));
  }

  list(prefix: string): Promise<string[]> {
    // Keys under a prefix are the range [prefix, prefix + U+FFFF): an index scan, no LIKE escaping.
    return this.#async(() =>
      this.#run("list", prefix, () =>
        this.#storage.sql.exec("SELECT key FROM weir_storage WHERE key >= ? AND key < ? AND chunk = 0 ORDER BY key", prefix, prefix + "\uffff")
          .toArray().map((r) => r.key as string)
      )
    );
  }

  deletePrefix(prefix: string): Promise<void> {
    return this.#async(() =>
      this.#run("delete", prefix, () => void this.#storage.sql.exec("DELETE FROM weir_storage WHERE key >= ? AND key < ?", prefix, prefix + "\uffff"))
    );
  }

  /** The largest row stored, in bytes: what Cloudflare's row limit applies to. */
  largestRowBytes(): number {
    const rows = this.#storage.sql.exec("SELECT max(length(value)) AS n FROM weir_storage").toArray();
    return Number(rows[0]?.n ?? 0);
  }

  /** Runs synchronous SQL work and turns its throw into a rejection, as every adapter's promise contract says. */
  #async<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(e);
    }
  }
}
