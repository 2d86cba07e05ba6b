import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ownBytes } from "../../storage/adapter.ts";

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
