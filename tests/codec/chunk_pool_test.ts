/** Chunks of CBOR writers reused once stored (codec/chunk_pool.ts). */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ChunkPool } from "../../codec/chunk_pool.ts";
import { CborWriter } from "../../codec/cbor_writer.ts";
import { decode } from "../../codec/cbor.ts";
import { joinParts } from "../../storage/adapter.ts";

describe("ChunkPool", () => {
  test("hands out chunks of powers of two from 4 KiB; takes back its own, whole and once, from views of them; leaves other buffers alone", () => {
    const pool = new ChunkPool();
    const a = pool.take(5000);
    assert.equal(a.length, 8192);
    assert.equal(pool.take(1).length, 4096);
    pool.give([a.subarray(0, 5), a.subarray(5, 9), new Uint8Array(8192), new Uint8Array(a.buffer.slice(0))]);
    assert.equal(pool.bytes, 8192);
    assert.equal(pool.take(4096).length, 4096, "another size: a new chunk");
    assert.equal(pool.take(8192).buffer, a.buffer);
    assert.equal(pool.bytes, 0);
    assert.notEqual(pool.take(8192).buffer, a.buffer);
  });

  test("a request over the largest chunk gets a buffer of its own, never kept", () => {
    const pool = new ChunkPool(8192);
    const big = pool.take(10_000);
    assert.equal(big.length, 10_000);
    pool.give([big]);
    assert.equal(pool.bytes, 0);
  });

  test("keeps at most maxBytes of chunks, and none transferred away", () => {
    const pool = new ChunkPool(1 << 20, 10_000);
    pool.give([pool.take(4096), pool.take(4096), pool.take(4096)]);
    assert.equal(pool.bytes, 8192);
    const c = pool.take(16384);
    structuredClone(c.buffer, { transfer: [c.buffer] });
    pool.give([c]);
    assert.equal(pool.bytes, 8192);
  });

  test("a writer with a pool writes into its chunks, and what it wrote reads back after they were written over", () => {
    const pool = new ChunkPool(8192);
    const first = new CborWriter("first", 16, true, pool);
    first.head(4, 2000);
    for (let i = 0; i < 2000; i++) first.value(`item ${i}`);
    const parts = first.takeParts();
    assert.ok(parts.length > 1 && parts.every((p) => p.buffer.byteLength >= 4096 && p.buffer.byteLength <= 8192), `parts of ${parts.map((p) => p.buffer.byteLength)} bytes`);
    assert.deepEqual(decode(joinParts(parts)), Array.from({ length: 2000 }, (_, i) => `item ${i}`));
    pool.give(parts);
    const second = new CborWriter("second", 16, true, pool);
    second.head(4, 2001);
    for (let i = 0; i < 2000; i++) second.value(i * 1000);
    // Larger than a chunk: a buffer of its own.
    second.value("x".repeat(10_000));
    const out = second.takeParts();
    assert.ok(out.some((p) => parts.some((q) => q.buffer === p.buffer)), "a chunk of the first writer was written over");
    assert.ok(out.some((p) => p.buffer.byteLength > 8192), "the long string's own buffer");
    assert.deepEqual(decode(joinParts(out)), [...Array.from({ length: 2000 }, (_, i) => i * 1000), "x".repeat(10_000)]);
  });
});
