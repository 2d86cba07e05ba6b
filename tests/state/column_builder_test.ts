/** The columns of a heap snapshot as they are collected, and the pool that reuses their buffers. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ColumnBuilder, ColumnPool } from "../../state/column_builder.ts";

describe("ColumnBuilder", () => {
  test("keeps numbers in a Float64Array as they are (-0, NaN, Infinity) until an item is not a number", () => {
    const c = new ColumnBuilder(2);
    for (const n of [1, -0, NaN, Infinity, 2 ** 53]) c.push(n);
    const numbers = c.items();
    assert.ok(numbers instanceof Float64Array);
    assert.deepEqual(Array.from(numbers), [1, -0, NaN, Infinity, 2 ** 53]);
    assert.ok(Object.is(numbers[1], -0));
    c.push("x");
    assert.ok(Array.isArray(c.items()));
    assert.deepEqual(c.items(), [1, -0, NaN, Infinity, 2 ** 53, "x"]);
  });

  test("a reset forgets the items, keeps the grown buffer, and takes numbers again after an array", () => {
    const c = new ColumnBuilder(4);
    for (let i = 0; i < 1000; i++) c.push(i);
    const bytes = c.capacityBytes;
    assert.ok(bytes >= 8000, `${bytes} bytes for 1000 numbers`);
    c.push({ o: 1 });
    c.reset();
    assert.equal(c.items().length, 0);
    assert.equal(c.capacityBytes, bytes);
    c.push(7);
    assert.ok(c.items() instanceof Float64Array);
    assert.deepEqual(Array.from(c.items()), [7]);
  });
});

describe("ColumnPool", () => {
  test("hands back a builder given to it, empty; a new one when none is kept", () => {
    const pool = new ColumnPool();
    const a = pool.take();
    a.push(1);
    a.push(2);
    pool.give(a);
    assert.ok(pool.bytes > 0);
    const again = pool.take();
    assert.equal(again, a);
    assert.equal(again.items().length, 0);
    assert.equal(pool.bytes, 0);
    assert.notEqual(pool.take(), a);
  });

  test("keeps at most maxBytes of buffers", () => {
    const pool = new ColumnPool(1024);
    const big = new ColumnBuilder(256); // 2 KiB
    const small = new ColumnBuilder(64); // 512 B
    pool.give(big);
    pool.give(small);
    pool.give(new ColumnBuilder(64));
    assert.equal(pool.bytes, 1024);
    assert.equal(pool.take().capacityBytes, 512);
    assert.equal(pool.take().capacityBytes, 512);
    assert.notEqual(pool.take(), big, "the builder over the limit was not kept");
  });
});
