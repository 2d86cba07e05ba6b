import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "../../codec/cbor.ts";
import { CborScanner, MAJOR_ARRAY, MAJOR_TEXT } from "../../codec/cbor_scan.ts";

const values: unknown[] = [
  0, 23, 24, 255, 256, 65535, 65536, 2 ** 32, 2 ** 40, -1, -25, -(2 ** 33), 1.5, 0.1, NaN, Infinity,
  "", "a", "x".repeat(300), "é✓", true, false, null, undefined,
  new Uint8Array([1, 2, 3]), new Uint8Array(0).buffer, [], [1, [2, [3]]], { a: 1, b: [true, { c: "d" }] },
  new Map<unknown, unknown>([[1, "x"]]), 10n, new Date(0),
];

describe("cbor_scan", () => {
  test("CborScanner.skip() moves past exactly one item of every kind encode() writes", () => {
    const bytes = encode(values);
    const s = new CborScanner(bytes, 1, "test data");
    s.head();
    assert.equal(s.major, MAJOR_ARRAY);
    assert.equal(s.argument, values.length);
    for (let i = 0; i < values.length; i++) {
      const start = s.at;
      s.skip();
      // The item alone, encoded by itself, is as long as the range skipped.
      assert.equal(s.at - start, encode(values[i]).length - 1, `item ${i}`);
    }
    assert.equal(s.at, bytes.length);
  });

  test("CborScanner.skip() moves past every item of a value holding -0, whose numbers are all written as floats", () => {
    const withNegativeZero = [...values, -0];
    const bytes = encode(withNegativeZero);
    const s = new CborScanner(bytes, 1, "test data");
    s.head();
    assert.equal(s.argument, withNegativeZero.length);
    for (let i = 0; i < withNegativeZero.length; i++) s.skip();
    assert.equal(s.at, bytes.length);
    assert.ok(bytes.length > encode(values).length + 8 * 8, "the integers take 9 bytes each");
  });

  test("CborScanner.text() reads a text string", () => {
    const s = new CborScanner(encode(["é✓", 1]), 1, "test data");
    s.head();
    assert.equal(s.text(), "é✓");
    assert.throws(() => s.text(), { name: "WeirError", code: "storage_corrupt" });
    const t = new CborScanner(encode("abc"), 1, "test data");
    t.head();
    assert.equal(t.major, MAJOR_TEXT);
  });

  test("CborScanner refuses truncated bytes, indefinite lengths, reserved heads and deep nesting with storage_corrupt", () => {
    const whole = encode({ k: ["abc", 2 ** 40, [1, 2]] });
    for (let cut = 1; cut < whole.length; cut++) {
      const s = new CborScanner(whole.subarray(0, cut), 1, "cut data");
      assert.throws(() => s.skip(), { name: "WeirError", code: "storage_corrupt" }, `cut at ${cut}`);
    }
    for (const bad of [[0x9f, 0x01, 0xff], [0x1c], [0x5f, 0xff]]) {
      assert.throws(() => new CborScanner(Uint8Array.from(bad), 0, "bad data").skip(), (e: Error & { code?: string }) => e.name === "WeirError" && e.code === "storage_corrupt" && e.message.includes("bad data"));
    }
    const deep = new Uint8Array(1000).fill(0x81);
    assert.throws(() => new CborScanner(deep, 0, "deep data").skip(), { name: "WeirError", code: "storage_corrupt" });
  });
});
