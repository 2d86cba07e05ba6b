import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { jsonUnfaithfulPart } from "../../codec/json_values.ts";

describe("jsonUnfaithfulPart", () => {
  test("what JSON carries as it is passes: plain data, dates, toJSON, an absent (undefined) property", () => {
    for (const v of [1, -2.5, "s", true, null, [1, [2, { a: "x" }]], { a: 1, b: undefined }, new Date(0), { toJSON: () => new Map() }, { nested: { deep: [null] } }]) {
      assert.equal(jsonUnfaithfulPart(v), undefined, String(v));
    }
  });

  test("what JSON changes without a word is named where it sits", () => {
    const cases: [unknown, string][] = [
      [NaN, "record is NaN, which JSON writes as null"],
      [{ a: [1, Infinity] }, "record.a[1] is Infinity, which JSON writes as null"],
      [{ m: new Map([[1, 2]]) }, "record.m is a Map, which JSON writes as {}"],
      [[new Set()], "record[0] is a Set, which JSON writes as {}"],
      [{ b: 10n }, "record.b is a BigInt, which JSON cannot write"],
      [[undefined], "record[0] is undefined, which JSON writes as null"],
      [{ f: () => 1 }, "record.f is a function, which JSON leaves out"],
      [{ u: new Uint8Array(2) }, "record.u is a Uint8Array, which JSON does not write as bytes"],
    ];
    for (const [v, message] of cases) assert.equal(jsonUnfaithfulPart(v), message);
  });

  test("a record nested as deep as weir copies records (512 levels) is written; deeper is refused naming the depth", () => {
    const nest = (n: number) => {
      let v: unknown = 1;
      for (let i = 0; i < n; i++) v = { a: v };
      return v;
    };
    assert.equal(jsonUnfaithfulPart(nest(300)), undefined, "JSON writes 300 levels as they are (it was refused past 100)");
    assert.match(jsonUnfaithfulPart(nest(600))!, /nests deeper than 512 levels/);
  });
});

