/**
 * Chunks of CBOR writers (cbor_writer.ts) kept for the next checkpoint once a storage has
 * written them out: a heap snapshot of a million keys is 8-10 MiB of chunks per checkpoint,
 * and fresh memory costs about 2 ms per MiB on the benchmark VM (page faults: 8 MiB took
 * 13-20 ms on Bun, whose allocator hands freed memory back to the system at once, and
 * chunk allocation was the largest part of a full snapshot's steps on Deno too), where a
 * chunk reused is written at memory speed. Chunks come in sizes of powers of two; only
 * the pool's own chunks come back, each whole, once.
 * @module
 */

/** The smallest chunk the pool hands out, bytes. */
const MIN_CHUNK_BYTES = 4096;

/**
 * The buffer of a pool's chunk: its class tells it from any other buffer without a weak
 * collection (a WeakMap entry per chunk slowed V8's scavenges enough to double a full
 * heap snapshot's steps where chunks did not come back).
 */
class ChunkBuffer extends ArrayBuffer {
  /** A copy (`slice()`) is a plain buffer, never taken for a chunk. */
  static override get [Symbol.species](): ArrayBufferConstructor {
    return ArrayBuffer;
  }
  /** In a free list (given back, not taken since). */
  kept = false;
}

/**
 * Chunks by size, taken by writers and given back after their bytes were stored.
 *
 * @example
 * ```ts
 * import { ChunkPool } from "./chunk_pool.ts";
 * const pool = new ChunkPool();
 * const c = pool.take(5000);
 * console.assert(c.length === 8192);
 * pool.give([c.subarray(0, 10)]);
 * console.assert(pool.take(8000).buffer === c.buffer);
 * ```
 */
export class ChunkPool {
  /** The largest chunk size, bytes: a larger request gets a buffer of its own, never kept. */
  readonly maxChunkBytes: number;
  readonly #maxBytes: number;
  /** Free chunks' buffers by size. */
  readonly #free = new Map<number, ChunkBuffer[]>();
  #bytes = 0;

  /** `maxChunkBytes` (a power of two, default 1 MiB); `maxBytes`: bytes of chunks kept at most (default 32 MiB). */
  constructor(maxChunkBytes = 1 << 20, maxBytes = 32 << 20) {
    this.maxChunkBytes = maxChunkBytes;
    this.#maxBytes = maxBytes;
  }

  /** Bytes of the chunks kept now. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * A chunk of at least `bytes` (the next power of two, 4 KiB or more), kept or new; its
   * bytes are whatever was written there before. Over maxChunkBytes: a buffer of its own.
   */
  take(bytes: number): Uint8Array {
    if (bytes > this.maxChunkBytes) return new Uint8Array(bytes);
    let size = MIN_CHUNK_BYTES;
    while (size < bytes) size *= 2;
    const kept = this.#free.get(size)?.pop();
    if (kept !== undefined) {
      kept.kept = false;
      this.#bytes -= size;
      return new Uint8Array(kept);
    }
    return new Uint8Array(new ChunkBuffer(size));
  }

  /**
   * Takes back the chunks under `parts` (views of them, as a writer's takeParts() gives);
   * parts of other buffers, or of a chunk transferred away, are left alone. The caller and
   * everything it gave the parts to are done with them: a later take() hands them out to
   * be written over.
   */
  give(parts: Iterable<Uint8Array>): void {
    for (const p of parts) {
      const b = p.buffer;
      // Another buffer, one given back already, or one transferred away (detached: empty).
      if (!(b instanceof ChunkBuffer) || b.kept || b.byteLength === 0) continue;
      if (this.#bytes + b.byteLength > this.#maxBytes) continue;
      b.kept = true;
      this.#bytes += b.byteLength;
      let list = this.#free.get(b.byteLength);
      if (list === undefined) this.#free.set(b.byteLength, (list = []));
      list.push(b);
    }
  }
}

/** The chunks of this process's checkpoint files (heap snapshots and changelogs). */
export const checkpointChunks: ChunkPool = new ChunkPool();
