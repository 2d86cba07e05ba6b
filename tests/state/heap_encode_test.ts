/** ColumnsEncoder: heap snapshot columns written in steps, as canonical pairs or as columns. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CborWriter } from "../../codec/cbor_writer.ts";
import { decode, encode } from "../../codec/cbor.ts";
import { ColumnsEncoder } from "../../state/heap_encode.ts";
import type { TableColumns } from "../../state/heap_snapshot.ts";

const tables: TableColumns[] = [
  { name: "count", kind: "value", ttl: false, groups: [[0, [1, 2, 3], [10, 20, 30]], [5, ["a"], [1.5]], [127, [], []]] },
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
      canonical[t.name] = { kind: t.kind, ...(t.ttl ? { ttl: true } : {}), groups: t.groups.map(([g, keys, values]) => [g, keys.map((k, i) => [k, values[i]])]) };
    }
    const expected = encode(canonical);
    for (const budget of [1, 2, 3, 1000]) {
      const { bytes, steps } = written("pairs", budget);
      assert.deepEqual(decode(bytes), decode(expected), `budget ${budget}`);
      if (budget === 1) assert.ok(steps >= 5, `one entry per step takes several steps (${steps})`);
    }
  });

  test("columns: keys and values per key group, whatever the budget per step", () => {
    for (const budget of [1, 2, 5, 1000]) {
      const back = decode<Record<string, { kind: string; ttl?: boolean; groups: unknown[] }>>(written("columns", budget).bytes);
      assert.deepEqual(Object.keys(back), ["count", "empty", "seen"]);
      assert.deepEqual(back.count, { kind: "value", groups: [[0, [1, 2, 3], [10, 20, 30]], [5, ["a"], [1.5]], [127, [], []]] });
      assert.deepEqual(back.empty, { kind: "list", groups: [] });
      assert.deepEqual(back.seen, { kind: "map", ttl: true, groups: [[64, [{ id: 1 }], [[["m", [5, "v"]]]]]] });
    }
  });
});
