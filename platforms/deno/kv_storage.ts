/**
 * `DenoKvStorage`: the storage adapter for Deno Deploy (and any Deno with `--unstable-kv`).
 * @module
 */
import { type StorageAdapter, checkKey } from "../../storage/adapter.ts";
import { WeirError } from "../../errors.ts";
import { type Kv, type KvAtomic, type KvKey, type KvKeyPart, KV_LIMITS, openKv } from "./kv_api.ts";

/** Options of a DenoKvStorage. */
export interface DenoKvStorageOptions {
  /** Key parts every weir key lives under, so that one database can hold other data too; default `["weir"]`. */
  prefix?: readonly KvKeyPart[];
  /**
   * A fence name (e.g. the job name). Opening takes the fence over; from then on every
   * commit of an adapter opened earlier under the same name is refused with
   * `storage_fenced`, so that an older process (an isolate the platform has not stopped
   * yet) can no longer change what the newest one writes. Flink fences its JobManager
   * leader the same way (a fencing token checked on every write).
   */
  fence?: string;
}

/** The record under a storage key: the bytes themselves, or where their chunks are. */
type Entry = { inline: Uint8Array } | { generation: string; sizeBytes: number; chunks: number };

/** A value up to this size lives inside its entry record (whose encoding adds a few bytes). */
const INLINE_BYTES_MAX = 60 * 1024;
/** Larger values are cut into chunks of this size, each one KV value. */
const CHUNK_BYTES = 60 * 1024;
/** What one commit may carry, below KV's 800 KiB so that keys and encoding fit too. */
const COMMIT_BYTES_BUDGET = KV_LIMITS.commitBytesMax - 48 * 1024;
/** A weir key is a path of a few short names; KV refuses keys above 2 KiB. */
const KEY_BYTES_MAX = 1024;
/** Optimistic retries of one pointer flip before contention is reported. */
const FLIP_ATTEMPTS_MAX = 64;
/** The highest code point; `prefix + this` bounds every string that starts with prefix. */
const MAX_CHAR = "\u{10FFFF}";

const utf8 = new TextEncoder();

/**
 * Deno KV as a weir storage adapter (`Deno.openKv(path?)`): on Deno Deploy the default
 * database, locally a SQLite file. Deno-only; under Bun or Node its first call rejects
 * with `storage_unavailable`, and importing it is harmless.
 *
 * How each `put` stays atomic despite KV's limits (64 KiB per value, 1000 mutations and
 * 800 KiB per atomic commit): a value up to 60 KiB is stored inside its entry in one set.
 * A larger one is cut into 60 KiB chunks written, a dozen per commit, under a fresh
 * generation id (`[...prefix, "chunk", key, generation, i]`) that no reader knows yet;
 * then one atomic commit, checked against the entry's versionstamp, flips the entry to the
 * new generation, and only after that are the old generation's chunks deleted. A reader
 * sees the old bytes or the new, never a mix; a crash before the flip leaves unreferenced
 * chunks (removed with their key's prefix), never a torn value. A checkpoint as a whole is
 * atomic the way it is on every adapter: its `_metadata` is written last, so recovery
 * never picks a checkpoint whose keys are not all there (Flink's completed-checkpoint
 * pointer). `delete` and `deletePrefix` remove entries before their chunks. With a
 * `fence`, every commit also checks the fence key's versionstamp, so an adapter opened
 * later under the same fence name stops this one's writes (`storage_fenced`).
 *
 * Idea: Flink's `FsCheckpointStorage` writes state files first and the metadata pointer
 * last; the generation flip is the KV form of write-then-rename.
 *
 * @throws {WeirError} from every call: `storage_unavailable` (not Deno, or no
 *   `--unstable-kv`), `storage_failed` (KV refused or failed; names the key and database),
 *   `storage_corrupt` (a chunk of the current generation is missing), `storage_fenced`
 *   (a newer adapter took the fence over), `invalid_storage_key` (a key above 1 KiB);
 *   `TypeError` for a key that could escape the root, as on every adapter.
 *
 * @example
 * ```ts
 * // Needs Deno with --unstable-kv (or "unstable": ["kv"] in deno.json, as here).
 * import { DenoKvStorage } from "./kv_storage.ts";
 * const storage = await DenoKvStorage.open(":memory:");
 * await storage.put("job/chk-1/big", new Uint8Array(1024 * 1024));
 * console.assert((await storage.get("job/chk-1/big"))?.length === 1024 * 1024);
 * storage.close();
 * ```
 */
export class DenoKvStorage implements StorageAdapter {
  readonly description: string;
  readonly #path: string | undefined;
  readonly #prefix: readonly KvKeyPart[];
  readonly #fence: string | undefined;
  /** The fence key's versionstamp this adapter set when it opened; every commit checks it. */
  #fenceVersionstamp: string | null = null;
  #kv: Promise<Kv> | undefined;
  #opened: Kv | undefined;
  #closed = false;

  /**
   * @param path a local database file, ":memory:", a KV Connect URL, or undefined for the
   *   default database (Deno Deploy). Opening happens at the first call; use
   *   {@link DenoKvStorage.open} to open at once and fail early.
   * @throws {WeirError} `invalid_option` when path or prefix is not usable.
   */
  constructor(path?: string, options: DenoKvStorageOptions = {}) {
    if (path !== undefined && (typeof path !== "string" || path.length === 0)) {
      throw new WeirError("invalid_option", `DenoKvStorage needs a database path, ":memory:" or nothing, got ${JSON.stringify(path)}`);
    }
    const prefix = options.prefix ?? ["weir"];
    if (!Array.isArray(prefix) || prefix.length === 0) {
      throw new WeirError("invalid_option", `Option prefix of DenoKvStorage must be a non-empty array of key parts, got ${JSON.stringify(prefix)}`);
    }
    if (options.fence !== undefined && (typeof options.fence !== "string" || options.fence.length === 0)) {
      throw new WeirError("invalid_option", `Option fence of DenoKvStorage must be a non-empty string, got ${JSON.stringify(options.fence)}`);
    }
    this.#path = path;
    this.#prefix = [...prefix];
    this.#fence = options.fence;
    this.description = `denokv:${path ?? "(default)"}`;
  }

  /**
   * Opens the database now, so that a missing flag or a bad path fails here.
   * @throws {WeirError} `storage_unavailable` outside Deno or without `--unstable-kv`; `storage_failed`.
   */
  static async open(path?: string, options?: DenoKvStorageOptions): Promise<DenoKvStorage> {
    const storage = new DenoKvStorage(path, options);
    await storage.#open();
    return storage;
  }

  #open(): Promise<Kv> {
    if (this.#closed) return Promise.reject(new WeirError("storage_failed", `${this.description} is closed`));
    this.#kv ??= openKv(this.#path).then(async (kv) => {
      if (this.#fence !== undefined) {
        try {
          const res = await kv.atomic().set(this.#fenceKey(), crypto.randomUUID()).commit();
          if (!res.ok || !res.versionstamp) throw new Error("the commit was refused");
          this.#fenceVersionstamp = res.versionstamp;
        } catch (e) {
          kv.close();
          throw new WeirError("storage_failed", `Cannot take fence ${JSON.stringify(this.#fence)} in ${this.description}: ${(e as Error).message}`, { cause: e });
        }
      }
      if (this.#closed) kv.close();
      else this.#opened = kv;
      return kv;
    });
    return this.#kv;
  }

  #fenceKey(): KvKey {
    return [...this.#prefix, "fence", this.#fence!];
  }

  /** An atomic operation that holds only while this adapter still owns its fence. */
  #atomic(kv: Kv): KvAtomic {
    const op = kv.atomic();
    return this.#fence === undefined ? op : op.check({ key: this.#fenceKey(), versionstamp: this.#fenceVersionstamp });
  }

  /** After a refused commit: throws storage_fenced when another adapter took the fence over. */
  async #checkFence(kv: Kv): Promise<void> {
    if (this.#fence === undefined) return;
    const now = await kv.get(this.#fenceKey());
    if (now.versionstamp !== this.#fenceVersionstamp) {
      throw new WeirError(
        "storage_fenced",
        `Fence ${JSON.stringify(this.#fence)} of ${this.description} was taken over by a newer process; this one may no longer write`,
      );
    }
  }

  #entryKey(key: string): KvKey {
    return [...this.#prefix, "entry", key];
  }
  #chunkKey(key: string, generation: string, i: number): KvKey {
    return [...this.#prefix, "chunk", key, generation, i];
  }

  /** Runs one storage call, turning KV's errors into a WeirError that names the key. */
  async #run<T>(what: string, key: string, fn: (kv: Kv) => Promise<T>): Promise<T> {
    const kv = await this.#open();
    try {
      return await fn(kv);
    } catch (e) {
      if (e instanceof WeirError) throw e;
      const why = e instanceof Error ? e.message : String(e);
      throw new WeirError("storage_failed", `Cannot ${what} ${JSON.stringify(key)} in ${this.description}: ${why}`, { cause: e });
    }
  }

  #checkKey(key: string): void {
    checkKey(key);
    if (utf8.encode(key).length > KEY_BYTES_MAX) {
      throw new WeirError("invalid_storage_key", `Storage key ${JSON.stringify(key.slice(0, 64))}… is longer than ${KEY_BYTES_MAX} bytes, which ${this.description} cannot hold`);
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    this.#checkKey(key);
    return this.#run("read", key, async (kv) => {
      // A concurrent put may flip the entry and delete the chunks between our two reads;
      // then the entry's versionstamp has moved and we read again.
      for (let attempt = 0; attempt < FLIP_ATTEMPTS_MAX; attempt++) {
        const entry = await kv.get<Entry>(this.#entryKey(key));
        if (entry.value === null) return undefined;
        if ("inline" in entry.value) return entry.value.inline;
        const bytes = await this.#readChunks(kv, key, entry.value);
        if (bytes !== undefined) return bytes;
        const again = await kv.get<Entry>(this.#entryKey(key));
        if (again.versionstamp === entry.versionstamp) {
          throw new WeirError("storage_corrupt", `Value of ${JSON.stringify(key)} in ${this.description} is missing chunks of generation ${(entry.value as { generation: string }).generation}`);
        }
      }
      throw new WeirError("storage_failed", `Cannot read ${JSON.stringify(key)} in ${this.description}: it kept changing during ${FLIP_ATTEMPTS_MAX} reads`);
    });
  }

  /** The chunks of one generation joined, or undefined when some are gone. */
  async #readChunks(kv: Kv, key: string, entry: { generation: string; sizeBytes: number; chunks: number }): Promise<Uint8Array | undefined> {
    const out = new Uint8Array(entry.sizeBytes);
    let offset = 0;
    let next = 0;
    for await (const chunk of kv.list<Uint8Array>({ prefix: [...this.#prefix, "chunk", key, entry.generation] }, { batchSize: 64 })) {
      if (chunk.key.at(-1) !== next || offset + chunk.value.length > out.length) return undefined;
      out.set(chunk.value, offset);
      offset += chunk.value.length;
      next++;
    }
    return next === entry.chunks && offset === entry.sizeBytes ? out : undefined;
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    this.#checkKey(key);
    if (!(bytes instanceof Uint8Array)) {
      return Promise.reject(new WeirError("invalid_option", `DenoKvStorage.put(${JSON.stringify(key)}) needs a Uint8Array, got ${typeof bytes}`));
    }
    // A copy now, so that a caller reusing its buffer while we write cannot change what lands.
    const copy = bytes.slice();
    return this.#run("write", key, async (kv) => {
      let entry: Entry;
      if (copy.length <= INLINE_BYTES_MAX) {
        entry = { inline: copy };
      } else {
        const generation = crypto.randomUUID();
        const chunks = Math.ceil(copy.length / CHUNK_BYTES);
        await this.#commitInBatches(kv, chunks, (i) => ({
          key: this.#chunkKey(key, generation, i),
          value: copy.subarray(i * CHUNK_BYTES, Math.min(copy.length, (i + 1) * CHUNK_BYTES)),
        }));
        entry = { generation, sizeBytes: copy.length, chunks };
      }
      const replaced = await this.#flip(kv, key, entry);
      if (replaced !== null && "generation" in replaced) await this.#deleteChunks(kv, key, replaced);
    });
  }

  /** Points key at entry (or removes it) in one checked commit; returns what it replaced. */
  async #flip(kv: Kv, key: string, entry: Entry | undefined): Promise<Entry | null> {
    const entryKey = this.#entryKey(key);
    for (let attempt = 0; attempt < FLIP_ATTEMPTS_MAX; attempt++) {
      const old = await kv.get<Entry>(entryKey);
      if (entry === undefined && old.value === null) return null;
      const op = this.#atomic(kv).check({ key: entryKey, versionstamp: old.versionstamp });
      const res = await (entry === undefined ? op.delete(entryKey) : op.set(entryKey, entry)).commit();
      if (res.ok) return old.value;
      await this.#checkFence(kv);
    }
    throw new WeirError("storage_failed", `Cannot write ${JSON.stringify(key)} in ${this.description}: ${FLIP_ATTEMPTS_MAX} concurrent writers won in a row`);
  }

  /**
   * Applies n mutations (a set when `value` is given, else a delete), as many per atomic
   * commit as KV's mutation and size limits allow.
   */
  async #commitInBatches(kv: Kv, n: number, mutation: (i: number) => { key: KvKey; value?: Uint8Array }): Promise<void> {
    let op = this.#atomic(kv);
    let count = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const m = mutation(i);
      const size = (m.value?.length ?? 0) + 256;
      if (count > 0 && (count === KV_LIMITS.mutationsPerCommitMax || bytes + size > COMMIT_BYTES_BUDGET)) {
        await this.#commit(kv, op);
        op = this.#atomic(kv);
        count = 0;
        bytes = 0;
      }
      if (m.value === undefined) op.delete(m.key);
      else op.set(m.key, m.value);
      count++;
      bytes += size;
    }
    if (count > 0) await this.#commit(kv, op);
  }

  async #commit(kv: Kv, op: KvAtomic): Promise<void> {
    if ((await op.commit()).ok) return;
    // The only check on these commits is the fence's; without one ok=false would be a KV fault.
    await this.#checkFence(kv);
    throw new Error("an atomic commit was refused");
  }

  async #deleteChunks(kv: Kv, key: string, entry: { generation: string; chunks: number }): Promise<void> {
    await this.#commitInBatches(kv, entry.chunks, (i) => ({ key: this.#chunkKey(key, entry.generation, i) }));
  }

  delete(key: string): Promise<void> {
    this.#checkKey(key);
    return this.#run("delete", key, async (kv) => {
      const removed = await this.#flip(kv, key, undefined);
      if (removed !== null && "generation" in removed) await this.#deleteChunks(kv, key, removed);
    });
  }

  list(prefix: string): Promise<string[]> {
    return this.#run("list", prefix, async (kv) => {
      const keys: string[] = [];
      for await (const e of kv.list<Entry>(this.#range("entry", prefix))) {
        const key = e.key[this.#prefix.length + 1] as string;
        if (key.startsWith(prefix)) keys.push(key);
      }
      // KV orders by UTF-8 bytes; sort as the other adapters do.
      return keys.sort();
    });
  }

  deletePrefix(prefix: string): Promise<void> {
    return this.#run("delete", prefix, async (kv) => {
      // Entries first: a reader never meets an entry whose chunks are already gone.
      for (const space of ["entry", "chunk"] as const) {
        const keys: KvKey[] = [];
        for await (const e of kv.list(this.#range(space, prefix), { batchSize: 500 })) {
          if ((e.key[this.#prefix.length + 1] as string).startsWith(prefix)) keys.push(e.key);
        }
        await this.#commitInBatches(kv, keys.length, (i) => ({ key: keys[i] }));
      }
    });
  }

  /** Every key of a space whose storage key starts with prefix. */
  #range(space: "entry" | "chunk", prefix: string): { start: KvKey; end: KvKey } {
    return { start: [...this.#prefix, space, prefix], end: [...this.#prefix, space, prefix + MAX_CHAR] };
  }

  /** Closes the database; later calls reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Closed at once when open, so that the same path can be reopened right after.
    this.#opened?.close();
    this.#opened = undefined;
  }
}
