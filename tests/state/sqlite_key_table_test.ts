import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cacheKeyHash, KeyTable, sameKey } from "../../state/sqlite_key_table.ts";

interface Entry {
  id: number;
  sid: number;
  canonical: unknown;
  hash: number;
}

function entry(sid: number, canonical: unknown): Entry {
  return { id: 0, sid, canonical, hash: 0 };
}

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("KeyTable", () => {
  test("finds, adds and removes as a Map of Maps does, over 60 000 random steps with keys coming and going", () => {
    const rnd = random(7);
    const table = new KeyTable<Entry>(100);
    const model = new Map<string, Entry>();
    const keyOf = (n: number): unknown => (n % 3 === 0 ? n : n % 3 === 1 ? `k${n}` : n + 0.5);
    for (let step = 0; step < 60_000; step++) {
      const sid = Math.floor(rnd() * 3);
      const k = keyOf(Math.floor(rnd() * 3000));
      const id = `${sid}/${typeof k}/${String(k)}`;
      const held = model.get(id);
      assert.equal(table.get(sid, k), held, `step ${step}: ${id}`);
      if (held !== undefined && rnd() < 0.5) {
        assert.equal(table.remove(held), true);
        model.delete(id);
      } else if (held === undefined) {
        const e = entry(sid, k);
        table.add(e);
        model.set(id, e);
      }
      assert.equal(table.size, model.size);
    }
    for (const e of model.values()) assert.equal(table.get(e.sid, e.canonical), e);
    assert.deepEqual(new Set(table.values()), new Set(model.values()));
  });

  test("removing every key of clusters that wrap round the end of the array leaves every other key found", () => {
    // Keys whose home slots are the last two of 16 slots and the first two: their cluster
    // wraps to the start, where keys whose home is there must stay behind the hole.
    const table = new KeyTable<Entry>(4);
    const all: Entry[] = [];
    for (let n = 0; all.length < 7; n++) {
      const e = entry(0, n);
      if (((cacheKeyHash(0, n) + 2) & 15) < 4) {
        table.add(e);
        all.push(e);
      }
    }
    for (let gone = 0; gone < all.length; gone++) {
      assert.equal(table.remove(all[gone]), true);
      assert.equal(table.remove(all[gone]), false, "removed twice");
      for (let i = 0; i < all.length; i++) assert.equal(table.get(0, all[i].canonical), i <= gone ? undefined : all[i], `key ${i} after removing ${gone}`);
    }
    assert.equal(table.size, 0);
  });

  test("NaN is one key and -0 is 0, as in a Map; a key of another state is another key", () => {
    const table = new KeyTable<Entry>(8);
    const nan = entry(0, NaN);
    const zero = entry(0, -0);
    table.add(nan);
    table.add(zero);
    assert.equal(table.get(0, Number.NaN), nan);
    assert.equal(table.get(0, 0 / 0), nan);
    assert.equal(table.get(0, 0), zero);
    assert.equal(table.get(1, 0), undefined);
    assert.equal(table.get(0, "0"), undefined);
    assert.equal(table.get(0, 0n), undefined);
    assert.ok(sameKey(NaN, NaN) && sameKey(-0, 0) && !sameKey(0, "0") && !sameKey(1, 1n));
  });

  test("keys of different types whose hashes are equal stay apart", () => {
    const table = new KeyTable<Entry>(8);
    const keys: unknown[] = [1, true, 0, 0n, "", 2, false, 1n];
    const entries = keys.map((k) => entry(0, k));
    for (const e of entries) table.add(e);
    // The case under test: a boolean hashes as its number, 0n and "" as 0.
    assert.equal(entries[0].hash, entries[1].hash);
    assert.equal(entries[2].hash, entries[3].hash);
    assert.equal(entries[2].hash, entries[4].hash);
    for (let i = 0; i < keys.length; i++) assert.equal(table.get(0, keys[i]), entries[i], `key ${String(keys[i])} (${typeof keys[i]})`);
    table.remove(entries[0]);
    assert.equal(table.get(0, 1), undefined);
    assert.equal(table.get(0, true), entries[1]);
  });

  test("clear() forgets every key, and the table fills again", () => {
    const table = new KeyTable<Entry>(10_000);
    for (let i = 0; i < 5000; i++) table.add(entry(0, i));
    table.clear();
    assert.equal(table.size, 0);
    assert.equal(table.get(0, 5), undefined);
    const e = entry(0, 5);
    table.add(e);
    assert.equal(table.get(0, 5), e);
  });
});

describe("cacheKeyHash()", () => {
  test("gives distinct keys distinct hashes below 2^30 and spreads them over the slots, for keys alike in all but a few bits", () => {
    const n = 50_000;
    const sets: [string, unknown[]][] = [
      ["numbers", Array.from({ length: n }, (_, i) => i)],
      ["multiples of 2^24", Array.from({ length: n }, (_, i) => i * 16_777_216)],
      ["multiples of 2^32", Array.from({ length: n }, (_, i) => i * 4_294_967_296)],
      ["negative and large numbers", Array.from({ length: n }, (_, i) => -i * 1_000_003 - 1e12)],
      ["fractions", Array.from({ length: n }, (_, i) => i / n)],
      ["fractions near 1", Array.from({ length: n }, (_, i) => 1 + i * Number.EPSILON)],
      ["numbered strings", Array.from({ length: n }, (_, i) => `user-${i}`)],
      ["zero-padded strings", Array.from({ length: n }, (_, i) => String(i).padStart(8, "0"))],
      ["JSON with the id in the middle", Array.from({ length: n }, (_, i) => JSON.stringify({ region: "eu-west-1", id: i, tenant: "acme".repeat(20) }))],
      ["long strings", Array.from({ length: n }, (_, i) => `${"x".repeat(100)}${i}${"y".repeat(100)}`)],
      ["bigints", Array.from({ length: n }, (_, i) => BigInt(i) * 1_000_003n)],
      ["bigints shifted past 32 bits", Array.from({ length: n }, (_, i) => BigInt(i) << 32n)],
      ["bigints shifted past 64 bits", Array.from({ length: n }, (_, i) => (BigInt(i) << 64n) + 5n)],
      ["negative bigints", Array.from({ length: n }, (_, i) => -BigInt(i) - 1n)],
      ["a bigint and its negation", Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1n : -1n) * BigInt(i >> 1) - 1n)],
      ["one key in many states", Array.from({ length: n }, () => "k")],
    ];
    const slots = 1 << 14;
    for (const [what, keys] of sets) {
      const hashes = keys.map((k, i) => cacheKeyHash(what === "one key in many states" ? i : 0, k));
      // Below 2^30: a small integer to V8, never a heap number (see cacheKeyHash()).
      assert.ok(hashes.every((h) => Number.isInteger(h) && h > 0 && h < 2 ** 30), `${what}: a hash is 0 or not below 2^30`);
      const distinct = new Set(hashes).size;
      assert.ok(distinct >= keys.length - 20, `${what}: ${distinct} distinct hashes of ${keys.length} keys`);
      const counts = new Array(slots).fill(0);
      for (const h of hashes) counts[h & (slots - 1)]++;
      const mean = keys.length / slots;
      assert.ok(Math.max(...counts) < 4 * mean + 6, `${what}: the fullest slot has ${Math.max(...counts)} keys, the mean is ${mean}`);
    }
    assert.equal(cacheKeyHash(3, NaN), cacheKeyHash(3, -NaN));
    assert.equal(cacheKeyHash(3, -0), cacheKeyHash(3, 0));
    assert.notEqual(cacheKeyHash(0, true), cacheKeyHash(0, false));
  });
});
