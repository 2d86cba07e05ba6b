/** The pieces of a whole-process crash: a dead process runs nothing and hears nothing; its in-flight writes land or vanish. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SimClock, SimScheduler } from "../../sim/clock.ts";
import { FaultyStorage } from "../../sim/faulty_storage.ts";
import { PrefixStorage, ProcessScheduler, ProcessStorage } from "../../sim/process.ts";
import { SimPrng } from "../../sim/prng.ts";

const NO_FAULTS = { putFail: 0, torn: 0, lostAck: 0, slow: 0, slowMaxMs: 10, baseMaxMs: 5 };
const hooks = { faultsOn: () => false, fault: () => {}, log: () => {} };

async function runAll(s: SimScheduler): Promise<void> {
  for (let e = s.next(); e; e = s.next()) {
    e.fn();
    await new Promise((r) => setTimeout(r, 0));
  }
}

describe("simulated process crash", () => {
  test("ProcessScheduler.kill() cancels every timer and deferred call, and later ones never run", async () => {
    const world = new SimScheduler(new SimClock(0));
    const p = new ProcessScheduler(world);
    const seen: string[] = [];
    p.after(5, () => seen.push("timer"));
    p.defer(() => seen.push("defer"));
    world.schedule(10, "world", () => {
      seen.push("world");
      p.defer(() => seen.push("after death"));
    });
    p.kill();
    await runAll(world);
    assert.deepEqual(seen, ["world"]);
  });

  test("FaultyStorage.crash() lands some in-flight writes, drops the rest, and settles none of their promises", async () => {
    const world = new SimScheduler(new SimClock(0));
    const storage = new FaultyStorage(world, new SimPrng(1).fork("s"), NO_FAULTS, hooks);
    const view = new ProcessStorage(storage);
    let settled = 0;
    for (let i = 0; i < 40; i++) void view.put(`j/x/chk-1/f${i}`, new Uint8Array([i])).then(() => settled++, () => settled++);
    view.kill();
    const landed = storage.crash(new SimPrng(2));
    await runAll(world);
    assert.equal(settled, 0);
    assert.ok(landed > 5 && landed < 35, `landed ${landed}`);
    assert.equal((await storage.inner.list("j/x/chk-1/")).length, landed);
    let answered = false;
    void view.get("j/_current").then(() => (answered = true));
    await runAll(world);
    assert.equal(answered, false, "a dead process makes no call");
  });

  test("FaultyStorage with readMaxMs answers reads as events, reading what is there when they complete", async () => {
    const world = new SimScheduler(new SimClock(0));
    const storage = new FaultyStorage(world, new SimPrng(1).fork("s"), { ...NO_FAULTS, readMaxMs: 3 }, hooks, new SimPrng(3));
    await storage.put("j/_current", new Uint8Array([1]));
    let got: Uint8Array | undefined | null = null;
    void storage.get("j/_current").then((v) => (got = v));
    await storage.delete("j/_current");
    assert.equal(got, null);
    await runAll(world);
    assert.equal(got, undefined);
  });

  test("PrefixStorage roots keys at its directory", async () => {
    const world = new SimScheduler(new SimClock(0));
    const storage = new FaultyStorage(world, new SimPrng(1).fork("s"), NO_FAULTS, hooks);
    const dir = new PrefixStorage(storage, "sp/1");
    const w = dir.put("savepoint-a/_metadata", new Uint8Array([7]));
    await runAll(world);
    await w;
    assert.deepEqual(await storage.inner.list("sp/"), ["sp/1/savepoint-a/_metadata"]);
    assert.deepEqual(await dir.list("savepoint-a/"), ["savepoint-a/_metadata"]);
  });
});
