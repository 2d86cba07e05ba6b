import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, decodeRecords, encode, encodeRecords } from "../../codec/cbor.ts";
import { registerType } from "../../codec/type_registry.ts";
import { copyBatch, copyValue } from "../../codec/values.ts";
import { WeirError } from "../../errors.ts";

/** A class with a private field: neither a structured copy nor CBOR can see `#celsius`. */
class Reading {
  #celsius: number;
  constructor(readonly sensor: string, celsius: number) {
    this.#celsius = celsius;
  }
  get celsius(): number {
    return this.#celsius;
  }
}
registerType(Reading, {
  tag: 41_001,
  encode: (r) => [r.sensor, r.celsius],
  decode: (d) => new Reading((d as [string, number])[0], (d as [string, number])[1]),
});

class Unregistered {
  x = 1;
}

/** Every kind of plain value weir must keep as it is. */
function richValue(): Record<string, unknown> {
  return {
    map: new Map<unknown, unknown>([[1, "a"], ["k", { nested: [1, 2] }], [[1, 2], new Set([3])]]),
    set: new Set(["x", 2, null]),
    date: new Date(1_700_000_000_123),
    bytes: new Uint8Array([1, 2, 250]),
    floats: new Float64Array([1.5, -2]),
    ints: new Int32Array([-7]),
    big: new BigInt64Array([-5n]),
    buffer: new Uint8Array([9, 8]).buffer,
    view: new DataView(new Uint8Array([4, 5, 6]).buffer, 1),
    regex: /a+b/gi,
    markers: { $map: [[1, 2]], $set: true, __proto_like: 1, constructor: "not a class" },
    holes: [undefined, null, 0, ""],
    bigint: 10n ** 30n,
    nested: { deep: { deeper: [new Map([["d", new Date(0)]])] } },
    reading: new Reading("s1", 21.5),
  };
}

describe("copyValue()", () => {
  test("copies every supported kind faithfully, and the copy shares nothing with the original", () => {
    const v = richValue();
    const c = copyValue(v);
    assert.deepEqual(c, v);
    assert.ok(c.reading instanceof Reading && (c.reading as Reading).celsius === 21.5);
    (c.map as Map<unknown, unknown>).set("new", 1);
    (c.set as Set<unknown>).add("y");
    (c.date as Date).setTime(0);
    (c.bytes as Uint8Array)[0] = 99;
    ((c.nested as { deep: { deeper: Map<string, Date>[] } }).deep.deeper[0].get("d")!).setTime(5);
    assert.deepEqual(v, richValue(), "the original is unchanged by changes to the copy");
  });

  test("primitives and batches of primitives are returned as they are (no allocation)", () => {
    for (const p of [1, "s", true, 2n, undefined, null, NaN]) assert.equal(copyValue(p), p);
    const batch = [1, 2, "three"];
    assert.equal(copyBatch(batch), batch);
    const objects = [1, { n: 2 }];
    const copied = copyBatch(objects);
    assert.notEqual(copied, objects);
    assert.notEqual(copied[1], objects[1]);
    assert.deepEqual(copied, objects);
  });

  test("an unregistered class instance, a function or a symbol is refused with its type named", () => {
    assert.throws(() => copyValue({ a: [new Unregistered()] }), (e: unknown) =>
      e instanceof WeirError && e.code === "record_not_copyable" && /class Unregistered/.test(e.message) &&
      /registerType/.test(e.message));
    assert.throws(() => copyValue({ f: function callback() {} }), /function callback/);
    assert.throws(() => copyBatch([Symbol("s")]), (e: unknown) => e instanceof WeirError && /symbol/.test(e.message));
  });

  test("a cycle is refused instead of overflowing the stack", () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    assert.throws(() => copyValue(a), (e: unknown) => e instanceof WeirError && e.code === "record_not_copyable");
  });
});

describe("encode()/decode() keep values as they are", () => {
  test("every supported kind, registered classes included, reads back as it was stored", () => {
    const v = richValue();
    const back = decode<Record<string, unknown>>(encode(v));
    assert.deepEqual(back, v);
    assert.ok(back.buffer instanceof ArrayBuffer, "an ArrayBuffer stays an ArrayBuffer");
    assert.ok(back.view instanceof DataView, "a DataView stays a DataView");
    assert.ok(back.reading instanceof Reading && (back.reading as Reading).celsius === 21.5);
  });

  test("a value that would come back as something else is refused, naming its type and place", () => {
    assert.throws(() => encode({ state: new Map([["k", new Unregistered()]]) }, "keyed state"), (e: unknown) =>
      e instanceof WeirError && e.code === "value_not_persistable" && /keyed state/.test(e.message) &&
      /class Unregistered/.test(e.message));
    assert.throws(() => encodeRecords([1, { cb: () => 1 }]), (e: unknown) =>
      e instanceof WeirError && /in-flight record/.test(e.message) && /\[1\]\.cb/.test(e.message));
  });

  test("record batches of registered classes come back as their class", () => {
    const back = decodeRecords(encodeRecords([new Reading("a", 1), { inner: new Reading("b", 2) }]));
    assert.ok(back[0] instanceof Reading && (back[0] as Reading).celsius === 1);
    assert.ok((back[1] as { inner: Reading }).inner instanceof Reading);
  });
});

describe("registerType()", () => {
  test("a tag used by another class is a type_conflict naming both", () => {
    class Other {}
    assert.throws(() => registerType(Other, { tag: 41_001, encode: () => 0, decode: () => new Other() }), (e: unknown) =>
      e instanceof WeirError && e.code === "type_conflict" && /Other/.test(e.message) && /Reading/.test(e.message));
  });

  test("bad arguments are invalid_type errors", () => {
    assert.throws(() => registerType(42 as never, { encode: () => 0, decode: () => 0 }), (e: unknown) => e instanceof WeirError && e.code === "invalid_type");
    class NoDecode {}
    assert.throws(() => registerType(NoDecode, { encode: () => 0 } as never), /decode/);
    assert.throws(() => registerType(Map, { encode: () => 0, decode: () => new Map() }), /already copies/);
    class LowTag {}
    assert.throws(() => registerType(LowTag, { tag: 1, encode: () => 0, decode: () => new LowTag() }), /tag must be/);
    // weir's own tags (ArrayBuffer, DataView): a type there would read every ArrayBuffer as itself.
    assert.throws(() => registerType(LowTag, { tag: 0x57e0ff00, encode: () => 0, decode: () => new LowTag() }), (e: unknown) => e instanceof WeirError && e.code === "invalid_type" && /weir's own/.test(e.message));
  });

  test("without a tag, one is derived from the class name, and registering again is allowed", () => {
    class Named {
      constructor(readonly v: number) {}
    }
    const enc = { encode: (n: Named) => n.v, decode: (v: unknown) => new Named(v as number) };
    registerType(Named, enc);
    registerType(Named, enc);
    const back = decode<Named>(encode(new Named(7)));
    assert.ok(back instanceof Named && back.v === 7);
  });
});
