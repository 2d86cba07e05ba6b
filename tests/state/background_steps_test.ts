import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { stepInTurns } from "../../state/background_steps.ts";
import { Turns } from "./seeded_interleavings.ts";

describe("stepInTurns (a materialization's turns)", () => {
  test("the budget doubles while turns are quick, up to budgetMax, and halves after a slow one", () => {
    const turns = new Turns();
    let now = 0;
    const budgets: number[] = [];
    let slow = false;
    const clock = { now: () => now };
    stepInTurns({ scheduler: turns, clock, budgetMax: 1 << 14 }, (budget) => {
      budgets.push(budget);
      if (slow) now += 10;
      return budgets.length === 8;
    }, () => {});
    for (let i = 0; i < 5; i++) turns.turn();
    slow = true;
    while (turns.turn());
    assert.deepEqual(budgets, [4096, 8192, 16384, 16384, 16384, 16384, 8192, 4096]);
  });

  test("a promise a step returns is waited for; false then means more turns, and a stop ends it without end()", async () => {
    const turns = new Turns();
    let steps = 0;
    const ended: boolean[] = [];
    stepInTurns({ scheduler: turns }, () => (++steps === 2 ? Promise.resolve(false) : steps === 4), (done) => ended.push(done));
    turns.turn();
    turns.turn();
    assert.equal(turns.q.length, 0, "waiting for the promise");
    await Promise.resolve();
    await Promise.resolve();
    while (turns.turn());
    assert.deepEqual([steps, ended], [4, [true]]);

    const stopped: boolean[] = [];
    const stop = stepInTurns({ scheduler: turns }, () => false, (done) => stopped.push(done));
    turns.turn();
    stop();
    while (turns.turn());
    assert.deepEqual(stopped, []);
  });

  test("a step that throws, or rejects, ends it once with the error", async () => {
    const turns = new Turns();
    const ended: [boolean, unknown][] = [];
    stepInTurns({ scheduler: turns }, () => {
      throw new Error("full disk");
    }, (done, e) => ended.push([done, (e as Error).message]));
    stepInTurns({ scheduler: turns }, () => Promise.reject(new Error("put failed")), (done, e) => ended.push([done, (e as Error).message]));
    while (turns.turn());
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(ended, [[false, "full disk"], [false, "put failed"]]);
  });
});
