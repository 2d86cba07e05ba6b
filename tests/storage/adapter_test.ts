import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type StorageAdapter, handOver, ownBytes, putInParts } from "../../storage/adapter.ts";
import { MemoryStorage } from "../../storage/memory.ts";

describe("ownBytes()", () => {
  test("a buffer with its memory to itself is viewed as a plain Uint8Array, not copied", () => {
    const b = Buffer.alloc(64 * 1024, 7);
    const own = ownBytes(b);
    assert.equal(own.constructor, Uint8Array);
    assert.equal(own.buffer, b.buffer);
    assert.equal(own.length, b.length);
    b[5] = 9;
    assert.equal(own[5], 9, "a view of the same bytes");
  });

  test("a slice of a shared pool is copied: the copy owns exactly its bytes", () => {
    const b = Buffer.from("abc");
    const pooled = b.byteOffset !== 0 || b.byteLength !== b.buffer.byteLength ? b : Buffer.from(new Uint8Array(16).buffer, 4, 3);
    const own = ownBytes(pooled);
    assert.equal(own.constructor, Uint8Array);
    assert.notEqual(own.buffer, pooled.buffer);
    assert.equal(own.buffer.byteLength, pooled.length);
    assert.deepEqual([...own], [...pooled]);
  });
});

describe("handOver()", () => {
  test("MemoryStorage keeps bytes handed over as they are, and copies the rest", async () => {
    const s = new MemoryStorage();
    const given = new Uint8Array([1, 2, 3]);
    await s.put("a/given", given);
    given[0] = 9;
    assert.equal((await s.get("a/given"))![0], 1, "a buffer not handed over is copied");
    const handed = handOver(new Uint8Array([4, 5, 6]));
    await s.put("a/handed", handed);
    handed[0] = 7;
    assert.equal((await s.get("a/handed"))![0], 7, "a buffer handed over is kept, not copied");
    // The mark is taken by the put: the same buffer put again is copied.
    await s.put("a/again", handed);
    handed[1] = 8;
    assert.equal((await s.get("a/again"))![1], 5);
  });
});

describe("putInParts() with a reuse", () => {
  test("hands an array of parts over once stored, only where the storage keeps none of its buffers", async () => {
    const given: Uint8Array[][] = [];
    const reuse = { give: (parts: Iterable<Uint8Array>) => void given.push([...parts]) };
    const parts = [Uint8Array.of(1), Uint8Array.of(2, 3)];
    await putInParts(new MemoryStorage(), "a/b", parts, reuse);
    assert.deepEqual(given, [parts]);
    const keeping: StorageAdapter = Object.assign(new MemoryStorage(), { keepsNoBuffers: false });
    await putInParts(keeping, "a/b", parts, reuse);
    // A generator's parts are gone once read: nothing to hand over.
    await putInParts(new MemoryStorage(), "a/c", (function* () {
      yield Uint8Array.of(4);
    })(), reuse);
    assert.equal(given.length, 1);
  });

  test("a failed write hands nothing over", async () => {
    const given: unknown[] = [];
    const failing = Object.assign(new MemoryStorage(), { putParts: () => Promise.reject(new Error("disk full")) });
    await assert.rejects(putInParts(failing, "a/b", [Uint8Array.of(1)], { give: (p) => void given.push(p) }), /disk full/);
    assert.equal(given.length, 0);
  });
});
