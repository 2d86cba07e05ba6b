/**
 * Chunks of CBOR writers (cbor_writer.ts) kept for the next file once a storage has
 * written them out: a heap changelog of a million keys is about 8 MiB of 1 MiB chunks per
 * checkpoint, and on the benchmark VM fresh memory costs about 2 ms per MiB (page faults;
 * 8 MiB took 13-20 ms on Bun, where a chunk reused is written at memory speed).
 * Only the pool's own chunks come back, each whole, once.
 * @module
 */

/**
 * Equal chunks, taken by writers and given back after their bytes were stored.
 *
 * @example
 * ```ts
 * import { ChunkPool } from "./chunk_pool.ts";
 * const pool = new ChunkPool(1024);
 * const c = pool.take();
 * pool.give([c.subarray(0, 10)]);
 * console.assert(pool.take() === c || pool.take().length === 1024);
 * ```
 */
export class ChunkPool {
  /** Bytes of every chunk. */
  readonly chunkBytes: number;
  readonly #maxChunks: number;
  readonly #free: Uint8Array[] = [];
  /** The buffers of chunks this pool made, out or in: nothing else is taken back. */
  readonly #made = new WeakMap<ArrayBufferLike, Uint8Array>();
  readonly #kept = new WeakSet<ArrayBufferLike>();

  /** `chunkBytes`: the size of a chunk; `maxBytes`: how many bytes of chunks are kept at most (default 32 MiB). */
  constructor(chunkBytes: number, maxBytes = 32 << 20) {
    this.chunkBytes = chunkBytes;
    this.#maxChunks = Math.floor(maxBytes / chunkBytes);
  }

  /** Chunks kept now. */
  get size(): number {
    return this.#free.length;
  }

  /** A chunk of `chunkBytes`, kept or new; its bytes are whatever was written there before. */
  take(): Uint8Array {
    const c = this.#free.pop();
    if (c !== undefined) {
      this.#kept.delete(c.buffer);
      return c;
    }
    const fresh = new Uint8Array(this.chunkBytes);
    this.#made.set(fresh.buffer, fresh);
    return fresh;
  }

  /**
   * Takes back the chunks under `parts` (views of them, as a writer's takeParts() gives);
   * parts of other buffers are left alone. The caller and everything it gave the parts to
   * are done with them: the next take() hands them out to be written over.
   */
  give(parts: Iterable<Uint8Array>): void {
    for (const p of parts) {
      const chunk = this.#made.get(p.buffer);
      if (chunk === undefined || this.#kept.has(chunk.buffer) || this.#free.length >= this.#maxChunks) continue;
      this.#kept.add(chunk.buffer);
      this.#free.push(chunk);
    }
  }
}
