import { type StorageAdapter, checkKey } from "./adapter.ts";

/**
 * Keeps everything in a Map: for tests, the simulator, and jobs that need no durability.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "./memory.ts";
 * const s = new MemoryStorage();
 * await s.put("a/b", new Uint8Array([1]));
 * console.assert((await s.get("a/b"))?.[0] === 1);
 * ```
 */
export class MemoryStorage implements StorageAdapter {
  readonly description = "memory";
  #data = new Map<string, Uint8Array>();

  get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const v = this.#data.get(key);
    return Promise.resolve(v === undefined ? undefined : v.slice());
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    // A copy, so that a caller reusing its buffer cannot change what was stored.
    this.#data.set(key, bytes.slice());
    return Promise.resolve();
  }
  delete(key: string): Promise<void> {
    checkKey(key);
    this.#data.delete(key);
    return Promise.resolve();
  }
  list(prefix: string): Promise<string[]> {
    return Promise.resolve([...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort());
  }
  deletePrefix(prefix: string): Promise<void> {
    for (const k of [...this.#data.keys()]) if (k.startsWith(prefix)) this.#data.delete(k);
    return Promise.resolve();
  }
  /** Total bytes held; for tests and the simulator. */
  get sizeBytes(): number {
    let n = 0;
    for (const v of this.#data.values()) n += v.length;
    return n;
  }
}
