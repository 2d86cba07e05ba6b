/** ColumnsEncoder: heap snapshot columns written in steps, as canonical pairs or as (typed) columns. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CborWriter } from "../../codec/cbor_writer.ts";
import { decode, encode } from "../../codec/cbor.ts";
import { ColumnsEncoder } from "../../state/heap_encode.ts";
import type { TableColumns } from "../../state/heap_encode.ts";
import { TYPED_COLUMN_ITEMS_MIN, columnForm, readColumn } from "../../state/heap_columns.ts";
import { WeirError } from "../../errors.ts";
import { ColumnBuilder } from "../../state/column_builder.ts";

/** n items of `item(i)`: enough of them for a typed column. */
const many = <T>(item: (i: number) => T, n = TYPED_COLUMN_ITEMS_MIN): T[] => Array.from({ length: n }, (_, i) => item(i));

const tables: TableColumns[] = [
  { name: "count", kind: "value", ttl: false, groups: [[0, many((i) => i + 1), many((i) => 10 * (i + 1))], [5, many((i) => `a${i}`), many(() => 1.5)], [9, [1, 2, 3], [4.5, 5, 6]], [127, [], []]] },
  { name: "empty", kind: "list", ttl: false, groups: [] },
  { name: "seen", kind: "map", ttl: true, groups: [[64, [{ id: 1 }], [[["m", [5, "v"]]]]]] },
];

function written(layout: "pairs" | "columns", budget: number): { bytes: Uint8Array; steps: number } {
  const w = new CborWriter("test", 16);
  const e = new ColumnsEncoder(w, tables, layout);
  let steps = 1;
  while (!e.step(budget)) steps++;
  return { bytes: w.bytes(), steps };
}

describe("ColumnsEncoder", () => {
  test("pairs: what encode() writes for the canonical tables (decoded alike), whatever the budget per step", () => {
    const canonical: Record<string, unknown> = {};
    for (const t of tables) {
      canonical[t.name] = { kind: t.kind, ...(t.ttl ? { ttl: true } : {}), groups: t.groups.map(([g, keys, values]) => [g, Array.from(keys, (k, i) => [k, values[i]])]) };
    }
    const expected = encode(canonical);
    for (const budget of [1, 2, 3, 1000]) {
      const { bytes, steps } = written("pairs", budget);
      assert.deepEqual(decode(bytes), decode(expected), `budget ${budget}`);
      if (budget === 1) assert.ok(steps >= 5, `one entry per step takes several steps (${steps})`);
    }
  });

  test("columns: keys and values per key group, typed where the items allow, whatever the budget per step", () => {
    for (const budget of [1, 2, 5, 1000]) {
      const back = decode<Record<string, { kind: string; ttl?: boolean; groups: [number, unknown, unknown][] }>>(written("columns", budget).bytes);
      assert.deepEqual(Object.keys(back), ["count", "empty", "seen"]);
      const read = (c: unknown) => Array.from(readColumn(c, true, () => "test"));
      const count = back.count.groups.map(([g, k, v]) => [g, read(k), read(v)]);
      assert.deepEqual(count, tables[0].groups.map(([g, k, v]) => [g, k, v]));
      // Typed forms: int32 bytes, a text with string ends, float64 bytes; columns of fewer
      // items, and empty ones, are arrays.
      assert.ok((back.count.groups[0][1] as { i32: Uint8Array }).i32 instanceof Uint8Array);
      assert.equal((back.count.groups[1][1] as { str: string }).str, many((i) => `a${i}`).join(""));
      assert.ok((back.count.groups[1][2] as { f64: Uint8Array }).f64 instanceof Uint8Array);
      assert.deepEqual(back.count.groups[2].slice(1), [[1, 2, 3], [4.5, 5, 6]]);
      assert.deepEqual(back.count.groups[3][1], []);
      assert.deepEqual(back.empty, { kind: "list", groups: [] });
      assert.deepEqual(back.seen, { kind: "map", ttl: true, groups: [[64, [{ id: 1 }], [[["m", [5, "v"]]]]]] });
    }
  });
});

describe("typed columns", () => {
  test("a lone surrogate is no string column, and its array is refused: UTF-8 cannot carry it", () => {
    const items = [...many(() => "a", TYPED_COLUMN_ITEMS_MIN - 1), "\ud800"];
    assert.equal(columnForm(items), "array");
    const tables: TableColumns[] = [{ name: "t", kind: "value", ttl: false, groups: [[1, items, items]] }];
    const e = new ColumnsEncoder(new CborWriter("test", 16), tables, "columns");
    assert.throws(() => {
      while (!e.step(100));
    }, (err: unknown) => err instanceof WeirError && err.code === "value_not_persistable" && err.message.includes("lone surrogate"));
  });

  test("columnForm() picks int32, float64, strings or a plain array, and each reads back as written", () => {
    // Each list repeated to the length a typed column needs, the last items kept last.
    const long = (items: unknown[]) => [...many((i) => items[i % items.length], TYPED_COLUMN_ITEMS_MIN - items.length), ...items];
    const cases: [unknown[], string][] = [
      [long([0, -1, 2147483647, -2147483648]), "i32"],
      [long([1, 2 ** 31]), "f64"],
      [long([1.5, NaN, Infinity, -Infinity, -0, 0]), "f64"],
      [long(["a", "é", "日本", "😀", ""]), "str"],
      [long(["a", 1]), "array"],
      [long([1, "a"]), "array"],
      [long([{ a: 1 }, [2]]), "array"],
      [long([true, null]), "array"],
      [[], "array"],
      // Too few items for a typed form.
      [[0, -1, 2147483647], "array"],
      [[1.5, NaN, -0], "array"],
      [["a", "é"], "array"],
    ];
    for (const [items, form] of cases) {
      assert.equal(columnForm(items), form, JSON.stringify(items));
      const tables: TableColumns[] = [{ name: "t", kind: "value", ttl: false, groups: [[1, items, items]] }];
      for (const budget of [1, 3, 100]) {
        const w = new CborWriter("test", 16);
        const e = new ColumnsEncoder(w, tables, "columns");
        while (!e.step(budget));
        const back = decode<{ t: { groups: [number, unknown, unknown][] } }>(w.bytes());
        const [, k, v] = back.t.groups[0];
        // Typed columns, and numbers in arrays, keep every item exactly (-0 too); other
        // items of an array read back as CBOR has them.
        const numbers = items.every((x) => typeof x === "number");
        const expected = form === "array" && !numbers ? decode<unknown[]>(encode(items)) : items;
        const keys = Array.from(readColumn(k, true, () => "test"));
        assert.deepEqual(keys, expected, `${form}, budget ${budget}`);
        assert.deepEqual(Array.from(readColumn(v, true, () => "test")), expected);
        if (numbers) for (let i = 0; i < items.length; i++) assert.ok(Object.is(keys[i], expected[i]), `item ${i} of ${form}`);
      }
    }
  });

  test("readColumn() refuses a typed column in format 2 and typed columns whose bytes or ends do not add up, naming where", () => {
    const where = () => "Keyed state \"n\", key group 3,";
    const bad = (c: unknown, typed = true) =>
      assert.throws(() => readColumn(c, typed, where), (e) => e instanceof WeirError && e.code === "checkpoint_corrupt" && /"n", key group 3/.test(e.message));
    bad({ i32: new Uint8Array(4) }, false);
    bad({ i32: new Uint8Array(5) });
    bad({ f64: new Uint8Array(12) });
    bad({ f64: "x" });
    bad({ str: "abc", ends: new Uint8Array(new Uint32Array([1, 5]).buffer) });
    bad({ str: "abc", ends: new Uint8Array(new Uint32Array([2, 1]).buffer) });
    bad({ str: "abc", ends: new Uint8Array(new Uint32Array([1]).buffer) });
    bad({ str: "abc", ends: new Uint8Array(3) });
    bad({ u8: new Uint8Array(1) });
    bad(7);
    assert.deepEqual(Array.from(readColumn({ str: "abc", ends: new Uint8Array(new Uint32Array([1, 3]).buffer) }, true, where)), ["a", "bc"]);
  });

  test("columns collected by ColumnBuilder (Float64Array while all are numbers) are written byte for byte as arrays", () => {
    const columns = [[1, 2, 3], [1, -0, 2.5, NaN, Infinity, 2 ** 40], [7, "a", 8], ["x", "y"], [{ id: 1 }], [0, -1, 2147483647, -2147483648, 5]];
    const asArrays: TableColumns[] = [{ name: "n", kind: "value", ttl: false, groups: columns.map((c, g) => [g, c, c]) }];
    const built: TableColumns[] = [{ name: "n", kind: "value", ttl: false, groups: columns.map((c, g) => {
      const b = new ColumnBuilder();
      for (const item of c) b.push(item);
      return [g, b.items(), b.items()];
    }) }];
    assert.ok(built[0].groups[1][1] instanceof Float64Array && Array.isArray(built[0].groups[2][1]));
    for (const layout of ["pairs", "columns"] as const) {
      for (const budget of [1, 2, 1000]) {
        const bytes = (t: TableColumns[]) => {
          const w = new CborWriter("test", 16);
          const e = new ColumnsEncoder(w, t, layout);
          while (!e.step(budget)) { /* steps */ }
          return w.bytes();
        };
        assert.deepEqual(bytes(built), bytes(asArrays), `${layout}, budget ${budget}`);
      }
    }
  });
});
