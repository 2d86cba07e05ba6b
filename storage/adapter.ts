/**
 * The storage contract: bytes in, bytes out, under string keys that look like paths
 * ("wordcount/ab12/chk-3/_metadata"). Encoding is not the adapter's business (codec/).
 * @module
 */

/** A durable home for checkpoint data. */
export interface StorageAdapter {
  /** A short name for messages and stats, e.g. "file:/tmp/.weir". */
  readonly description: string;
  /** The bytes under key, or undefined when there are none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores bytes under key atomically: a reader sees the old bytes or the new, never a part. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /**
   * Optional: stores the concatenation of `parts` under key, as atomically as put(), taking
   * the parts one at a time so that the caller never joins a large file into one buffer
   * (a canonical SQLite checkpoint). A producer that throws, or a crash in the middle,
   * leaves the old bytes (or none) visible, never a part. Callers go through
   * {@link putInParts}, which joins the parts and calls put() for an adapter without it.
   * @throws {WeirError} `storage_failed` naming the key, with the producer's error as cause
   */
  putParts?(key: string, parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * Optional: true when put() and putParts() have written out or copied the bytes they were
   * given once they resolve, and keep no reference to them (bytes marked by handOver()
   * aside): the caller may then write over its buffers (heap changelog chunks,
   * codec/chunk_pool.ts). Without it, a caller gives its buffers up for good.
   */
  readonly keepsNoBuffers?: boolean;
  /** Removes key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every key that starts with prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Removes every key that starts with prefix. */
  deletePrefix(prefix: string): Promise<void>;
}

/** Buffers whose callers gave them up when they put them (handOver()). */
const handedOver = new WeakSet<Uint8Array>();

/**
 * Marks `bytes`, about to be put, as the storage's from then on: the caller never reads
 * or changes them again, so an adapter that keeps what it is given (MemoryStorage) need
 * not copy them, where a copy protects it from a caller that reuses its buffer. Adapters
 * that write the bytes elsewhere ignore the mark. Returns `bytes`.
 *
 * @example
 * ```ts
 * import { handOver } from "./adapter.ts";
 * import { MemoryStorage } from "./memory.ts";
 * const s = new MemoryStorage();
 * await s.put("a/b", handOver(new Uint8Array([1, 2])));
 * console.assert((await s.get("a/b"))?.length === 2);
 * ```
 */
export function handOver(bytes: Uint8Array): Uint8Array {
  handedOver.add(bytes);
  return bytes;
}

/** True, once, for bytes handOver() marked: the adapter may keep them as they are. */
export function takeHandedOver(bytes: Uint8Array): boolean {
  return handedOver.delete(bytes);
}

/** Rejects keys that could escape a storage root or be read ambiguously. */
export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0 || key.startsWith("/") || key.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw new TypeError(`Invalid storage key ${JSON.stringify(key)}`);
  }
}

/** Where a caller's buffers go once stored, to be written over (codec/chunk_pool.ts ChunkPool). */
export interface BufferReuse {
  give(parts: Iterable<Uint8Array>): void;
}

/**
 * Stores the concatenation of `parts` under key: through the adapter's own putParts() when
 * it has one (memory bounded by a part), otherwise joined into one buffer for put(). With
 * `reuse`, an array of parts goes to it once stored, when the storage keeps none of the
 * buffers it is given (`keepsNoBuffers`): the caller gives the parts up by passing it.
 *
 * @example
 * ```ts
 * import { putInParts } from "./adapter.ts";
 * import { MemoryStorage } from "./memory.ts";
 * const s = new MemoryStorage();
 * await putInParts(s, "a/b", [Uint8Array.of(1), Uint8Array.of(2, 3)]);
 * console.assert((await s.get("a/b"))?.length === 3);
 * ```
 * @throws {WeirError} `storage_failed`; whatever the parts' producer throws (adapters without putParts)
 */
export async function putInParts(
  storage: StorageAdapter,
  key: string,
  parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  reuse?: BufferReuse,
): Promise<void> {
  if (storage.putParts) await storage.putParts(key, parts);
  else {
    const all: Uint8Array[] = [];
    let size = 0;
    for await (const p of parts) {
      all.push(p);
      size += p.length;
    }
    await storage.put(key, joinParts(all, size));
  }
  if (reuse && storage.keepsNoBuffers === true && Array.isArray(parts)) reuse.give(parts);
}

/** The parts in one buffer (the fallback for adapters that take a file whole). */
export function joinParts(parts: readonly Uint8Array[], size = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The bytes of a Node Buffer (what node:fs reads) as a plain Uint8Array: a view when the
 * buffer has its memory to itself, a copy when it is a slice of a shared pool. Copying
 * every file read cost a second pass over fresh memory (a 28 MB base: 100–150 ms of page
 * faults on a 2-core VM).
 */
export function ownBytes(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b);
}
