/** encodeNumberPairs: the bytes CborWriter.pair() writes, by key group, in the batch's order. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CborWriter } from "../../codec/cbor_writer.ts";
import { decode, encodePartsList } from "../../codec/cbor.ts";
import { joinParts } from "../../storage/adapter.ts";
import { encodeNumberColumns, encodeNumberPairs, encodedGroupsOf, giveBackBatch, numberPairBatch } from "../../state/number_pairs.ts";
import { ColumnsEncoder, type TableColumns } from "../../state/heap_encode.ts";
import { WeirError } from "../../errors.ts";

/** Numbers at every boundary of CBOR's integer heads, and those it writes as float64. */
const NUMBERS = [0, -0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -24, -25, -256, -257, -(2 ** 32), -(2 ** 32) - 1, 0.5, -1.25, 1e300, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE];

function batchOf(entries: [number, number, number][]) {
  const b = numberPairBatch(entries.length);
  for (const [k, v, g] of entries) {
    b.keys[b.length] = k;
    b.values[b.length] = v;
    b.groups[b.length] = g;
    b.length++;
  }
  return b;
}

describe("encodeNumberPairs", () => {
  test("writes each key group's pairs as CborWriter.pair() does, groups ascending, entries in the batch's order", () => {
    const entries: [number, number, number][] = [];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 5000; i++) entries.push([NUMBERS[next() % NUMBERS.length], NUMBERS[next() % NUMBERS.length], next() % 37]);
    const { bytes, groups } = encodeNumberPairs(batchOf(entries));
    const writers = new Map<number, { w: CborWriter; n: number }>();
    for (const [k, v, g] of entries) {
      let out = writers.get(g);
      if (!out) writers.set(g, (out = { w: new CborWriter("t", 64, false), n: 0 }));
      out.w.pair(k, v);
      out.n++;
    }
    const expected = [...writers.keys()].sort((a, b) => a - b);
    assert.equal(groups.length, expected.length * 4);
    encodedGroupsOf({ bytes, groups }).forEach((eg, j) => {
      assert.equal(eg.keyGroup, expected[j]);
      const w = writers.get(eg.keyGroup)!;
      assert.equal(eg.entries, w.n);
      assert.deepEqual(eg.chunks[0], w.w.take(), `key group ${eg.keyGroup}`);
    });
    assert.equal(groups[groups.length - 1], bytes.length, "the groups fill the buffer");
  });

  test("reads back as the same numbers, -0 and NaN included", () => {
    const entries = NUMBERS.map((n, i): [number, number, number] => [n, NUMBERS[NUMBERS.length - 1 - i], 3]);
    const { bytes, groups } = encodeNumberPairs(batchOf(entries));
    const [g] = encodedGroupsOf({ bytes, groups });
    const pairs = decode<[number, number][]>(joinParts(encodePartsList([{ array: g.entries }, ...g.chunks])));
    pairs.forEach(([k, v], i) => {
      assert.ok(Object.is(k, entries[i][0]), `key ${entries[i][0]}`);
      assert.ok(Object.is(v, entries[i][1]), `value ${entries[i][1]}`);
    });
  });

  test("an empty batch is no group; a key group below 0 is refused", () => {
    assert.equal(encodeNumberPairs(numberPairBatch(4)).groups.length, 0);
    assert.throws(() => encodeNumberPairs(batchOf([[1, 1, -1]])), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken");
  });

  test("columns: the heap files' key group items, byte for byte what ColumnsEncoder writes from the columns", () => {
    const entries: [number, number, number][] = [];
    let seed = 11;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    // Groups of 1 to 40 entries (arrays under 16), int32 columns, float64 ones, -0 and NaN.
    for (let g = 0; g < 60; g++) {
      const n = 1 + (next() % 40);
      const ints = g % 3 !== 0;
      for (let i = 0; i < n; i++) entries.push([ints ? next() % 100000 - 50000 : NUMBERS[next() % NUMBERS.length], g % 4 === 0 ? NUMBERS[next() % NUMBERS.length] : next() % 1000, (g * 7) % 61]);
    }
    for (let i = entries.length - 1; i > 0; i--) {
      const j = next() % (i + 1);
      [entries[i], entries[j]] = [entries[j], entries[i]];
    }
    const byGroup = new Map<number, [number[], number[]]>();
    for (const [k, v, g] of entries) {
      if (!byGroup.has(g)) byGroup.set(g, [[], []]);
      byGroup.get(g)![0].push(k);
      byGroup.get(g)![1].push(v);
    }
    const groups = [...byGroup.entries()].sort((a, b) => a[0] - b[0]).map(([g, [k, v]]): [number, number[], number[]] => [g, k, v]);
    const write = (t: TableColumns) => {
      const w = new CborWriter("t", 64);
      const e = new ColumnsEncoder(w, [t], "columns");
      while (!e.step(7));
      return w.bytes();
    };
    const fromColumns = write({ name: "t", kind: "value", ttl: false, groups });
    const encoded = encodeNumberColumns(batchOf(entries));
    assert.equal(encoded.groups.length / 4, groups.length);
    const fromBatch = write({ name: "t", kind: "value", ttl: false, groups: [], encoded: { bytes: encoded.bytes, groupCount: encoded.groups.length / 4 } });
    assert.deepEqual(fromBatch, fromColumns);
  });

  test("a batch given back serves the next one of its size or less", () => {
    const b = numberPairBatch(5000);
    b.length = 3;
    giveBackBatch(b);
    const again = numberPairBatch(4000);
    assert.equal(again.keys, b.keys);
    assert.equal(again.length, 0);
    assert.notEqual(numberPairBatch(4000).keys, b.keys, "taken once");
  });
});
