import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FORMAT_VERSION, decode, encode } from "../../codec/cbor.ts";
import { WeirError } from "../../errors.ts";
import { RowBytes, decodeStored } from "../../state/sqlite_row_bytes.ts";
import { keyBytes } from "../../state/sqlite_keys.ts";

describe("RowBytes", () => {
  test("key() gives keyBytes() of every kind of canonical key", () => {
    const b = new RowBytes();
    const keys: unknown[] = ["", "k-1", "a\u0000b", "é", "日本", "\ud800", "x".repeat(70_000), 0, -0, 1.5, -7, NaN, Infinity, 2 ** 53, true, false, 12n];
    for (const k of keys) assert.deepEqual(b.key(k), keyBytes(k), `key ${String(k).slice(0, 20)}`);
  });

  test("value() writes bytes that decode to the same value", () => {
    const b = new RowBytes();
    const values: unknown[] = [0, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, -1, -(2 ** 32), -(2 ** 32) - 1, 1.5, -0, NaN, Infinity, 2 ** 53,
      "", "abc", "é", "y".repeat(70_000), "z".repeat(40), "z".repeat(39) + "é", "é" + "z".repeat(39), "z".repeat(30) + "\u{1F600}", true, false, null, undefined, [1, "a"], { a: [1, 2] }, 5n];
    for (const v of values) assert.deepEqual(decode(b.value(v)), v, `value ${String(v).slice(0, 20)}`);
    assert.ok(Object.is(decode(b.value(-0)), -0));
  });

  test("decodeStored() reads what value() and encode() write as decode() does, and refuses what decode() refuses", () => {
    const b = new RowBytes();
    const values: unknown[] = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, -1, -24, -25, -256, -257, -(2 ** 32), -(2 ** 32) - 1, 1.5, -0, NaN, Infinity,
      -Infinity, 2 ** 53, Number.MIN_VALUE, "abc", true, false, null, undefined, [1], { a: 1 }, 5n];
    for (const v of values) {
      for (const bytes of [b.value(v), encode(v)]) {
        const got = decodeStored(bytes, "a value");
        assert.ok(Object.is(got, decode(bytes)) || (typeof v === "object" && v !== null), `value ${String(v)}`);
        assert.deepEqual(got, decode(bytes), `value ${String(v)}`);
      }
    }
    assert.ok(Object.is(decodeStored(b.value(-0), "v"), -0));
    // A newer format, format 0, nothing, and a value followed by more bytes (which decode() refuses too).
    for (const bad of [Uint8Array.of(FORMAT_VERSION + 1, 0x05), Uint8Array.of(0, 0x05), new Uint8Array(0), Uint8Array.of(FORMAT_VERSION, 0x05, 0x00), Uint8Array.of(FORMAT_VERSION, 0xf5, 0)]) {
      assert.throws(() => decodeStored(bad, "a value"), (e: unknown) => e instanceof WeirError && /a value/.test(e.message), `bytes ${bad.join()}`);
    }
  });

  test("views handed out stay as written when later rows fill more buffers", () => {
    const b = new RowBytes();
    const kept: [Uint8Array, Uint8Array, number][] = [];
    for (let i = 0; i < 60_000; i++) kept.push([b.key(`key-${i}`), b.value(i), i]);
    for (const [k, v, i] of kept) {
      assert.deepEqual(k, keyBytes(`key-${i}`));
      assert.equal(decode(v), i);
    }
  });
});
