/** A fixed budget of seeds per checkpointing mode, as CI runs it. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SIM_MODES } from "../../sim/config.ts";
import { runSeed } from "../../sim/driver.ts";
import { failureReport } from "../../sim/report.ts";

/** Seeds per mode; the whole suite stays well under two minutes on Bun and on Deno. */
const SEEDS_PER_MODE = 400;

describe("simulator seed budget", () => {
  for (const mode of SIM_MODES) {
    test(`runSeed() passes every invariant for seeds 0..${SEEDS_PER_MODE - 1} in ${mode} mode`, async () => {
      const reports: string[] = [];
      let faults = 0;
      let completed = 0;
      for (let seed = 0; seed < SEEDS_PER_MODE; seed++) {
        const r = await runSeed(seed, mode);
        if (!r.ok) reports.push(failureReport(r, 25));
        faults += Object.values(r.faults).reduce((a, b) => a + (b ?? 0), 0);
        completed += r.checkpoints.completed;
      }
      assert.equal(reports.length, 0, reports.join("\n\n"));
      // The budget must actually exercise faults and checkpoints, or it proves nothing.
      assert.ok(faults > SEEDS_PER_MODE, `only ${faults} faults injected`);
      assert.ok(completed > SEEDS_PER_MODE, `only ${completed} checkpoints completed`);
    });
  }
});
