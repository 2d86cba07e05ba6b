/** Chunks of CBOR writers reused once stored (codec/chunk_pool.ts). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ChunkPool } from "../../codec/chunk_pool.ts";
import { CborWriter } from "../../codec/cbor_writer.ts";
import { decode } from "../../codec/cbor.ts";

describe("ChunkPool", () => {
  test("takes back its own chunks, whole and once, from views of them; other buffers are left alone", () => {
    const pool = new ChunkPool(64);
    const a = pool.take();
    assert.equal(a.length, 64);
    pool.give([a.subarray(0, 5), a.subarray(5, 9), new Uint8Array(64), new Uint8Array(a.buffer.slice(0))]);
    assert.equal(pool.size, 1);
    const again = pool.take();
    assert.equal(again, a);
    assert.equal(again.length, 64);
    assert.equal(pool.size, 0);
  });

  test("keeps at most maxBytes of chunks", () => {
    const pool = new ChunkPool(64, 128);
    const chunks = [pool.take(), pool.take(), pool.take()];
    pool.give(chunks);
    assert.equal(pool.size, 2);
  });

  test("a writer with a pool writes into its chunks, and what it wrote reads back after they were written over", () => {
    const pool = new ChunkPool(32);
    const joined = (parts: Uint8Array[]) => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    };
    const first = new CborWriter("first", 16, true, pool);
    first.head(4, 20);
    for (let i = 0; i < 20; i++) first.value(`item ${i}`);
    const parts = first.takeParts();
    assert.ok(parts.length > 1 && parts.every((p) => p.buffer.byteLength === 32), `parts of ${parts.map((p) => p.buffer.byteLength)} bytes`);
    assert.deepEqual(decode(joined(parts)), Array.from({ length: 20 }, (_, i) => `item ${i}`));
    pool.give(parts);
    const second = new CborWriter("second", 16, true, pool);
    second.head(4, 21);
    for (let i = 0; i < 20; i++) second.value(i * 1000);
    // Larger than a chunk: a buffer of its own.
    second.value("x".repeat(100));
    const out = second.takeParts();
    assert.ok(out.some((p) => parts.some((q) => q.buffer === p.buffer)), "a chunk of the first writer was written over");
    assert.ok(out.some((p) => p.buffer.byteLength > 32), "the long string's own buffer");
    assert.deepEqual(decode(joined(out)), [...Array.from({ length: 20 }, (_, i) => i * 1000), "x".repeat(100)]);
  });
});
