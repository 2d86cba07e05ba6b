/**
 * Every checkpoint left in storage must load (recovery would pick the latest one), and a
 * sample of them, always including the latest, is restored into a fresh fault-free run
 * on its own seeded world: a consistent cut makes that run's output continue the counts
 * exactly up to the failure-free totals.
 * @module
 */
import type { Runnable } from "../actors/dispatcher.ts";
import { joinKey } from "../checkpoint/metadata.ts";
import { loadCheckpoint } from "../checkpoint/restore.ts";
import type { JobResult } from "../runtime/job_status.ts";
import type { Subtask } from "../runtime/subtask.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { checkChannels, checkRestoredOutput } from "./checkers.ts";
import type { SimConfig } from "./config.ts";
import { FaultyStorage } from "./faulty_storage.ts";
import { buildCountingJob } from "./job.ts";
import type { SimPrng } from "./prng.ts";
import { World, simJobId } from "./world.ts";

/** What the restore checks found. */
export interface RestoreReport {
  checked: number;
  failures: string[];
  /** One line per restore run, for the seed's trace (and hash). */
  trace: string[];
}

/** Checks checkpoints `ids` under `jobDir` in `store`. */
export async function restoreChecks(
  cfg: SimConfig,
  store: StorageAdapter,
  jobDir: string,
  ids: number[],
  prng: SimPrng,
  limits: { livenessEvents: number },
): Promise<RestoreReport> {
  const report: RestoreReport = { checked: 0, failures: [], trace: [] };
  for (const id of ids) {
    try {
      await loadCheckpoint(store, joinKey(jobDir, `chk-${id}`));
    } catch (e) {
      report.failures.push(`Checkpoint ${id} has metadata in storage (recovery would pick it) but does not load: ${(e as Error).message}`);
    }
  }
  if (report.failures.length > 0 || ids.length === 0) return report;
  const sample = [ids[ids.length - 1]];
  if (ids.length > 1) sample.push(ids[prng.int(ids.length - 1)]);
  for (const id of sample) {
    const failures = await restoreRun(cfg, store, joinKey(jobDir, `chk-${id}`), prng.fork(`chk-${id}`), limits, report.trace);
    report.checked++;
    for (const f of failures) report.failures.push(`Restore of checkpoint ${id}: ${f}`);
    if (failures.length > 0) break;
  }
  return report;
}

async function restoreRun(
  cfg: SimConfig,
  store: StorageAdapter,
  dir: string,
  prng: SimPrng,
  limits: { livenessEvents: number },
  trace: string[],
): Promise<string[]> {
  const world = new World(prng.fork("world"), cfg, 0);
  const failures: string[] = [];
  const storage = new FaultyStorage(world.scheduler, prng.fork("storage"), cfg.faults.storage, {
    faultsOn: () => false,
    fault: () => {},
    log: () => {},
  });
  const beforeStep = (actor: Runnable) => {
    const s = actor as unknown as Subtask;
    world.log(`step ${s.name}`);
    const bad = checkChannels(s.inputs, s.name);
    if (bad && failures.length === 0) failures.push(bad);
  };
  const { env, sink } = buildCountingJob(cfg, {
    jobName: "sim-restore",
    storage,
    restoreFrom: { storage: store, path: dir },
    runtime: world.runtime(simJobId(prng.fork("job-id")), beforeStep),
  }, world.waiter(cfg.asyncDelayMaxMs, prng.fork("io")));
  let result: JobResult | undefined;
  try {
    const job = await env.execute();
    job.on((e) => {
      if (e.type === "restarting") failures.push(`Fault-free restored run restarted: ${e.error.message}`);
    });
    job.done.then((r) => (result = r));
    const end = await world.drive({
      done: () => result !== undefined || failures.length > 0,
      limit: () => (world.events >= limits.livenessEvents ? `no end after ${world.events} events` : undefined),
    });
    if (end !== "done") failures.push(`Restored run did not finish (${end}: ${world.limitReason ?? "no events left"}), status ${job.status}`);
  } catch (e) {
    failures.push(`Restored run threw: ${(e as Error)?.stack ?? e}`);
  }
  if (failures.length === 0 && result) {
    if (result.status !== "finished") failures.push(`Restored run ended ${result.status}: ${result.error?.message ?? ""}`);
    else failures.push(...checkRestoredOutput(sink.committed, cfg.records, cfg.keys, cfg.mode === "at-least-once"));
  }
  trace.push(`restore ${dir}: ${result?.status ?? "unfinished"} events=${world.events} hash=${world.trace.hash}`);
  return failures;
}
