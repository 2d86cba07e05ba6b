import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode } from "../../codec/cbor.ts";
import { registerType } from "../../codec/type_registry.ts";
import { WeirError } from "../../errors.ts";
import { canonicalKey, hashKey, keyGroupOf, keyGroupRangeFor } from "../../state/key_group.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { restoreTables, tablesOf } from "./backend_conformance.ts";

const MAX_P = 16;
const ALL = { start: 0, end: MAX_P - 1 };

/** Values a live state accepts, including the shapes a guessing restore got wrong. */
function values(i: number): unknown[] {
  return [
    new Map<unknown, unknown>([["a", i], [i, [i]]]),
    new Set([i, `s${i}`]),
    new Date(1_000_000 + i),
    new Float32Array([i, 0.5]),
    { $map: [[i, i]] },
    { nested: { list: [new Map([["m", new Set([i])]])] } },
    null,
  ];
}

/** Fills value, list and map state for keys 0..19 and a few object keys. */
function filled(): HeapKeyedStateBackend {
  const b = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
  const keys: unknown[] = [...Array(20).keys(), new Set([1, 2]), new Map([["k", 1]]), new Date(5), [1, "x"]];
  keys.forEach((key, i) => {
    b.setCurrentKey(key);
    b.valueState<unknown>("v").update(values(i)[i % 7]);
    for (const v of values(i)) b.listState<unknown>("l").add(v);
    const m = b.mapState<unknown, unknown>("m");
    m.put("null", null);
    m.put("undefined", undefined);
    m.put(new Set(["set-key"]), values(i)[0]);
    m.put(i, { $map: "looks internal" });
  });
  return b;
}

function readAll(b: HeapKeyedStateBackend, keys: unknown[]): unknown[] {
  return keys.map((key) => {
    b.setCurrentKey(key);
    const m = b.mapState<unknown, unknown>("m");
    return {
      v: b.valueState<unknown>("v").value(),
      l: b.listState<unknown>("l").get(),
      m: m.entries(),
      hasUndefined: m.has("undefined"),
    };
  });
}

const KEYS: unknown[] = [...Array(20).keys(), new Set([2, 1]), new Map([["k", 1]]), new Date(5), [1, "x"]];

describe("HeapKeyedStateBackend snapshots", () => {
  test("every value reads back after encode/decode exactly as it was stored, also split over 3 subtasks", () => {
    const before = filled();
    const bytes = encode(tablesOf(before));
    const expected = readAll(before, KEYS);
    const whole = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    restoreTables(whole, [decode(bytes)]);
    assert.deepEqual(readAll(whole, KEYS), expected);
    // At parallelism 3 each subtask takes its key groups; together they hold everything.
    const parts = [0, 1, 2].map((i) => {
      const b = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: keyGroupRangeFor(i, 3, MAX_P) });
      restoreTables(b, [decode(bytes)]);
      return b;
    });
    const owner = (key: unknown) => parts[[0, 1, 2].find((i) => {
      const r = keyGroupRangeFor(i, 3, MAX_P);
      const g = keyGroupOf(key, MAX_P);
      return g >= r.start && g <= r.end;
    })!];
    KEYS.forEach((key, i) => assert.deepEqual(readAll(owner(key), [key])[0], expected[i]));
  });

  test("each state's kind is recorded by its name; a ValueState holding a Map stays a ValueState", () => {
    const b = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    b.setCurrentKey("k");
    b.valueState<Map<string, number>>("lookup").update(new Map([["x", 1]]));
    const snap = decode<Record<string, KeyedTableSnapshot>>(encode(tablesOf(b)));
    assert.equal(snap.lookup.kind, "value");
    const r = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    restoreTables(r, [snap]);
    r.setCurrentKey("k");
    assert.deepEqual(r.valueState<Map<string, number>>("lookup").value(), new Map([["x", 1]]));
  });

  test("using a restored state as another kind is a state_kind_mismatch naming it", () => {
    const b = filled();
    const r = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    restoreTables(r, [decode(encode(tablesOf(b)))]);
    r.setCurrentKey(1);
    assert.throws(() => r.mapState("v"), (e: unknown) =>
      e instanceof WeirError && e.code === "state_kind_mismatch" && /"v" is a value state/.test(e.message));
  });

  test("snapshots of the old format (no kinds, MapState as { $map }) are still read", () => {
    const legacy = {
      count: [[keyGroupOf("a", MAX_P), [["a", 3]]]],
      seen: [[keyGroupOf("a", MAX_P), [["a", { $map: [["x", true]] }]]]],
    };
    const r = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    restoreTables(r, [legacy as never]);
    r.setCurrentKey("a");
    assert.equal(r.valueState<number>("count").value(), 3);
    assert.equal(r.mapState<string, boolean>("seen").get("x"), true);
  });

  test("a table without a kind is refused as corrupt, naming the state", () => {
    const r = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    assert.throws(() => restoreTables(r, [{ broken: { groups: [] } } as never]), /Keyed state "broken"/);
  });
});

describe("keys in state are values", () => {
  test("a key object changed after it was used stays filed under the key it was", () => {
    const b = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    const key = { city: "Oslo" };
    b.setCurrentKey(key);
    b.valueState<number>("count").update(1);
    const mapKey = new Set(["a"]);
    b.mapState<Set<string>, number>("m").put(mapKey, 7);
    key.city = "Bergen";
    mapKey.add("b");
    const r = new HeapKeyedStateBackend({ maxParallelism: MAX_P, range: ALL });
    restoreTables(r, [decode(encode(tablesOf(b)))]);
    r.setCurrentKey({ city: "Oslo" });
    assert.equal(r.valueState<number>("count").value(), 1);
    assert.equal(r.mapState<Set<string>, number>("m").get(new Set(["a"])), 7);
    assert.deepEqual(r.mapState<Set<string>, number>("m").keys(), [new Set(["a"])]);
  });
});

describe("canonicalKey()", () => {
  test("Map and Set keys are compared by their entries, whatever the insertion order", () => {
    assert.equal(canonicalKey(new Set([1, 2])), canonicalKey(new Set([2, 1])));
    assert.notEqual(canonicalKey(new Set([1])), canonicalKey(new Set([2])));
    assert.notEqual(canonicalKey(new Set([1])), canonicalKey(new Set(["1"])));
    assert.equal(canonicalKey(new Map([["a", 1], ["b", 2]])), canonicalKey(new Map([["b", 2], ["a", 1]])));
    assert.notEqual(canonicalKey(new Map([["a", 1]])), canonicalKey(new Map([["a", 2]])));
    assert.notEqual(canonicalKey(new Map([["a", 1]])), canonicalKey(new Set(["a", 1])));
    assert.notEqual(canonicalKey(new Date(1)), canonicalKey(new Date(2)));
    assert.notEqual(canonicalKey(new Uint8Array([1])), canonicalKey(new Int8Array([1])));
    assert.notEqual(canonicalKey([undefined]), canonicalKey([null]));
  });

  test("JSON keys keep the key group they always had (savepoints stay valid)", () => {
    // The JSON text, as weir has always hashed object keys.
    assert.equal(canonicalKey({ a: [1, "x"] }), "\u0000" + JSON.stringify({ a: [1, "x"] }));
    // A field named like a property of every object is still a plain field.
    assert.equal(canonicalKey({ constructor: "x" }), "\u0000" + JSON.stringify({ constructor: "x" }));
    assert.equal(hashKey([3, 4]), hashKey([3, 4]));
  });

  test("an unregistered class instance, a function or a symbol as key (or inside one) is refused naming its type", () => {
    class Account {
      #id: number;
      constructor(id: number) {
        this.#id = id;
      }
      get id(): number {
        return this.#id;
      }
    }
    for (const key of [new Account(1), { owner: new Account(2) }, new Set([new Account(3)])]) {
      assert.throws(() => canonicalKey(key), (e: unknown) =>
        e instanceof WeirError && e.code === "invalid_key" && /class Account/.test(e.message), String(key));
    }
    assert.throws(() => hashKey(() => 1), (e: unknown) => e instanceof WeirError && e.code === "invalid_key" && /function/.test(e.message));
    assert.throws(() => hashKey(Symbol("k")), (e: unknown) => e instanceof WeirError && e.code === "invalid_key");
  });

  test("a registered class is a key by its encoding", () => {
    class Account {
      #id: number;
      constructor(id: number) {
        this.#id = id;
      }
      get id(): number {
        return this.#id;
      }
    }
    registerType(Account, { tag: 41_100, encode: (a) => a.id, decode: (id) => new Account(id as number) });
    assert.equal(canonicalKey(new Account(1)), canonicalKey(new Account(1)));
    assert.notEqual(canonicalKey(new Account(1)), canonicalKey(new Account(2)));
  });
});
