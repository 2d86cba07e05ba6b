import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, decodeRecords, encode, encodeRecords, FORMAT_VERSION } from "../../codec/cbor.ts";
import { WeirError, registerType } from "../../mod.ts";
import { Decoder } from "cbor-x";

describe("codec", () => {
  test("encode() writes the version byte and decode() reads the value back", () => {
    const bytes = encode({ a: 1, b: [1, "x", null], c: new Uint8Array([1, 2]) });
    assert.equal(bytes[0], FORMAT_VERSION);
    assert.deepEqual(decode(bytes), { a: 1, b: [1, "x", null], c: new Uint8Array([1, 2]) });
  });

  test("data from a future format version is rejected with a clear error", () => {
    const bytes = encode(1);
    bytes[0] = FORMAT_VERSION + 1;
    assert.throws(() => decode(bytes, "state file x"), (e: unknown) =>
      e instanceof WeirError && e.code === "format_unsupported" && /state file x/.test(e.message) && /version 2/.test(e.message));
  });

  test("garbage and empty input are storage_corrupt errors naming the data", () => {
    assert.throws(() => decode(new Uint8Array([]), "metadata"), (e: unknown) => e instanceof WeirError && e.code === "storage_corrupt");
    assert.throws(() => decode(new Uint8Array([1, 0xff, 0xff]), "metadata"), (e: unknown) => e instanceof WeirError && e.code === "storage_corrupt" && /metadata/.test(e.message));
  });

  test("-0 keeps its sign at the top and nested, in Map keys, Set elements and registered types (cbor-x alone writes it as the integer 0); +0 stays one byte", () => {
    class Point {
      constructor(readonly x: number) {}
    }
    registerType(Point, { encode: (p) => p.x, decode: (x) => new Point(x as number) });
    const values = [-0, [-0], { x: -0 }, [1, { y: [-0, 0] }, 2.5, 2 ** 40], new Map([["k", -0]]), { a: null, b: [-0, "s"] }, new Map([[[-0], 1]]), new Set([[-0]]), { p: new Point(-0) }];
    for (const v of values) assert.deepEqual(decode(encode(v)), v, String(v));
    // Plain CBOR, numbers as float64: a reader without weir's extensions (an older weir) reads the same numbers.
    const plain = new Decoder({ useRecords: false, mapsAsObjects: true });
    for (const v of [-0, [-0], { x: -0 }, [1, { y: [-0, 0] }, 2.5, 2 ** 40]]) assert.deepEqual(plain.decode(encode(v).subarray(1)), v, JSON.stringify(v));
    assert.ok(Object.is(decode(encode(-0)), -0));
    assert.deepEqual(encode(0), new Uint8Array([FORMAT_VERSION, 0]));
    assert.deepEqual(decodeRecords(encodeRecords([-0, { z: -0 }])), [-0, { z: -0 }]);
  });

  test("record batches round-trip as plain values", () => {
    const batch = [1, "two", [3, 4], { five: 5 }, null, true];
    assert.deepEqual(decodeRecords(encodeRecords(batch)), batch);
  });
});

/**
 * A lone surrogate (a reviewer found it): CBOR text is UTF-8, which cannot carry "\uD800";
 * cbor-x wrote its WTF-8 bytes and read them back as U+FFFD, so the record came back
 * changed. Records are values: such a string is refused, naming where it sits.
 */
describe("codec: strings with a lone surrogate", () => {
  const notPersistable = (where: string) => (e: unknown) =>
    e instanceof WeirError && e.code === "value_not_persistable" && e.message.includes(where) && e.message.includes("lone surrogate");

  for (const [name, value, where] of [
    ["a lone high surrogate", "\uD800", "value is a string"],
    ["a lone low surrogate inside a longer string", `${"x".repeat(100)}\uDC00y`, "value is a string"],
    ["one in an array", ["ok", "a\uD800"], "value[1]"],
    ["one in an object field", { name: "b\uDBFF" }, "value.name"],
    ["one in an object key", { ["k\uD800"]: 1 }, "value (a key)"],
    ["one in a Map key", new Map([["\uD800", 1]]), "value (a Map key)"],
    ["one in a Set", new Set(["\uDFFF"]), "value (a Set element)"],
  ] as const) {
    test(`encode() refuses ${name} with value_not_persistable naming it`, () => {
      assert.throws(() => encode(value, "a record"), notPersistable(where));
      assert.throws(() => encodeRecords([value]), notPersistable("lone surrogate"));
    });
  }

  test("well-formed strings, surrogate pairs included, round-trip as they are", () => {
    const value = { "k\u{1F600}": ["\u{1F600}", "é", "\uD83D\uDE00x", "x".repeat(100) + "\u{10FFFF}"], m: new Map([["\u{1F600}", "ü"]]) };
    assert.deepEqual(decode(encode(value)), value);
  });
});
