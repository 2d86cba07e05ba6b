/**
 * Every checkpoint left in storage must load (recovery would pick the latest one), and a
 * sample of them is restored into a fresh fault-free run on its own seeded world: the
 * latest at the job's parallelism, and one more (sampled, or the latest again) at a
 * changed parallelism, so that unaligned checkpoints' channel state is rescaled too. A
 * consistent cut makes that run's output continue the counts exactly up to the
 * failure-free totals.
 * @module
 */
import type { Runnable } from "../actors/dispatcher.ts";
import { joinKey, readMetadata } from "../checkpoint/metadata.ts";
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
  /** Restores at a changed parallelism of a checkpoint that held channel state. */
  rescaledWithChannelState: number;
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
  const report: RestoreReport = { checked: 0, failures: [], trace: [], rescaledWithChannelState: 0 };
  const withChannelState = new Set<number>();
  for (const id of ids) {
    try {
      const loaded = await loadCheckpoint(store, joinKey(jobDir, `chk-${id}`));
      if (loaded.files.some((f) => f.inputChannels.length > 0 || f.outputChannels.length > 0)) withChannelState.add(id);
    } catch (e) {
      report.failures.push(`Checkpoint ${id} has metadata in storage (recovery would pick it) but does not load: ${(e as Error).message}`);
    }
  }
  if (report.failures.length > 0 || ids.length === 0) return report;
  const latest = ids[ids.length - 1];
  const sample: { id: number; cfg: SimConfig }[] = [{ id: latest, cfg }];
  // The second restore changes the parallelism (Flink rescales unaligned checkpoints since 1.13).
  const rescale = prng.fork("rescale");
  const other = ids.length > 1 ? ids[prng.int(ids.length - 1)] : latest;
  sample.push({ id: other, cfg: rescaledConfig(cfg, rescale) });
  for (const { id, cfg: runCfg } of sample) {
    const failures = await restoreRun(runCfg, store, joinKey(jobDir, `chk-${id}`), prng.fork(`chk-${id}-${runCfg.sourceParallelism}-${runCfg.reduceParallelism}`), limits, report.trace);
    report.checked++;
    const at = `${runCfg.sourceParallelism}->${runCfg.reduceParallelism}`;
    if (runCfg !== cfg && withChannelState.has(id)) report.rescaledWithChannelState++;
    for (const f of failures) report.failures.push(`Restore of checkpoint ${id} at parallelism ${at}: ${f}`);
    if (failures.length > 0) break;
  }
  return report;
}

/** The config at another parallelism: the reduce side always changes, the source side half the time. */
function rescaledConfig(cfg: SimConfig, prng: SimPrng): SimConfig {
  const reduceParallelism = 1 + ((cfg.reduceParallelism - 1 + prng.range(1, 2)) % 3);
  const sourceParallelism = prng.chance(0.5) ? cfg.sourceParallelism : prng.range(1, 3);
  return { ...cfg, sourceParallelism, reduceParallelism };
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
  const copied = await copySharedFiles(store, dir, storage);
  if (copied > 0) trace.push(`restore ${dir}: ${copied} shared files copied`);
  const beforeStep = (actor: Runnable) => {
    const s = actor as unknown as Subtask;
    world.log(`step ${s.name}`);
    const bad = checkChannels(s.inputs.channels, s.name);
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
  trace.push(`restore ${dir} at ${cfg.sourceParallelism}->${cfg.reduceParallelism}: ${result?.status ?? "unfinished"} events=${world.events} hash=${world.trace.hash}`);
  return failures;
}

/**
 * Incremental checkpoints refer to shared files by their keys in the job's storage: the
 * restored run gets a copy of each one the checkpoint refers to, under the same key, as if
 * it ran on that storage (a new job never deletes another job's files).
 */
async function copySharedFiles(store: StorageAdapter, dir: string, storage: FaultyStorage): Promise<number> {
  let n = 0;
  for (const s of (await readMetadata(store, dir)).subtasks) {
    for (const key of s.shared ?? []) {
      const bytes = await store.get(key);
      // A missing file is left missing: the restore must then fail, naming it.
      if (bytes) {
        await storage.seed(key, bytes);
        n++;
      }
    }
  }
  return n;
}
