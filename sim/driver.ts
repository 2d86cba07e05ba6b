/**
 * Runs one seed: the counting job on a virtual world with faults injected at random
 * points until the seed's fault budget or window is used up, then a liveness phase in
 * which the job must finish. Afterwards the output is checked, every checkpoint left in
 * storage must load, and the latest (and one more, sampled) is restored into a fresh
 * fault-free run whose output must continue the cut exactly.
 *
 * The parts: seed_state.ts (what they share), fault_hooks.ts (where faults enter the
 * core), operator_actions.ts (process crashes, savepoints, stop), process_runs.ts (one
 * process after another), run_events.ts (each run's bookkeeping), seed_checks.ts (the
 * end checks).
 * @module
 */
import { CollectSink } from "../connectors/collect_sink.ts";
import { changelogMemory } from "../state/sqlite_changelog.ts";
import { setDirectoryOpener } from "../storage/directory.ts";
import type { Pair, WindowCount } from "./checkers.ts";
import { type SimMode, drawConfig } from "./config.ts";
import { coordinatorFaults, seedNetwork, seedStorage, stepHook } from "./fault_hooks.ts";
import { openSavepointDirectories, scheduleOperatorActions } from "./operator_actions.ts";
import { SimPrng } from "./prng.ts";
import { runProcesses } from "./process_runs.ts";
import { takeRejections, trapRejections } from "./rejections.ts";
import { checkSeedEnd } from "./seed_checks.ts";
import { DEFAULT_LIMITS, type RunLimits, type SeedResult } from "./seed_result.ts";
import { SeedState } from "./seed_state.ts";
import { World, simJobId } from "./world.ts";

export { DEFAULT_LIMITS, type FaultKind, type ProcessCounts, type RunLimits, type SeedResult } from "./seed_result.ts";

/**
 * Runs one seed of one mode; never throws, every problem is a failure in the result.
 *
 * @example
 * ```ts ignore
 * const r = await runSeed(403, "aligned-with-timeout");
 * if (!r.ok) console.log(r.failures);
 * ```
 */
export async function runSeed(
  seed: number,
  mode: SimMode,
  limits: RunLimits = DEFAULT_LIMITS,
  options: { extensions?: boolean; stopWindowFaults?: boolean; network?: boolean; incremental?: boolean; bufferTimeout?: boolean } = {},
): Promise<SeedResult> {
  const root = new SimPrng(seed);
  const cfg = drawConfig(seed, mode, root.fork("config"), options.extensions ?? true, options.network ?? true, options.incremental ?? true, options.bufferTimeout ?? true);
  const world = new World(root.fork("world"), cfg, limits.traceKeep);
  const state = new SeedState(world, cfg, { seed, mode, root, limits, stopWindowFaults: options.stopWindowFaults ?? true });
  const storage = seedStorage(state);
  const sink = new CollectSink<Pair>();
  const windows = new CollectSink<WindowCount>();
  const firstJobId = simJobId(root.fork("job-id"));
  const parts = { storage, sink, windows, beforeStep: stepHook(state), coordinatorFaults: coordinatorFaults(state), network: seedNetwork(state) };

  // A seed is a world of its own: what a previous seed's dead processes kept in memory (a
  // crashed process never releases its changelogs) must not shrink this one's room.
  changelogMemory.kept = 0;
  const previousOpener = openSavepointDirectories(state);
  scheduleOperatorActions(state);
  trapRejections();
  try {
    await runProcesses(state, parts, { kind: "first", cfg, jobId: firstJobId, restorePath: undefined, idsAbove: 0, expectRestore: undefined });
  } catch (e) {
    state.fail(`Uncaught exception: ${(e as Error)?.stack ?? e}`);
  } finally {
    setDirectoryOpener(previousOpener);
  }
  for (const r of await takeRejections()) state.fail(`Unhandled rejection: ${(r as Error)?.stack ?? r}`);

  let restoresChecked = 0;
  if (state.failures.length === 0 && state.result) {
    const jobId = state.current?.handle?.id ?? firstJobId;
    const runCfg = state.current?.plan.cfg ?? cfg;
    restoresChecked = await checkSeedEnd(state, { result: state.result, jobId, runCfg, sink, windows, storage });
  }
  return {
    seed,
    mode,
    ok: state.failures.length === 0,
    failures: state.failures,
    hash: world.trace.hash,
    tail: world.trace.tail(),
    events: world.events,
    virtualMs: Math.round(world.elapsedMs),
    faults: state.faults,
    checkpoints: {
      completed: state.completed,
      failed: state.failedCount,
      failedBy: state.failedBy,
      unaligned: state.unalignedCompleted,
      withChannelState: state.withChannelState,
    },
    restarts: state.restarts,
    restoresChecked,
    process: state.proc,
    config: cfg,
  };
}
