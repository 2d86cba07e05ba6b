/** A fixed budget of seeds per checkpointing mode, as CI runs it. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SIM_MODES } from "../../sim/config.ts";
import { runSeed } from "../../sim/driver.ts";
import { failureReport } from "../../sim/report.ts";

/**
 * Seeds per mode, and where they start. CI runs the suite under Bun and again under Deno and
 * must finish in 20 minutes on 2 cores, so each runtime takes a slice: Bun seeds 0..99, Deno
 * 400..449 (seeds Bun does not run). Thousands more run with `npm run sim`.
 */
const IS_DENO = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
const FIRST_SEED = IS_DENO ? 400 : 0;
const SEEDS_PER_MODE = IS_DENO ? 50 : 100;
/** Seeds per test; the timeout only guards against a hang (a loaded machine runs a chunk in well over a minute). */
const CHUNK = 50;

describe("simulator seed budget", () => {
  for (const mode of SIM_MODES) {
    for (let from = FIRST_SEED; from < FIRST_SEED + SEEDS_PER_MODE; from += CHUNK) {
      test(`runSeed() passes every invariant for seeds ${from}..${from + CHUNK - 1} in ${mode} mode`, { timeout: 300_000 }, async () => {
        const reports: string[] = [];
        let faults = 0;
        let completed = 0;
        const proc = { crashes: 0, savepoints: 0, restored: 0 };
        const net = { seeds: 0, rpcFailed: 0 };
        for (let seed = from; seed < from + CHUNK; seed++) {
          const r = await runSeed(seed, mode);
          if (!r.ok) reports.push(failureReport(r, 25));
          faults += Object.values(r.faults).reduce((a, b) => a + (b ?? 0), 0);
          completed += r.checkpoints.completed;
          proc.crashes += r.process.crashes;
          proc.savepoints += r.process.savepoints;
          if (r.process.restoredFromStop) proc.restored++;
          if (r.config.network) net.seeds++;
          net.rpcFailed += r.faults.rpc_failed ?? 0;
        }
        assert.equal(reports.length, 0, reports.join("\n\n"));
        // The budget must actually exercise faults and checkpoints, or it proves nothing.
        assert.ok(faults > CHUNK, `only ${faults} faults injected`);
        assert.ok(completed > CHUNK, `only ${completed} checkpoints completed`);
        // And the process-level events: crashes resumed, savepoints, stops restored at another parallelism.
        assert.ok(proc.crashes > 0 && proc.savepoints > 0 && proc.restored > 0, `process events: ${JSON.stringify(proc)}`);
        // And the network: seeds over the faulty transport, some of whose RPCs failed.
        assert.ok(net.seeds > 0 && net.seeds < CHUNK && net.rpcFailed > 0, `network: ${JSON.stringify(net)}`);
      });
    }
  }
});
