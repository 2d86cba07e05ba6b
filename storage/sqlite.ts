import { DatabaseSync, type StatementSync } from "node:sqlite";
import { type StorageAdapter, checkKey } from "./adapter.ts";
import { WeirError } from "../errors.ts";

/**
 * One SQLite database file (or ":memory:") through node:sqlite, which Bun and Deno both
 * provide. Every put is one statement, so SQLite's journal makes it atomic: a crash
 * leaves the old value or the new one. WAL mode lets readers run beside a writer.
 *
 * @example
 * ```ts
 * import { SqliteStorage } from "./sqlite.ts";
 * const s = new SqliteStorage(":memory:");
 * await s.put("job/chk-1/_metadata", new Uint8Array([1]));
 * console.assert((await s.list("job/")).length === 1);
 * s.close();
 * ```
 */
export class SqliteStorage implements StorageAdapter {
  readonly description: string;
  /** SQLite copies the bytes it binds, before put() resolves. */
  readonly keepsNoBuffers = true;
  readonly #db: DatabaseSync;
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #delete: StatementSync;
  readonly #list: StatementSync;
  readonly #deletePrefix: StatementSync;

  constructor(path: string) {
    if (typeof path !== "string" || path.length === 0) {
      throw new WeirError("invalid_option", `SqliteStorage needs a database path or ":memory:", got ${JSON.stringify(path)}`);
    }
    this.description = `sqlite:${path}`;
    try {
      this.#db = new DatabaseSync(path);
      this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
      this.#db.exec("CREATE TABLE IF NOT EXISTS weir_storage (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID");
    } catch (e) {
      throw new WeirError("storage_failed", `Cannot open ${this.description}: ${(e as Error).message}`, { cause: e });
    }
    this.#get = this.#db.prepare("SELECT value FROM weir_storage WHERE key = ?");
    this.#put = this.#db.prepare("INSERT INTO weir_storage (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.#delete = this.#db.prepare("DELETE FROM weir_storage WHERE key = ?");
    // Keys under a prefix are the range [prefix, prefix + U+FFFF): an index scan, no LIKE escaping.
    this.#list = this.#db.prepare("SELECT key FROM weir_storage WHERE key >= ? AND key < ? ORDER BY key");
    this.#deletePrefix = this.#db.prepare("DELETE FROM weir_storage WHERE key >= ? AND key < ?");
  }

  #run<T>(what: string, key: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(new WeirError("storage_failed", `Cannot ${what} ${key} in ${this.description}: ${(e as Error).message}`, { cause: e }));
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.#run("read", key, () => {
      const row = this.#get.get(key) as { value: Uint8Array } | undefined;
      return row ? new Uint8Array(row.value) : undefined;
    });
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    return this.#run("write", key, () => void this.#put.run(key, bytes));
  }
  delete(key: string): Promise<void> {
    checkKey(key);
    return this.#run("delete", key, () => void this.#delete.run(key));
  }
  list(prefix: string): Promise<string[]> {
    return this.#run("list", prefix, () => (this.#list.all(prefix, prefix + "\uffff") as { key: string }[]).map((r) => r.key));
  }
  deletePrefix(prefix: string): Promise<void> {
    return this.#run("delete", prefix, () => void this.#deletePrefix.run(prefix, prefix + "\uffff"));
  }
  /** Closes the database; the adapter cannot be used after. */
  close(): void {
    this.#db.close();
  }
}
