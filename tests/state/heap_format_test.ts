/**
 * The heap's own checkpoint format 3 (typed columns, state/heap_columns.ts) through real
 * incremental checkpoints: every kind of value and key round-trips through a base and its
 * changelogs; files of format 2 still restore; a damaged typed column is named.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../storage/memory.ts";
import { WeirError } from "../../errors.ts";
import type { IncrementalKeyedState, KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { HEAP_FORMAT_VERSION } from "../../state/heap_changelog.ts";
import { canonicalKey, keyGroupOf, keyGroupRangeFor } from "../../state/key_group.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";
import { encode } from "../../codec/cbor.ts";
import { checksumOf } from "../../checkpoint/checksum.ts";
import { VirtualWorld } from "../virtual_world.ts";

const MAX = 16;
const ALL = { start: 0, end: MAX - 1 };

function backend(storage: MemoryStorage, world: VirtualWorld, range = ALL): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: MAX, range, incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: "j", clock: world.clock });
}

async function finish(snap: KeyedStateSnapshot): Promise<KeyedStateHandle> {
  for (;;) {
    let done = snap.step(7);
    if (done instanceof Promise) done = await done;
    if (done) break;
  }
  const r = snap.result();
  snap.release();
  return r;
}

/** A savepoint of a backend: its canonical tables, entries of a key group in key order (the order within a group means nothing). */
async function content(b: HeapKeyedStateBackend): Promise<unknown> {
  const h = await finish(b.snapshot(1000, { savepoint: true }));
  assert.equal(h.format, "canonical");
  const order = (k: unknown) => `${typeof k}:${String(canonicalKey(k))}`;
  const out: Record<string, unknown> = {};
  for (const [name, t] of Object.entries((h as { tables: Record<string, KeyedTableSnapshot> }).tables)) {
    out[name] = { ...t, groups: t.groups.map(([g, entries]) => [g, [...entries].sort((a, b) => (order(a[0]) < order(b[0]) ? -1 : 1))]) };
  }
  return out;
}

const KEYS: unknown[] = [0, 1, -5, 2 ** 40, 1.25, "a", "é", "日本語", "😀 emoji", "", { id: 3 }, ["x", 1]];
const NUMBERS = [0, 7, -2147483648, 2147483647, 2 ** 31, 0.5, NaN, Infinity, -Infinity, -0];

/** Writes values of every kind under the keys (a round `r` changes them), or under those `only` names. */
function write(b: HeapKeyedStateBackend, r: number, only?: number[]): void {
  KEYS.forEach((key, i) => {
    if (only && !only.includes(i)) return;
    b.setCurrentKey(key);
    b.valueState<number>("num").update(NUMBERS[(i + r) % NUMBERS.length]);
    b.valueState<string>("str").update(`v${r}-${String(i)}-ü`);
    b.valueState<unknown>("obj").update({ r, nested: [i, "é", null, true] });
    b.listState<unknown>("list").add(r % 2 === 0 ? i : `s${i}`);
    b.mapState<unknown, unknown>("map").put(r % 3 === 0 ? "k" : { m: i }, r);
    b.valueState<number>("ttl", { ttl: 1_000_000 }).update(i + r);
  });
}

describe("heap format 3", () => {
  test("every kind of key and value round-trips through a base and changelogs (numbers, strings beyond ASCII, objects, lists, maps, TTL), at another parallelism too", async () => {
    const world = new VirtualWorld();
    const storage = new MemoryStorage();
    const b = backend(storage, world);
    write(b, 0);
    // Filler keys, so that the changelogs stay small beside the base (no new base).
    for (let k = 0; k < 500; k++) {
      b.setCurrentKey(`filler${k}`);
      b.valueState<number>("num").update(k);
    }
    let h = await finish(b.snapshot(1));
    for (let r = 1; r <= 3; r++) {
      write(b, r, r === 3 ? undefined : [r, r + 4, r + 8]);
      // A delete of a key the base holds and of one a changelog added.
      b.setCurrentKey(KEYS[r]);
      b.valueState("str").clear();
      b.setCurrentKey(`new${r}`);
      b.valueState<number>("num").update(r);
      // A value undefined replaces one the base holds (a change, not "no change").
      b.setCurrentKey(`filler${r}`);
      b.valueState<number | undefined>("num").update(undefined);
      if (r === 3) {
        b.setCurrentKey("new1");
        b.valueState("num").clear();
      }
      h = await finish(b.snapshot(r + 1));
    }
    assert.equal(h.format, "incremental");
    assert.equal((h as IncrementalKeyedState).version, HEAP_FORMAT_VERSION);
    assert.equal((h as IncrementalKeyedState).shared.length, 4);
    const expected = await content(b);
    const r = backend(storage, world);
    await r.restore([h]);
    assert.deepEqual(await content(r), expected);
    // -0 and NaN survive exactly (typed float64 column).
    const nums = KEYS.map((key) => {
      r.setCurrentKey(key);
      return r.valueState<number>("num").value();
    });
    KEYS.forEach((_, i) => assert.ok(Object.is(nums[i], NUMBERS[(i + 3) % NUMBERS.length]), `num of key ${i}: ${nums[i]}`));
    r.setCurrentKey("filler499");
    assert.equal(r.valueState<number>("num").value(), 499);
    r.setCurrentKey("filler2");
    assert.equal(r.valueState<number>("num").value(), undefined);
    // Two subtasks' restores hold the whole content between them.
    const halves = [keyGroupRangeFor(0, 2, MAX), keyGroupRangeFor(1, 2, MAX)].map((range) => backend(storage, world, range));
    for (const half of halves) await half.restore([h]);
    let keys = 0;
    for (const key of [...KEYS, "new1", "new2", "new3"]) {
      const owner = halves.find((x) => keyGroupOf(key, MAX) >= x.range.start && keyGroupOf(key, MAX) <= x.range.end)!;
      owner.setCurrentKey(key);
      r.setCurrentKey(key);
      assert.deepEqual(owner.valueState("num").value(), r.valueState("num").value());
      assert.deepEqual(owner.listState("list").get(), r.listState("list").get());
      if (r.valueState("num").value() !== undefined) keys++;
    }
    assert.equal(keys, KEYS.length + 2, "new1 was deleted");
  });

  test("a file of heap format 2 (columns as arrays) still restores, a typed column in it is refused", async () => {
    const world = new VirtualWorld();
    const storage = new MemoryStorage();
    const g = (k: unknown) => keyGroupOf(k, MAX);
    const put = async (name: string, file: unknown): Promise<IncrementalKeyedState> => {
      const bytes = encode(file);
      await storage.put(name, bytes);
      return { format: "incremental", backend: "heap", version: 2, range: ALL, shared: [{ key: name, size: bytes.length, checksum: checksumOf(bytes) }] };
    };
    const h = await put("old/1-base", { base: true, tables: { n: { kind: "value", groups: [[g("é"), ["é"], [5]], [g(7), [7], [1.5]]] } }, deleted: {} });
    const r = backend(storage, world);
    await r.restore([h]);
    r.setCurrentKey("é");
    assert.equal(r.valueState<number>("n").value(), 5);
    r.setCurrentKey(7);
    assert.equal(r.valueState<number>("n").value(), 1.5);
    const typed = await put("old/2-base", { base: true, tables: { n: { kind: "value", groups: [[g(7), { i32: new Uint8Array(4) }, [1]]] } }, deleted: {} });
    await assert.rejects(async () => await backend(storage, world).restore([typed]), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_corrupt" && /"n"/.test(e.message) && new RegExp(`key group ${g(7)}`).test(e.message));
  });

  test("a typed column whose bytes do not add up is checkpoint_corrupt naming the state and key group", async () => {
    const world = new VirtualWorld();
    const storage = new MemoryStorage();
    const g = keyGroupOf("a", MAX);
    const cases = [
      { i32: new Uint8Array(6) },
      { f64: new Uint8Array(8 * 2) },
      { str: "ab", ends: new Uint8Array(new Uint32Array([3]).buffer) },
    ];
    for (const [i, column] of cases.entries()) {
      const bytes = encode({ base: true, tables: { count: { kind: "value", groups: [[g, ["a"], column]] } }, deleted: {} });
      await storage.put(`bad/${i}`, bytes);
      const h: IncrementalKeyedState = { format: "incremental", backend: "heap", version: 3, range: ALL, shared: [{ key: `bad/${i}`, size: bytes.length, checksum: checksumOf(bytes) }] };
      await assert.rejects(async () => await backend(storage, world).restore([h]), (e: unknown) =>
        e instanceof WeirError && e.code === "checkpoint_corrupt" && /"count"/.test(e.message) && new RegExp(`key group ${g}`).test(e.message), `case ${i}`);
    }
  });
});
