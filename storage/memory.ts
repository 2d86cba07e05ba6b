import { WeirError } from "../errors.ts";
import { type StorageAdapter, checkKey, handOver, takeHandedOver } from "./adapter.ts";

/**
 * Keeps everything in a Map: for tests, the simulator, and jobs that need no durability.
 * Not for measuring pauses: putParts() copies a file's parts into one buffer on the
 * caller's thread, the subtask's (a heap checkpoint of 1 M keys: 10 MB, 25–45 ms on a VM
 * where fresh memory costs about 3 ms per MiB), where FileStorage writes them off it.
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
  /** put() keeps a copy (bytes handed over aside), putParts() a joined one. */
  readonly keepsNoBuffers = true;
  #data = new Map<string, Uint8Array>();

  get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const v = this.#data.get(key);
    return Promise.resolve(v === undefined ? undefined : v.slice());
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    // A copy, so that a caller reusing its buffer cannot change what was stored; bytes
    // handed over (a buffer putParts() joined, a part an upload read) are no caller's.
    this.#data.set(key, takeHandedOver(bytes) ? bytes : bytes.slice());
    return Promise.resolve();
  }
  /**
   * The parts joined into one buffer, which put() then keeps as it is: one copy of the
   * file, where putInParts() joining them for put() made two (20 MB copied in one step for a
   * 10 MB heap snapshot). Goes through put(), so that a subclass's put() sees every write.
   * A producer that throws leaves the old bytes, or none.
   * @throws {WeirError} `storage_failed` naming the key, with the producer's error as cause
   */
  async putParts(key: string, parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    checkKey(key);
    const all: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const p of parts) {
        all.push(p);
        size += p.length;
      }
    } catch (e) {
      throw new WeirError("storage_failed", `Cannot write ${key} to memory: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    const joined = new Uint8Array(size);
    let at = 0;
    for (const p of all) {
      joined.set(p, at);
      at += p.length;
    }
    return this.put(key, handOver(joined));
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
