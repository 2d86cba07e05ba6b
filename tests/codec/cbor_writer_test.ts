/** CborWriter: values written straight into one buffer read back through decode() as themselves. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CBOR_CHUNK_BYTES_MAX, CborWriter } from "../../codec/cbor_writer.ts";
import { decode, encode } from "../../codec/cbor.ts";
import { WeirError } from "../../errors.ts";

describe("CborWriter", () => {
  test("value() writes numbers, strings and other values that decode() reads back as themselves", () => {
    const values: unknown[] = [
      0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -24, -25, -256, -257, -(2 ** 32), -(2 ** 32) - 1,
      -0, 0.5, -1.25, 1e300, Number.MIN_VALUE, NaN, Infinity, -Infinity,
      "", "a", "x".repeat(23), "x".repeat(24), "y".repeat(300), "é", "日本語", "\u0000k", "😀".repeat(40),
      true, false, null, undefined, [1, "b"], { a: { b: [1.5] } }, new Map([[1, 2]]), 10n, new Uint8Array([1, 2]),
    ];
    const w = new CborWriter("test values", 16);
    w.head(4, values.length);
    for (const v of values) w.value(v);
    const back = decode<unknown[]>(w.bytes());
    assert.equal(back.length, values.length);
    values.forEach((v, i) => {
      if (typeof v === "number") assert.ok(Object.is(back[i], v), `${v} came back as ${back[i]}`);
      else assert.deepEqual(back[i], v);
    });
  });

  test("pair() writes the bytes of head(4, 2) and two value()s, integers in 0 … 2^32 - 1 inline and anything else as value() does", () => {
    const items: unknown[] = [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -0, -1, 0.5, NaN, "k", null, [1], { a: 2 }];
    for (const k of items) {
      for (const v of items) {
        const a = new CborWriter("pair", 16, false);
        a.pair(k, v);
        const b = new CborWriter("pair", 16, false);
        b.head(4, 2);
        b.value(k);
        b.value(v);
        assert.deepEqual([...a.bytes()], [...b.bytes()], `${String(k)}, ${String(v)}`);
      }
    }
    assert.throws(() => new CborWriter("the pair").pair(1, () => 1), (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable");
  });

  test("without the version byte, items start at byte 0: a part of a file whose version byte comes first", () => {
    const w = new CborWriter("part", 16, false);
    w.value("ab");
    w.value(7);
    assert.equal(w.length, 4);
    assert.deepEqual([...w.bytes()], [0x62, 0x61, 0x62, 0x07]);
    const whole = new CborWriter("whole", 16);
    assert.equal(whole.length, 1);
  });

  test("bytes() decode as what encode() wrote for the same structure", () => {
    const w = new CborWriter();
    w.head(5, 1);
    w.value("k");
    w.head(4, 3);
    w.value(1);
    w.value("two");
    w.value(true);
    assert.deepEqual(decode(w.bytes()), decode(encode({ k: [1, "two", true] })));
    assert.deepEqual(decode(w.bytes()), { k: [1, "two", true] });
  });

  test("a value that would not read back as itself is refused naming the data", () => {
    class Foreign {
      x = 1;
    }
    const w = new CborWriter("the state of operator \"sum\"");
    assert.throws(() => w.value(new Foreign()), (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable" && e.message.includes("operator \"sum\""));
  });

  test("take() hands over what bytes() would copy, without a copy, and the writer holds nothing after", () => {
    const w = new CborWriter("v", 16);
    w.head(4, 100);
    for (let i = 0; i < 100; i++) w.value(i);
    const copied = w.bytes();
    const taken = w.take();
    assert.deepEqual(taken, copied);
    assert.equal(w.length, 0);
    assert.deepEqual(decode(taken), Array.from({ length: 100 }, (_, i) => i));
  });

  test("takeParts() hands over chunks of at most CBOR_CHUNK_BYTES_MAX bytes that join to bytes(), a larger item in a chunk of its own", () => {
    const w = new CborWriter("v", 16);
    const n = 400_000;
    w.head(4, n + 1);
    for (let i = 0; i < n; i++) w.value(i * 7);
    const big = new Uint8Array(CBOR_CHUNK_BYTES_MAX + 10).fill(3);
    w.value(big);
    const joined = w.bytes();
    const length = w.length;
    const parts = w.takeParts();
    assert.equal(w.length, 0);
    assert.ok(parts.length > 2, `${parts.length} parts`);
    assert.ok(parts.every((p) => p.length <= CBOR_CHUNK_BYTES_MAX + 64), `part sizes ${parts.map((p) => p.length).join(", ")}`);
    const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    assert.equal(all.length, length);
    assert.deepEqual(all, joined);
    const back = decode<unknown[]>(all);
    assert.equal(back[n - 1], (n - 1) * 7);
    assert.deepEqual(back[n], big);
  });
});
