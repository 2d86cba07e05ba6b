/**
 * The conformance suite every keyed state backend passes (state/backend.ts is the
 * contract); each backend's test file calls runBackendConformance() with a factory.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode } from "../../codec/cbor.ts";
import { KeyedStateCapture } from "../../dataflow/operators/keyed_capture.ts";
import { WeirError } from "../../errors.ts";
import type { KeyedStateBackend, KeyedStateBackendInit, KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import { keyGroupOf, keyGroupRangeFor } from "../../state/key_group.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";

/** Creates a backend; may be async (a database to open). */
export type BackendFactory = (init: KeyedStateBackendInit) => KeyedStateBackend | Promise<KeyedStateBackend>;

const MAX_P = 16;
const ALL = { start: 0, end: MAX_P - 1 };

/** A clock the test moves by hand. */
class ManualClock {
  t = 1_000_000;
  now(): number {
    return this.t;
  }
}

/** A heap backend's canonical tables, snapshotted and finished at once (synchronous backends only). */
export function tablesOf(b: KeyedStateBackend, checkpointId = 1): Record<string, KeyedTableSnapshot> {
  const snap = b.snapshot(checkpointId, { savepoint: true });
  try {
    assert.equal(snap.step(Infinity), true);
    const r = snap.result();
    assert.equal(r.format, "canonical");
    return (r as { tables: Record<string, KeyedTableSnapshot> }).tables;
  } finally {
    snap.release();
  }
}

/** Restores canonical tables (as a savepoint hands them over) into a backend. */
export function restoreTables(b: KeyedStateBackend, tables: Record<string, KeyedTableSnapshot>[]): void | Promise<void> {
  return b.restore(tables.map((t) => ({ format: "canonical", tables: t })));
}

/** Steps a snapshot to its end, a few entries at a time, running `between` between steps. */
async function finish(snap: KeyedStateSnapshot, between: () => void = () => {}): Promise<KeyedStateHandle> {
  for (;;) {
    let done = snap.step(3);
    if (done instanceof Promise) done = await done;
    if (done) break;
    between();
  }
  const r = snap.result();
  snap.release();
  // What a checkpoint stores is bytes: the result must survive encoding.
  return decode<KeyedStateHandle>(encode(r));
}

/** Runs every case of the keyed state backend contract against `create`. */
export function runBackendConformance(name: string, create: BackendFactory): void {
  let uid = 0;
  const make = (over: Partial<KeyedStateBackendInit> = {}) =>
    create({ maxParallelism: MAX_P, range: ALL, incremental: false, uid: `op${uid++}`, subtaskIndex: 0, jobId: "0".repeat(32), ...over });

  describe(`${name} keyed state backend conformance`, () => {
    test("value, list and map state are per key, and clear() removes only the current key's", async () => {
      const b = await make();
      for (const k of ["a", "b", 3, { id: 4 }]) {
        b.setCurrentKey(k);
        b.valueState<string>("v").update(`v-${JSON.stringify(k)}`);
        b.listState<number>("l").add(1);
        b.listState<number>("l").add(2);
        b.mapState<string, unknown>("m").put("x", k);
      }
      b.setCurrentKey({ id: 4 });
      assert.equal(b.valueState<string>("v").value(), 'v-{"id":4}');
      assert.deepEqual(b.listState<number>("l").get(), [1, 2]);
      assert.deepEqual(b.mapState<string, unknown>("m").get("x"), { id: 4 });
      b.setCurrentKey("a");
      b.valueState("v").clear();
      b.listState<number>("l").update([9]);
      b.mapState<string, unknown>("m").remove("x");
      assert.equal(b.valueState("v").value(), undefined);
      assert.deepEqual(b.listState<number>("l").get(), [9]);
      assert.equal(b.mapState("m").has("x"), false);
      b.setCurrentKey("b");
      assert.equal(b.valueState("v").value(), 'v-"b"');
      assert.deepEqual(b.mapState("m").keys(), ["x"]);
      b.dispose();
    });

    test("ValueState.update(undefined) clears the key's value (Flink's update(null)); null is kept and restored as a value (with TTL too)", async () => {
      for (const ttl of [undefined, { ttl: 60_000 }]) {
        const clock = new ManualClock();
        const b = await make({ clock });
        const v = () => b.valueState<string | null | undefined>("v", ttl);
        for (const k of ["cleared", "null"]) {
          b.setCurrentKey(k);
          v().update("x");
        }
        b.setCurrentKey("cleared");
        v().update(undefined);
        b.setCurrentKey("null");
        v().update(null);
        const tables = tablesOf(b);
        const stored = tables.v.groups.flatMap(([, entries]) => entries);
        assert.deepEqual(stored.map(([k, x]) => [k, ttl ? (x as [number, unknown])[1] : x]), [["null", null]]);
        const r = await make({ clock });
        await restoreTables(r, [tables]);
        r.setCurrentKey("null");
        assert.equal(r.valueState("v", ttl).value(), null);
        r.setCurrentKey("cleared");
        assert.equal(r.valueState("v", ttl).value(), undefined);
        b.dispose();
        r.dispose();
      }
    });

    test("a state used as another kind is a state_kind_mismatch naming it; a null key is invalid_key", async () => {
      const b = await make();
      b.setCurrentKey("k");
      b.valueState<number>("count").update(1);
      assert.throws(() => b.listState("count"), (e: unknown) => e instanceof WeirError && e.code === "state_kind_mismatch" && /"count"/.test(e.message));
      assert.throws(() => b.setCurrentKey(null), (e: unknown) => e instanceof WeirError && e.code === "invalid_key");
      b.dispose();
    });

    test("reducingState() folds per key, addFor() returns the accumulator, and snapshots hold it as a value state", async () => {
      const b = await make();
      const sum = b.reducingState<{ n: number }>("reduce", (acc, v) => ({ n: acc.n + v.n }));
      assert.deepEqual(sum.addFor("a", { n: 1 }), { n: 1 });
      assert.deepEqual(sum.addFor("a", { n: 2 }), { n: 3 });
      assert.deepEqual(sum.addFor({ k: "obj" }, { n: 5 }), { n: 5 });
      b.setCurrentKey("a");
      sum.add({ n: 10 });
      assert.deepEqual(sum.get(), { n: 13 });
      b.setCurrentKey("b");
      assert.equal(sum.get(), undefined);
      const handle = await finish(b.snapshot(1, { savepoint: true }));
      assert.equal(handle.format, "canonical");
      const tables = (handle as { tables: Record<string, KeyedTableSnapshot> }).tables;
      assert.equal(tables.reduce.kind, "value");
      // Restored, it goes on folding; read as a plain value state elsewhere it is the value.
      const r = await make();
      await r.restore([handle]);
      const again = r.reducingState<{ n: number }>("reduce", (acc, v) => ({ n: acc.n + v.n }));
      assert.deepEqual(again.addFor("a", { n: 1 }), { n: 14 });
      assert.deepEqual(again.addFor({ k: "obj" }, { n: 1 }), { n: 6 });
      const plain = await make();
      await plain.restore([handle]);
      plain.setCurrentKey("a");
      assert.deepEqual(plain.valueState("reduce").value(), { n: 13 });
      for (const x of [b, r, plain]) x.dispose();
    });

    test("aggregatingState() creates an accumulator per key, folds in place, and snapshots hold it as a value state", async () => {
      const b = await make();
      // Inputs of another type than the accumulator, which add() changes in place.
      const lists = { createAccumulator: (): number[] => [], add: (v: number, acc: number[]) => (acc.push(v), acc) };
      const agg = b.aggregatingState<number, number[]>("agg", lists);
      assert.deepEqual(agg.addFor("a", 1), [1]);
      assert.deepEqual(agg.addFor("a", 2), [1, 2]);
      assert.deepEqual(agg.addFor({ k: "obj" }, 5), [5]);
      b.setCurrentKey("a");
      agg.add(3);
      assert.deepEqual(agg.get(), [1, 2, 3]);
      b.setCurrentKey("b");
      assert.equal(agg.get(), undefined);
      const snap = b.snapshot(1);
      agg.addFor("a", 4); // in place, after the snapshot point
      const handle = await finish(snap);
      b.setCurrentKey("a");
      assert.deepEqual(agg.get(), [1, 2, 3, 4]);
      agg.clear();
      assert.equal(agg.get(), undefined);
      const r = await make();
      await r.restore([handle]);
      r.setCurrentKey("a");
      assert.deepEqual(r.valueState("agg").value(), [1, 2, 3], "the snapshot holds the accumulator as it was at its point");
      const again = (await (async () => {
        const x = await make();
        await x.restore([handle]);
        return x;
      })());
      assert.deepEqual(again.aggregatingState<number, number[]>("agg", lists).addFor({ k: "obj" }, 6), [5, 6]);
      for (const x of [b, r, again]) x.dispose();
    });

    test("prefetch() of a reducing or aggregating state, where the backend has one, changes nothing addFor() returns, restored or not; a null key is invalid_key", async () => {
      const lists = { createAccumulator: (): number[] => [], add: (v: number, acc: number[]) => (acc.push(v), acc) };
      const keyAt = (j: number): unknown => j % 4 === 0 ? { k: j } : j % 4 === 1 ? `s${j}` : j;
      // Two backends fed the same batches, only one of them told the keys first.
      let pair = [await make(), await make()];
      for (let round = 0; round < 6; round++) {
        if (round === 3) {
          const handles = await Promise.all(pair.map((x) => finish(x.snapshot(1, { savepoint: true }))));
          const restored = [await make(), await make()];
          await Promise.all(restored.map((x, i) => x.restore([handles[i]])));
          for (const x of pair) x.dispose();
          pair = restored;
        }
        const sums = pair.map((x) => x.reducingState<number>("sum", (a, v) => a + v));
        const aggs = pair.map((x) => x.aggregatingState<number, number[]>("agg", lists));
        const batch = Array.from({ length: 40 }, (_, i) => keyAt((i * 7 + round * 3) % 24));
        sums[0].prefetch?.(batch);
        aggs[0].prefetch?.(batch);
        batch.forEach((key, i) => {
          assert.deepEqual(sums[0].addFor(key, i), sums[1].addFor(key, i), `sum of ${JSON.stringify(key)} in round ${round}`);
          assert.deepEqual(aggs[0].addFor(key, i), aggs[1].addFor(key, i), `list of ${JSON.stringify(key)} in round ${round}`);
        });
        if (sums[0].prefetch) assert.throws(() => sums[0].prefetch!(["a", null]), (e: unknown) => e instanceof WeirError && e.code === "invalid_key");
      }
      // The same tables, original object keys included.
      const [hinted, plain] = await Promise.all(pair.map(async (x) => ((await finish(x.snapshot(9, { savepoint: true }))) as { tables: Record<string, KeyedTableSnapshot> }).tables));
      assert.deepEqual(hinted, plain);
      for (const x of pair) x.dispose();
    });

    test("TTL: values expire ttl ms after their write; snapshots keep write times and drop expired entries", async () => {
      const clock = new ManualClock();
      const b = await make({ clock });
      b.setCurrentKey("k");
      b.valueState<number>("v", { ttl: 100 }).update(1);
      b.listState<string>("l", { ttl: 100 }).add("old");
      b.mapState<string, number>("m", { ttl: 100 }).put("x", 1);
      clock.t += 60;
      b.listState<string>("l", { ttl: 100 }).add("new");
      b.setCurrentKey("gone");
      b.valueState<number>("v", { ttl: 100 }).update(2);
      clock.t += 50; // "k"'s first writes are 110 ms old, "gone"'s 50 ms
      b.setCurrentKey("k");
      assert.equal(b.valueState<number>("v", { ttl: 100 }).value(), undefined);
      assert.deepEqual(b.listState<string>("l", { ttl: 100 }).get(), ["new"]);
      assert.equal(b.mapState<string, number>("m", { ttl: 100 }).has("x"), false);
      const handle = await finish(b.snapshot(1, { savepoint: true }));
      const r = await make({ clock });
      await r.restore([handle]);
      assert.throws(() => r.valueState<number>("v"), (e: unknown) => e instanceof WeirError && e.code === "state_ttl_mismatch");
      r.setCurrentKey("gone");
      assert.equal(r.valueState<number>("v", { ttl: 100 }).value(), 2);
      clock.t += 50; // 100 ms after its write, also after the restore
      assert.equal(r.valueState<number>("v", { ttl: 100 }).value(), undefined);
      const noClock = await make();
      assert.throws(() => noClock.valueState("v", { ttl: 5 }), (e: unknown) => e instanceof WeirError && e.code === "invalid_state_ttl");
      for (const x of [b, r, noClock]) x.dispose();
    });

    test("snapshot() then restore() gives back every kind of state, object keys and map keys included", async () => {
      const b = await make();
      const keys: unknown[] = [...Array(30).keys(), "s", { city: "Oslo" }, new Set([1, 2]), [1, "x"]];
      keys.forEach((k, i) => {
        b.setCurrentKey(k);
        b.valueState<unknown>("v").update({ i, nested: new Map([["d", new Date(i)]]) });
        b.listState<number>("l").update([i, i + 1]);
        b.mapState<unknown, number>("m").put(new Set([`k${i}`]), i);
      });
      const handle = await finish(b.snapshot(7, { savepoint: true }));
      const r = await make();
      await r.restore([handle]);
      keys.forEach((k, i) => {
        r.setCurrentKey(k);
        assert.deepEqual(r.valueState("v").value(), { i, nested: new Map([["d", new Date(i)]]) });
        assert.deepEqual(r.listState("l").get(), [i, i + 1]);
        assert.equal(r.mapState<unknown, number>("m").get(new Set([`k${i}`])), i);
      });
      b.dispose();
      r.dispose();
    });

    test("-0 keeps its sign through a checkpoint and a savepoint as stored (encoded), at the top and nested in values, lists, maps and keys", async () => {
      const b = await make();
      const keys: unknown[] = ["k", [-0, 1], { at: -0 }];
      for (const k of keys) {
        b.setCurrentKey(k);
        b.valueState<unknown>("top").update(-0);
        b.valueState<unknown>("nested").update({ x: -0, a: [1.5, -0], m: new Map([["z", -0]]) });
        b.listState<number>("l").update([-0, 0]);
        b.mapState<string, number>("m").put("z", -0);
      }
      for (const savepoint of [false, true]) {
        const handle = await finish(b.snapshot(savepoint ? 9 : 8, { savepoint }));
        const r = await make();
        // As a checkpoint stores it: CBOR, which cbor-x alone writes -0 into as the integer 0.
        await r.restore([decode<KeyedStateHandle>(encode(handle))]);
        for (const k of keys) {
          r.setCurrentKey(k);
          const what = `key ${JSON.stringify(k)}, ${savepoint ? "savepoint" : "checkpoint"}`;
          assert.ok(Object.is(r.valueState("top").value(), -0), what);
          assert.deepEqual(r.valueState("nested").value(), { x: -0, a: [1.5, -0], m: new Map([["z", -0]]) }, what);
          assert.deepEqual(r.listState("l").get(), [-0, 0], what);
          assert.ok(Object.is(r.mapState<string, number>("m").get("z"), -0), what);
        }
        r.dispose();
      }
      b.dispose();
    });

    test("a value that cannot be persisted fails the checkpoint or savepoint with value_not_persistable naming the state, the operator and the part", async () => {
      class Unregistered {
        constructor(readonly x: number) {}
      }
      for (const savepoint of [false, true]) {
        for (const [what, bad] of [["a symbol", Symbol("s")], ["a class instance", { at: new Unregistered(1) }]] as const) {
          const b = await make({ uid: "tracker" });
          await assert.rejects(
            async () => {
              // A backend with a small cache may encode the value as it writes it back.
              for (let k = 0; k < 20; k++) {
                b.setCurrentKey(k);
                b.valueState<unknown>("fine").update(k);
                b.valueState<unknown>("position").update(k === 7 ? bad : k);
              }
              // As a subtask writes it: the heap backend's values are encoded by the capture.
              const capture = new KeyedStateCapture(b.snapshot(1, { savepoint }), 'the state of operator "tracker"');
              try {
                for (;;) {
                  let done = capture.step(5);
                  if (done instanceof Promise) done = await done;
                  if (done) break;
                }
              } finally {
                capture.release();
              }
            },
            (e: unknown) =>
              e instanceof WeirError && e.code === "value_not_persistable" && e.message.includes('keyed state "position"') && e.message.includes('operator "tracker"') &&
              (typeof bad === "symbol" ? /a symbol/.test(e.message) : /value\.at is an instance of class Unregistered/.test(e.message)),
            `${what}, ${savepoint ? "savepoint" : "checkpoint"}`,
          );
          b.dispose();
        }
      }
    });

    test("restore() of a key-group range (a rescale) takes exactly its key groups from several snapshots", async () => {
      // Two old subtasks at parallelism 2 restore into three new ones.
      const old = await Promise.all([0, 1].map((i) => make({ range: keyGroupRangeFor(i, 2, MAX_P) })));
      const keys = [...Array(60).keys()].map((i) => `key-${i}`);
      const ownerOf = (k: string, p: number) =>
        [...Array(p).keys()].find((i) => {
          const r = keyGroupRangeFor(i, p, MAX_P);
          const g = keyGroupOf(k, MAX_P);
          return g >= r.start && g <= r.end;
        })!;
      for (const k of keys) {
        const b = old[ownerOf(k, 2)];
        b.setCurrentKey(k);
        b.valueState<string>("v").update(k.toUpperCase());
      }
      const handles = await Promise.all(old.map((b) => finish(b.snapshot(3, { savepoint: true }))));
      const fresh = await Promise.all([0, 1, 2].map((i) => make({ range: keyGroupRangeFor(i, 3, MAX_P) })));
      for (const b of fresh) await b.restore(handles);
      for (const k of keys) {
        fresh.forEach((b, i) => {
          b.setCurrentKey(k);
          assert.equal(b.valueState<string>("v").value(), i === ownerOf(k, 3) ? k.toUpperCase() : undefined, `${k} in new subtask ${i}`);
        });
      }
      for (const b of [...old, ...fresh]) b.dispose();
    });

    test("a state in another backend's own format is refused with state_backend_mismatch naming both backends", async () => {
      const b = await make();
      const foreign: KeyedStateHandle = { format: "incremental", backend: "elsewhere", version: 1, range: ALL, shared: [] };
      await assert.rejects(async () => await b.restore([foreign]), (e: unknown) =>
        e instanceof WeirError && e.code === "state_backend_mismatch" && e.message.includes('"elsewhere"') && e.message.includes(`"${b.name}"`));
      b.dispose();
    });

    test("changes made after the snapshot point never show in that snapshot, even while it is being written", async () => {
      const b = await make();
      const sum = b.reducingState<{ n: number }>("reduce", (acc, v) => {
        acc.n += v.n; // a reduce function that changes its accumulator in place
        return acc;
      });
      for (let i = 0; i < 40; i++) {
        b.setCurrentKey(i);
        b.valueState<{ n: number }>("v").update({ n: i });
        b.listState<number>("l").add(i);
        b.mapState<string, number>("m").put("x", i);
        sum.addFor(i, { n: i });
      }
      const snap = b.snapshot(1);
      let round = 0;
      const mutate = () => {
        round++;
        for (let i = 0; i < 40; i++) {
          b.setCurrentKey(i);
          const v = b.valueState<{ n: number }>("v");
          const cur = v.value();
          if (cur) cur.n = -1; // in place, without update()
          if (i % 3 === 0) v.clear();
          else v.update({ n: 1000 + round });
          b.listState<number>("l").add(-round);
          b.mapState<string, number>("m").put("x", -round);
          b.mapState<string, number>("m").put(`new${round}`, round);
          sum.addFor(i, { n: 1000 });
        }
        b.setCurrentKey(`added-${round}`);
        b.valueState<{ n: number }>("v").update({ n: -round });
      };
      mutate(); // right after the snapshot point
      const handle = await finish(snap, mutate);
      mutate();
      const r = await make();
      await r.restore([handle]);
      for (let i = 0; i < 40; i++) {
        r.setCurrentKey(i);
        assert.deepEqual(r.valueState("v").value(), { n: i }, `value of key ${i}`);
        assert.deepEqual(r.listState("l").get(), [i]);
        assert.deepEqual(r.mapState("m").entries(), [["x", i]]);
        assert.deepEqual(r.valueState("reduce").value(), { n: i });
      }
      r.setCurrentKey("added-1");
      assert.equal(r.valueState("v").value(), undefined, "a key added after the snapshot point");
      b.dispose();
      r.dispose();
    });
  });
}
