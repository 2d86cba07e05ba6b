/**
 * The checks at the end of a seed whose job finished: its committed output, every
 * savepoint that completed, and every checkpoint the archive kept, restored into fresh
 * fault-free runs.
 * @module
 */
import { listCompleted } from "../checkpoint/metadata.ts";
import { loadCheckpoint } from "../checkpoint/restore.ts";
import type { CollectSink } from "../connectors/collect_sink.ts";
import type { JobResult } from "../runtime/job_status.ts";
import { checkOutput, checkWindows, type Pair, type WindowCount } from "./checkers.ts";
import type { SimConfig } from "./config.ts";
import type { FaultyStorage } from "./faulty_storage.ts";
import { PrefixStorage } from "./process.ts";
import { restoreChecks } from "./restore_check.ts";
import type { SeedState } from "./seed_state.ts";

/** What the end checks look at: the job's result, id and last config, its sink and storage. */
export interface SeedEnd {
  result: JobResult;
  jobId: string;
  runCfg: SimConfig;
  sink: CollectSink<Pair>;
  windows: CollectSink<WindowCount>;
  storage: FaultyStorage;
}

/** Fails the seed for whatever the end checks find; returns how many checkpoints were restored and checked. */
export async function checkSeedEnd(state: SeedState, end: SeedEnd): Promise<number> {
  const { cfg, options: { mode } } = state;
  if (end.result.status !== "finished") {
    state.fail(`Job ended ${end.result.status}: ${end.result.error?.message ?? "no error"}`);
    return 0;
  }
  for (const v of checkOutput(end.sink.committed, cfg.records, cfg.keys, mode === "at-least-once")) state.fail(v);
  if (cfg.windowed) {
    // A stop with drain fires open windows early (Flink's semantics); the restored run fires the rest.
    const drained = cfg.ext.stop?.drain === true;
    for (const v of checkWindows(end.windows.committed, cfg.records, cfg.keys, cfg.windowSize, mode === "at-least-once", drained)) state.fail(v);
  }
  await checkSavepoints(state, end.storage);
  return await checkArchivedCheckpoints(state, end);
}

/** Every savepoint that completed stays loadable (aligned, never deleted by the core). */
async function checkSavepoints(state: SeedState, storage: FaultyStorage): Promise<void> {
  for (const loc of state.savepointLocations) {
    try {
      const sp = await loadCheckpoint(new PrefixStorage(storage.inner, loc), "");
      if (sp.metadata.type !== "SAVEPOINT" || sp.metadata.unaligned) state.fail(`Savepoint ${loc} is ${sp.metadata.type}${sp.metadata.unaligned ? ", unaligned" : ""}`);
    } catch (e) {
      state.fail(`Savepoint ${loc} completed but does not load: ${(e as Error).message}`);
    }
  }
}

/** The job's clean-up deleted its checkpoints; the archive kept what recovery could have picked. */
async function checkArchivedCheckpoints(state: SeedState, end: SeedEnd): Promise<number> {
  const store = end.storage.archive;
  const ids = await listCompleted(store, "sim", end.jobId);
  state.world.log(`checkpoints in storage at the end: ${ids.join(",")}`);
  if (state.failures.length > 0) return 0;
  const r = await restoreChecks(end.runCfg, store, `sim/${end.jobId}`, ids, state.options.root.fork("restore"), state.options.limits);
  for (const line of r.trace) state.world.log(line);
  for (const f of r.failures) state.fail(f);
  state.proc.rescaledChannelStateRestores += r.rescaledWithChannelState;
  return r.checked;
}
