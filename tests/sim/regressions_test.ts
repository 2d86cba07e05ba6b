/**
 * Every core bug the simulator found, pinned by its seed. A seed replays the exact
 * schedule and faults that exposed the bug when the simulator's settings are unchanged;
 * if sim/config.ts changes how seeds are drawn, re-find a seed for each entry.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { SimMode } from "../../sim/config.ts";
import { runSeed } from "../../sim/driver.ts";
import { failureReport } from "../../sim/report.ts";

const FOUND: { seed: number; mode: SimMode; bug: string }[] = [
  {
    seed: 178,
    mode: "unaligned",
    bug: "a slow metadata write landed after the failover had deleted the checkpoint's state files: a half checkpoint recovery would pick",
  },
  {
    seed: 536,
    mode: "aligned",
    bug: "a checkpoint of a failed attempt landed after the job restored from an older one; the next restart jumped to it and committed sink transactions twice",
  },
];

describe("simulator regressions", () => {
  for (const { seed, mode, bug } of FOUND) {
    test(`seed ${seed} (${mode}) stays fixed: ${bug}`, async () => {
      const r = await runSeed(seed, mode);
      assert.ok(r.ok, failureReport(r, 40));
      assert.ok(r.restarts > 0, "the seed no longer reaches a failover; re-find a seed for this bug");
    });
  }
});
