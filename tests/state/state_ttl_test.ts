import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode, encode } from "../../codec/cbor.ts";
import { WeirError } from "../../errors.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { restoreTables, tablesOf } from "./backend_conformance.ts";
import { VirtualWorld } from "../virtual_world.ts";

const ALL = { start: 0, end: 15 };

/** Moves the world's virtual clock forward by ms. */
async function advance(world: VirtualWorld, ms: number): Promise<void> {
  let done = false;
  world.scheduler.after(ms, () => (done = true));
  await world.drive(() => done, ms + 1);
}

function backend(world: VirtualWorld): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: 16, range: ALL, clock: world.clock });
}

describe("state TTL (processing time, injected clock)", () => {
  test("value state: expires ttl ms after its write; reads do not refresh it, writes do", async () => {
    const world = new VirtualWorld();
    const b = backend(world);
    b.setCurrentKey("k");
    const v = b.valueState<number>("v", { ttl: 100 });
    v.update(1);
    await advance(world, 99);
    assert.equal(v.value(), 1, "alive 1 ms before expiry");
    await advance(world, 1);
    assert.equal(v.value(), undefined, "a read at 99 ms did not refresh it");
    v.update(2);
    await advance(world, 60);
    v.update(3);
    await advance(world, 60);
    assert.equal(v.value(), 3, "the second write restarted the TTL");
    b.setCurrentKey("other");
    assert.equal(v.value(), undefined, "per key");
  });

  test("list state: each element expires on its own; map state: each entry on its own", async () => {
    const world = new VirtualWorld();
    const b = backend(world);
    b.setCurrentKey(7);
    const l = b.listState<string>("l", { ttl: 50 });
    const m = b.mapState<string, number>("m", { ttl: 50 });
    l.add("a");
    m.put("x", 1);
    await advance(world, 30);
    l.add("b");
    m.put("y", 2);
    assert.deepEqual(l.get(), ["a", "b"]);
    await advance(world, 20);
    assert.deepEqual(l.get(), ["b"]);
    assert.deepEqual(m.entries(), [["y", 2]]);
    assert.equal(m.has("x"), false);
    assert.equal(m.get("x"), undefined);
    await advance(world, 30);
    assert.deepEqual(l.get(), []);
    assert.deepEqual(m.keys(), []);
    l.update(["c", "d"]);
    await advance(world, 49);
    assert.deepEqual(l.get(), ["c", "d"]);
  });

  test("snapshots drop expired entries and carry write times: expiry is absolute across a restore", async () => {
    const world = new VirtualWorld();
    const b = backend(world);
    for (const key of [1, 2]) {
      b.setCurrentKey(key);
      b.valueState<string>("v", { ttl: 100 }).update(`v${key}`);
      b.listState<string>("l", { ttl: 100 }).add(`l${key}`);
      b.mapState<string, string>("m", { ttl: 100 }).put("e", `m${key}`);
      await advance(world, 60);
    }
    // key 1 was written at t0, key 2 at t0+60; now is t0+120: key 1 expired.
    const snap = decode(encode(tablesOf(b))) as Record<string, KeyedTableSnapshot>;
    for (const name of ["v", "l", "m"]) {
      assert.equal(snap[name].ttl, true);
      const keys = snap[name].groups.flatMap(([, entries]) => entries.map((e) => e[0]));
      assert.deepEqual(keys, [2], `${name}: the expired key is not in the snapshot`);
    }
    await advance(world, 30);
    const r = backend(world);
    restoreTables(r, [snap]);
    r.setCurrentKey(2);
    assert.equal(r.valueState<string>("v", { ttl: 100 }).value(), "v2");
    assert.deepEqual(r.listState<string>("l", { ttl: 100 }).get(), ["l2"]);
    assert.equal(r.mapState<string, string>("m", { ttl: 100 }).get("e"), "m2");
    await advance(world, 10); // t0+160 = written at t0+60 + 100
    assert.equal(r.valueState<string>("v", { ttl: 100 }).value(), undefined, "expired at its original write time + ttl, not the restore time + ttl");
    assert.deepEqual(r.listState<string>("l", { ttl: 100 }).get(), []);
    assert.equal(r.mapState<string, string>("m", { ttl: 100 }).get("e"), undefined);
  });

  test("bad ttl values and a changed TTL setting are WeirErrors naming the state and value", () => {
    const world = new VirtualWorld();
    const b = backend(world);
    b.setCurrentKey("k");
    for (const ttl of [0, -5, Number.NaN, Infinity, "10" as unknown as number]) {
      assert.throws(() => b.valueState("bad", { ttl }), (e: unknown) => e instanceof WeirError && e.code === "invalid_state_ttl" && e.message.includes('"bad"') && e.message.includes(String(ttl)));
    }
    assert.throws(() => b.listState("l2", { ttl: -1 }), (e: unknown) => e instanceof WeirError && e.code === "invalid_state_ttl");
    b.valueState<number>("plain").update(1);
    assert.throws(() => b.valueState("plain", { ttl: 10 }), (e: unknown) => e instanceof WeirError && e.code === "state_ttl_mismatch" && e.message.includes('"plain"'));
    const noClock = new HeapKeyedStateBackend({ maxParallelism: 16, range: ALL });
    assert.throws(() => noClock.valueState("x", { ttl: 10 }), (e: unknown) => e instanceof WeirError && e.code === "invalid_state_ttl");
  });
});
