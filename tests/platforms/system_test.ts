import { test } from "node:test";
import assert from "node:assert/strict";
import { systemScheduler } from "../../platforms/system.ts";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test("systemScheduler: a delay beyond setTimeout's 32-bit range does not fire at once", async () => {
  // setTimeout(fn, 3e9) is set to 1 ms by every host: a processing-time timer 35 days ahead
  // or a month-long deploy timeout fired (and re-armed, spinning) right away.
  let fired = 0;
  const timers = [3e9, 2 ** 31, 1e12].map((ms) => systemScheduler.after(ms, () => fired++));
  const soon = systemScheduler.after(2 ** 31 - 1 - 1e9, () => fired++);
  await sleep(50);
  for (const t of [...timers, soon]) t.cancel();
  assert.equal(fired, 0);
});

test("systemScheduler: short delays still fire, and a cancelled timer does not", async () => {
  const seen: string[] = [];
  systemScheduler.after(0, () => seen.push("zero"));
  systemScheduler.after(-5, () => seen.push("negative"));
  const cancelled = systemScheduler.after(1, () => seen.push("cancelled"));
  cancelled.cancel();
  await new Promise<void>((r) => systemScheduler.after(5, r));
  assert.deepEqual(seen.sort(), ["negative", "zero"]);
});
