/** The simulator replays a seed bit for bit, and its parts are deterministic on their own. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SimClock, SimScheduler } from "../../sim/clock.ts";
import { runSeed } from "../../sim/driver.ts";
import { SimPrng } from "../../sim/prng.ts";

describe("simulator determinism", () => {
  test("runSeed() with the same seed and mode gives the same trace hash and results", async () => {
    // Seed 3 (at-least-once, sqlite) ran 33–37 s a run on a slow machine: twice that passed
    // the suite's 60 s timeout, and the timed-out runs then raced the next test's.
    for (const [seed, mode] of [[7, "unaligned"], [536, "aligned"], [42, "aligned-with-timeout"], [6, "at-least-once"]] as const) {
      const a = await runSeed(seed, mode);
      const b = await runSeed(seed, mode);
      assert.equal(a.hash, b.hash, `seed ${seed} ${mode}`);
      assert.equal(a.events, b.events);
      assert.deepEqual(a.faults, b.faults);
      assert.deepEqual(a.checkpoints, b.checkpoints);
      assert.deepEqual(a.tail, b.tail);
    }
  });

  test("runSeed() replays whole-process crashes, savepoints and stop-and-restore bit for bit", async () => {
    for (const [seed, mode] of [[403, "aligned-with-timeout"], [417, "aligned-with-timeout"], [362, "aligned-with-timeout"]] as const) {
      const a = await runSeed(seed, mode);
      const b = await runSeed(seed, mode);
      assert.equal(a.hash, b.hash, `seed ${seed} ${mode}`);
      assert.deepEqual(a.process, b.process);
      assert.deepEqual(a.tail, b.tail);
      assert.ok(a.process.runs > 1, `seed ${seed} no longer restarts its process; pick another`);
    }
    assert.equal((await runSeed(403, "aligned-with-timeout")).process.crashes, 2);
    assert.ok((await runSeed(362, "aligned-with-timeout")).process.restoredFromStop);
  });

  test("runSeed() without extensions draws none: one process, no savepoint, no delayed reads", async () => {
    const r = await runSeed(403, "aligned-with-timeout", undefined, { extensions: false });
    assert.deepEqual(r.config.ext, { crashesAtMs: [], savepointsAtMs: [] });
    assert.equal(r.config.faults.storage.readMaxMs, undefined);
    assert.equal(r.process.runs, 1);
  });

  test("runSeed() with different seeds explores different schedules", async () => {
    const hashes = new Set<string>();
    for (let seed = 100; seed < 110; seed++) hashes.add((await runSeed(seed, "unaligned")).hash);
    assert.equal(hashes.size, 10);
  });

  test("SimPrng.fork() streams depend only on the seed path, not on draws made before", () => {
    const a = new SimPrng(5);
    const b = new SimPrng(5);
    for (let i = 0; i < 100; i++) b.next();
    assert.equal(a.fork("storage").next(), b.fork("storage").next());
    assert.notEqual(a.fork("storage").next(), a.fork("crash").next());
    const xs = Array.from({ length: 1000 }, () => a.int(6));
    for (let v = 0; v < 6; v++) assert.ok(xs.filter((x) => x === v).length > 100, `value ${v} underrepresented`);
  });

  test("SimScheduler runs events by (virtual time, sequence) and skips cancelled timers", () => {
    const clock = new SimClock(0);
    const s = new SimScheduler(clock);
    const seen: string[] = [];
    s.after(10, () => seen.push("t10"));
    const cancelled = s.after(5, () => seen.push("cancelled"));
    s.after(5, () => seen.push("t5a"));
    s.after(5, () => seen.push("t5b"));
    s.defer(() => seen.push("d0"));
    cancelled.cancel();
    for (let e = s.next(); e; e = s.next()) e.fn();
    assert.deepEqual(seen, ["d0", "t5a", "t5b", "t10"]);
    assert.equal(clock.now(), 10);
  });
});
