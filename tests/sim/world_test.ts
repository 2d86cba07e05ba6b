/** The simulated world's drive loop: virtual time and work held on real threads (Scheduler.hold). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ProcessScheduler } from "../../sim/process.ts";
import { SimPrng } from "../../sim/prng.ts";
import { World } from "../../sim/world.ts";

const realMs = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("World.drive", () => {
  test("runs no event while work held on a real thread is pending, so virtual time does not race it", async () => {
    const world = new World(new SimPrng("hold"), { stepCostMaxMs: 0, timerLateMaxMs: 0 });
    const seen: string[] = [];
    let ticks = 0;
    // A periodic timer, as a checkpoint trigger: without the hold, virtual time runs far ahead.
    const tick = () => {
      ticks++;
      world.scheduler.after(10, tick);
    };
    world.scheduler.after(10, tick);
    world.scheduler.after(5, () => {
      seen.push(`hold at ${world.elapsedMs}`);
      world.scheduler.hold(realMs(40).then(() => seen.push("real work done")));
    });
    const end = await world.drive({ done: () => world.elapsedMs >= 100, limit: () => undefined });
    assert.equal(end, "done");
    assert.deepEqual(seen, ["hold at 5", "real work done"]);
    assert.ok(ticks >= 9 && ticks <= 10, `virtual time went on after the work (${ticks} ticks)`);
  });

  test("a held promise that rejects releases the clock too, and a process's scheduler holds the world's", async () => {
    const world = new World(new SimPrng("hold"), { stepCostMaxMs: 0, timerLateMaxMs: 0 });
    const process = new ProcessScheduler(world.scheduler);
    const order: string[] = [];
    process.hold(realMs(20).then(() => {
      order.push("rejected");
      throw new Error("the thread failed");
    }));
    world.scheduler.after(1, () => order.push("event"));
    assert.notEqual(world.scheduler.held, undefined);
    assert.equal(await world.drive({ done: () => order.length === 2, limit: () => undefined }), "done");
    assert.deepEqual(order, ["rejected", "event"]);
    assert.equal(world.scheduler.held, undefined);
  });
});
