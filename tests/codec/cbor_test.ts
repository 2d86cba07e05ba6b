import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, decodeRecords, encode, encodeRecords, FORMAT_VERSION } from "../../codec/cbor.ts";
import { WeirError } from "../../mod.ts";

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

  test("record batches round-trip as plain values", () => {
    const batch = [1, "two", [3, 4], { five: 5 }, null, true];
    assert.deepEqual(decodeRecords(encodeRecords(batch)), batch);
  });
});
