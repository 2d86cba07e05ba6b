/**
 * The life of the processes that run one seed's job: each run starts from a plan, is
 * driven until it ends, hangs or its process crashes; a crashed process is followed by a
 * run that resumes its job, a job stopped with a savepoint by a run that restores it at
 * a new parallelism.
 * @module
 */
import type { Runnable } from "../actors/dispatcher.ts";
import type { Transport } from "../actors/transport.ts";
import type { CoordinatorFaults } from "../checkpoint/coordinator.ts";
import { listCompleted, readMetadata } from "../checkpoint/metadata.ts";
import { loadCheckpoint } from "../checkpoint/restore.ts";
import type { CollectSink } from "../connectors/collect_sink.ts";
import type { JobHandle } from "../runtime/job_handle.ts";
import { JobMaster } from "../runtime/job_master.ts";
import type { Pair, WindowCount } from "./checkers.ts";
import type { FaultyStorage } from "./faulty_storage.ts";
import { buildCountingJob } from "./job.ts";
import type { SimPrng } from "./prng.ts";
import { takeRejections } from "./rejections.ts";
import { ProcessScheduler, ProcessStorage, PrefixStorage } from "./process.ts";
import { runStarted } from "./run_events.ts";
import type { ProcessRun, RunPlan, SeedState } from "./seed_state.ts";
import { type DriveEnd, settle, simJobId } from "./world.ts";

/** What every run of one seed's job is built on. */
export interface RunParts {
  storage: FaultyStorage;
  sink: CollectSink<Pair>;
  windows: CollectSink<WindowCount>;
  beforeStep: (actor: Runnable) => void;
  coordinatorFaults: CoordinatorFaults;
  /** The network of a process (undefined: in-memory channels). */
  network: (scheduler: ProcessScheduler) => Transport | undefined;
}

/** Runs the job, process after process, from `first` until a run ends for good or fails the seed. */
export async function runProcesses(state: SeedState, parts: RunParts, first: RunPlan): Promise<void> {
  const processPrng = state.options.root.fork("process");
  const ioPrng = state.options.root.fork("io");
  let plan: RunPlan | undefined = first;
  for (let n = 0; plan; n++) {
    const p = startProcess(state, parts, plan, n, ioPrng);
    plan = await superviseProcess(state, parts, p, processPrng);
  }
}

/** Starts run `n` in a new process, which becomes the current one. */
function startProcess(state: SeedState, parts: RunParts, plan: RunPlan, n: number, ioPrng: SimPrng): ProcessRun {
  const { world, cfg } = state;
  const p: ProcessRun = {
    n,
    plan,
    scheduler: new ProcessScheduler(world.scheduler),
    storage: new ProcessStorage(parts.storage),
    restoredSeen: false,
    stopInFlight: false,
    maxCompleted: 0,
    startEvents: world.events,
  };
  state.current = p;
  state.proc.runs++;
  if (n > 0) world.log(`process ${n} starts (${plan.kind}${plan.restorePath ? ` from ${plan.restorePath}` : ""})`);
  const { env } = buildCountingJob(plan.cfg, {
    jobName: "sim",
    storage: p.storage,
    restoreFrom: plan.restorePath,
    // A resumed run names no job id: it must find its own through the _current marker.
    runtime: {
      ...world.runtime(plan.kind === "resume" ? undefined : plan.jobId, parts.beforeStep, p.scheduler),
      faults: parts.coordinatorFaults,
      transport: parts.network(p.scheduler),
      // Over a network every subtask runs on a host of its own, with its own dispatcher.
      hostOf: plan.cfg.network ? (s) => `${s.vertexId}/${s.subtaskIndex}` : undefined,
    },
  }, world.waiter(cfg.asyncDelayMaxMs, ioPrng, p.scheduler), parts.sink, parts.windows);
  env.execute().then((handle) => runStarted(state, p, handle), (e) => {
    if (state.current === p) p.startError = e;
  });
  return p;
}

/** Drives run `p` to its end and returns the plan of the run that follows it, if any. */
async function superviseProcess(state: SeedState, parts: RunParts, p: ProcessRun, processPrng: SimPrng): Promise<RunPlan | undefined> {
  // Starting needs no event unless reads are delayed; one settle lets it finish as before.
  await settle();
  if (p.plan.expectRestore !== undefined && p.handle && !p.restoredSeen && state.failures.length === 0) {
    state.fail(`Run ${p.n} (${p.plan.kind}) started without restoring checkpoint ${p.plan.expectRestore}`);
  }
  const end = await driveProcess(state, p);
  if (!endedCleanly(state, p, end)) return undefined;
  if (p.result === undefined && state.crashDue && p.handle && state.stopWindowOpenToFaults) {
    return await crashProcess(state, parts.storage, p, p.handle, processPrng);
  }
  if (p.result?.status === "stopped" && state.stopWanted) return await restoreFromStop(state, parts.storage, p);
  return undefined;
}

/** Runs world events until run `p` ended, its process is due to crash, or a limit hit. */
function driveProcess(state: SeedState, p: ProcessRun): Promise<DriveEnd> {
  const { world, options: { limits } } = state;
  return world.drive({
    done: () =>
      state.failures.length > 0 || p.result !== undefined || p.startError !== undefined ||
      (state.crashDue && p.handle !== undefined && state.stopWindowOpenToFaults),
    limit: () => {
      if (world.events >= limits.maxEvents) return `no end after ${world.events} events`;
      if (state.faultsStoppedAt >= 0 && world.events - Math.max(state.faultsStoppedAt, p.startEvents) >= limits.livenessEvents) {
        return `job did not finish within ${limits.livenessEvents} events after faults stopped (liveness)`;
      }
      return undefined;
    },
  });
}

/** Fails the seed for a hang, a stuck world or a failed start; true when the run may be followed by another. */
function endedCleanly(state: SeedState, p: ProcessRun, end: DriveEnd): boolean {
  const h = p.handle;
  if (end === "limit") state.fail(`Hang: ${state.world.limitReason}; job status ${h?.status ?? "starting"}; ${h ? describeSubtasks(h) : ""}`);
  if (end === "stuck") state.fail(`Stuck: no event left to run and the job is ${h?.status ?? "starting"}; ${h ? describeSubtasks(h) : ""}`);
  if (p.startError !== undefined) state.fail(`Starting run ${p.n} (${p.plan.kind}) threw: ${(p.startError as Error)?.stack ?? p.startError}`);
  return end === "done" && state.failures.length === 0 && p.startError === undefined;
}

/**
 * The whole process dies: nothing of it runs again, its clean-up never happens. The next
 * run resumes its job; it may use no id the dead run used and must restore its latest
 * completed checkpoint (or the stop savepoint its run marker names).
 */
async function crashProcess(state: SeedState, storage: FaultyStorage, p: ProcessRun, h: JobHandle, processPrng: SimPrng): Promise<RunPlan> {
  state.crashDue = false;
  state.proc.crashes++;
  p.scheduler.kill();
  p.storage.kill();
  const landed = storage.crash(processPrng);
  state.world.log(`PROCESS CRASH of run ${p.n} (job ${h.status}); ${landed} in-flight writes landed`);
  for (const r of await takeRejections()) state.fail(`Unhandled rejection: ${(r as Error)?.stack ?? r}`);
  // What the dead run used: every completed id it saw, every id with files in storage.
  let idsAbove = p.plan.idsAbove;
  const runPrefix = `sim/${h.id}/chk-`;
  for (const k of await storage.inner.list(runPrefix)) {
    const m = /^(\d+)\//.exec(k.slice(runPrefix.length));
    if (m) idsAbove = Math.max(idsAbove, Number(m[1]));
  }
  idsAbove = Math.max(idsAbove, p.maxCompleted);
  const own = await listCompleted(storage.inner, "sim", h.id);
  let expectRestore = own.length > 0 ? own[own.length - 1] : p.plan.restorePath ? p.plan.expectRestore : undefined;
  // A run whose stop savepoint completed and was recorded in its run marker finishes from it.
  const marker = await JobMaster.unfinishedRun(storage.inner, "sim");
  if (marker?.jobId === h.id && marker.stopSavepoint) {
    // Read straight from the shared storage: no process is alive to answer through.
    expectRestore = (await readMetadata(new PrefixStorage(storage.inner, marker.stopSavepoint), "")).checkpointId;
  }
  return { ...p.plan, kind: "resume", jobId: h.id, idsAbove, expectRestore };
}

/** The job stopped with a savepoint: the next run restores it, under a new job id, at the stop's parallelism. */
async function restoreFromStop(state: SeedState, storage: FaultyStorage, p: ProcessRun): Promise<RunPlan | undefined> {
  state.stopDone = true;
  const sp = p.result!.savepoint;
  if (!sp) {
    state.fail("The job ended stopped without a savepoint location");
    return undefined;
  }
  state.savepointLocations.push(sp);
  const st = state.cfg.ext.stop!;
  const loaded = await loadCheckpoint(new PrefixStorage(storage.inner, sp), "").catch((e) => e as Error);
  if (loaded instanceof Error) {
    state.fail(`The stop savepoint ${sp} does not load: ${loaded.message}`);
    return undefined;
  }
  const expectRestore = loaded.metadata.checkpointId;
  state.proc.restoredFromStop = true;
  state.world.log(`stopped with savepoint ${sp} (checkpoint ${expectRestore}); restoring at ${st.sourceParallelism}->${st.reduceParallelism}`);
  return {
    kind: "restore",
    cfg: { ...state.cfg, sourceParallelism: st.sourceParallelism, reduceParallelism: st.reduceParallelism },
    jobId: simJobId(state.options.root.fork(`job-id-${p.n + 1}`)),
    restorePath: sp,
    idsAbove: 0,
    expectRestore,
  };
}

/** Where each subtask stands: for hang reports. */
function describeSubtasks(job: JobHandle): string {
  return job.vertices().flatMap((v) =>
    v.subtasks.map((s) => `${v.name} ${s.index}: ${s.barrierState}, ${s.queuedBatches} batches queued in, ${s.outputBuffered} buffered out, ${s.recordsIn} in/${s.recordsOut} out`)
  ).join("; ");
}
