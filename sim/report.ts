/**
 * How a seed's result is printed: one line starting with SEED=, and for a failure the
 * config, every violation, the last trace lines and the replay command.
 * @module
 */
import { describeConfig } from "./config.ts";
import type { SeedResult } from "./driver.ts";

function faultsText(f: SeedResult["faults"]): string {
  const parts = Object.entries(f).map(([k, n]) => `${k}:${n}`);
  return parts.length ? parts.join(",") : "none";
}

/** Whole-process crashes, savepoints and stops, when the seed had any. */
function processText(p: SeedResult["process"]): string {
  if (p.runs === 1 && p.savepoints + p.savepointsFailed + p.stops === 0) return "";
  return ` runs=${p.runs} crashes=${p.crashes} savepoints=${p.savepoints}/${p.savepointsFailed} stops=${p.stops}`;
}

/** The one-line report of a seed, starting with SEED=. */
export function seedLine(r: SeedResult): string {
  return `SEED=${r.seed} mode=${r.mode} ${r.ok ? "ok" : "FAILED"} hash=${r.hash} events=${r.events} virtual=${r.virtualMs}ms ` +
    `checkpoints=${r.checkpoints.completed}/${r.checkpoints.failed} restarts=${r.restarts} restores=${r.restoresChecked} faults=${faultsText(r.faults)}` +
    processText(r.process);
}

/** The full report of a failed seed. */
export function failureReport(r: SeedResult, traceLines: number): string {
  const tail = r.tail.slice(-traceLines);
  return [
    seedLine(r),
    `  config: ${describeConfig(r.config)}`,
    ...r.failures.map((f) => `  failure: ${f}`),
    `  trace (last ${tail.length} of ${r.events} events; virtual ms, what):`,
    ...tail.map((l) => `    ${l}`),
    `  replay: npm run sim -- --seed ${r.seed} --mode ${r.mode}`,
  ].join("\n");
}
