/**
 * Runs one seed: the counting job on a virtual world with faults injected at random
 * points until the seed's fault budget or window is used up, then a liveness phase in
 * which the job must finish. Afterwards the output is checked, every checkpoint left in
 * storage must load, and the latest (and one more, sampled) is restored into a fresh
 * fault-free run whose output must continue the cut exactly.
 * @module
 */
import type { Runnable } from "../actors/dispatcher.ts";
import type { CoordinatorFaults } from "../checkpoint/coordinator.ts";
import { listCompleted, readMetadata } from "../checkpoint/metadata.ts";
import { loadCheckpoint } from "../checkpoint/restore.ts";
import { CollectSink } from "../connectors/collect_sink.ts";
import { setDirectoryOpener } from "../storage/directory.ts";
import { WeirError } from "../errors.ts";
import type { JobHandle } from "../runtime/job_handle.ts";
import { JobMaster } from "../runtime/job_master.ts";
import type { JobResult } from "../runtime/job_status.ts";
import type { Subtask } from "../runtime/subtask.ts";
import { checkChannels, checkCompletedDetails, checkMetadataAtCommit, checkOutput, type Pair, unexpectedError } from "./checkers.ts";
import { type SimConfig, type SimMode, drawConfig } from "./config.ts";
import { FaultyStorage, type StorageFaultKind } from "./faulty_storage.ts";
import { buildCountingJob } from "./job.ts";
import { SimPrng } from "./prng.ts";
import { restoreChecks } from "./restore_check.ts";
import { takeRejections, trapRejections } from "./rejections.ts";
import { ProcessScheduler, ProcessStorage, PrefixStorage } from "./process.ts";
import { World, settle, simJobId } from "./world.ts";

/** Every kind of fault the driver injects. */
export type FaultKind = StorageFaultKind | "subtask_crash" | "coordinator_crash_before_commit" | "coordinator_crash_after_commit";

/** What one seed did and found. */
export interface SeedResult {
  seed: number;
  mode: SimMode;
  ok: boolean;
  failures: string[];
  /** Hash over the whole trace (main run and restore runs): equal for two replays of a seed. */
  hash: string;
  /** The last trace lines of the main run. */
  tail: string[];
  events: number;
  virtualMs: number;
  faults: Partial<Record<FaultKind, number>>;
  checkpoints: {
    completed: number;
    failed: number;
    failedBy: Record<string, number>;
    /** Completed with at least one subtask unaligned (coverage of the unaligned paths). */
    unaligned: number;
    /** Completed with in-flight data persisted as channel state. */
    withChannelState: number;
  };
  restarts: number;
  restoresChecked: number;
  /** Runs of the job (1 + crashes + restores), whole-process crashes, savepoints completed/failed, stop attempts. */
  process: { runs: number; crashes: number; savepoints: number; savepointsFailed: number; stops: number; restoredFromStop: boolean };
  config: SimConfig;
}

/** Bounds of one seed's run. */
export interface RunLimits {
  /** Events of the main run in all. */
  maxEvents: number;
  /** Events after faults stopped by which the job must have finished. */
  livenessEvents: number;
  /** Trace lines kept for the failure report. */
  traceKeep: number;
}

export const DEFAULT_LIMITS: RunLimits = { maxEvents: 1_000_000, livenessEvents: 200_000, traceKeep: 40 };

const TERMINAL = new Set(["FINISHED", "FAILED", "CANCELED", "STOPPED"]);

const HARD_FAULTS = new Set<FaultKind>([
  "put_failed", "torn_write", "lost_ack", "subtask_crash", "coordinator_crash_before_commit", "coordinator_crash_after_commit",
]);

/** Runs one seed of one mode; never throws, every problem is a failure in the result. */
export async function runSeed(
  seed: number,
  mode: SimMode,
  limits: RunLimits = DEFAULT_LIMITS,
  options: { extensions?: boolean; stopWindowFaults?: boolean } = {},
): Promise<SeedResult> {
  const root = new SimPrng(seed);
  const cfg = drawConfig(seed, mode, root.fork("config"), options.extensions ?? true);
  const world = new World(root.fork("world"), cfg, limits.traceKeep);
  const failures: string[] = [];
  const fail = (msg: string) => {
    if (failures.length < 20) failures.push(msg);
    world.log(`FAILURE ${msg}`);
  };
  const faults: Partial<Record<FaultKind, number>> = {};
  const failedBy: Record<string, number> = {};
  let hardFaults = 0;
  let faultsStoppedAt = -1;
  let job: JobHandle | undefined;
  const endedJobIds = new Set<string>();
  /**
   * The window after a completed stop-with-savepoint and before the job ended: a failover
   * or a process crash there must finish from the stop savepoint (seeds 489 and 417 found
   * that it did not). Faults are injected there unless `stopWindowFaults` is false.
   */
  let stopWindow = false;
  const stopWindowFaults = options.stopWindowFaults ?? true;

  const faultsOn = (): boolean => {
    if (faultsStoppedAt >= 0) return false;
    if (hardFaults >= cfg.faults.budget || world.elapsedMs >= cfg.faults.windowMs) {
      faultsStoppedAt = world.events;
      world.log(`faults stop: ${hardFaults} injected; liveness phase`);
      return false;
    }
    return true;
  };
  const fault = (kind: FaultKind, detail: string) => {
    faults[kind] = (faults[kind] ?? 0) + 1;
    if (HARD_FAULTS.has(kind)) hardFaults++;
    world.log(`FAULT ${kind} ${detail}`);
  };

  const storage = new FaultyStorage(world.scheduler, root.fork("storage"), cfg.faults.storage, {
    faultsOn,
    fault,
    log: (t) => world.log(t),
    metadataVisible: (key, bytes, present) => {
      // Once the job ended its directory is garbage that no recovery reads; a late metadata write landing there is a leak, not a half checkpoint.
      if (job && TERMINAL.has(job.status)) return;
      // The same for a job of an earlier run that ended (stopped, then restored under a new id).
      for (const id of endedJobIds) if (key.startsWith(`sim/${id}/`)) return;
      const bad = checkMetadataAtCommit(key, bytes, present);
      if (bad) fail(bad);
    },
  }, root.fork("storage-reads"));

  const crashPrng = root.fork("crash");
  const beforeStep = (actor: Runnable) => {
    const s = actor as unknown as Subtask;
    world.log(`step ${s.name}`);
    const bad = checkChannels(s.inputs, s.name);
    if (bad) fail(bad);
    if (faultsOn() && (stopWindowFaults || !stopWindow) && crashPrng.chance(cfg.faults.crash)) {
      fault("subtask_crash", s.name);
      throw new WeirError("sim_crash", `Injected crash of ${s.name}`);
    }
  };
  const coordPrng = root.fork("coordinator");
  const coordinatorFaults: CoordinatorFaults = {
    beforeCommit(id) {
      if (faultsOn() && (stopWindowFaults || !stopWindow) && coordPrng.chance(cfg.faults.coordinatorBeforeCommit)) {
        fault("coordinator_crash_before_commit", `checkpoint ${id}`);
        throw new WeirError("coordinator_crash", `Injected coordinator crash before committing checkpoint ${id}`);
      }
    },
    afterCommit(id) {
      if (faultsOn() && (stopWindowFaults || !stopWindow) && coordPrng.chance(cfg.faults.coordinatorAfterCommit)) {
        fault("coordinator_crash_after_commit", `checkpoint ${id}`);
        throw new WeirError("coordinator_crash", `Injected coordinator crash after committing checkpoint ${id}`);
      }
    },
  };

  const firstJobId = simJobId(root.fork("job-id"));
  const ioPrng = root.fork("io");
  const processPrng = root.fork("process");
  const sink = new CollectSink<Pair>();
  let result: JobResult | undefined;
  let restarts = 0;
  let completed = 0;
  let unalignedCompleted = 0;
  let withChannelState = 0;
  let failedCount = 0;
  const proc = { crashes: 0, runs: 0, savepoints: 0, savepointsFailed: 0, stops: 0, restoredFromStop: false };
  const savepointLocations: string[] = [];

  /** The process running the job now. */
  interface Proc {
    n: number;
    scheduler: ProcessScheduler;
    storage: ProcessStorage;
    handle?: JobHandle;
    result?: JobResult;
    startError?: unknown;
    /** Checkpoint ids this run may not use: every id an earlier run of its job id used. */
    idsAbove: number;
    /** The checkpoint the run must restore first (undefined: nothing to restore). */
    expectRestore?: number;
    restoredSeen: boolean;
    stopInFlight: boolean;
    /** The highest checkpoint or savepoint id that completed in this run (its sink commits used it). */
    maxCompleted: number;
  }
  let current: Proc | undefined;
  const ext = cfg.ext;
  let crashDue = false;
  let stopWanted = false;
  let stopDone = false;

  // Savepoint target directories are paths: the opener maps them into this seed's storage,
  // through the current process's view (a dead process hears no replies).
  const previousOpener = setDirectoryOpener((path) => {
    const p = path.replace(/\/+$/, "");
    if (!p.startsWith("sp/") || !current) {
      fail(`The core opened directory ${JSON.stringify(path)}, outside the simulator's savepoint area`);
      throw new WeirError("storage_unavailable", `Simulator: no directory ${path}`);
    }
    return { storage: new PrefixStorage(current.storage, p), root: p };
  });

  // Operator actions are world events: they hit whichever process is alive then.
  for (const at of ext.crashesAtMs) world.scheduler.schedule(at, "process crash due", () => void (crashDue = true));
  ext.savepointsAtMs.forEach((at, i) =>
    world.scheduler.schedule(at, `savepoint ${i + 1} due`, () => {
      const p = current;
      const h = p?.handle;
      if (!p || !h) return world.log(`savepoint ${i + 1}: no job running`);
      h.triggerSavepoint(`sp/${i + 1}`).then((d) => {
        if (current !== p) return;
        world.log(`savepoint ${i + 1} (checkpoint ${d.id}) ${d.status}${d.failure_reason ? `: ${d.failure_reason}` : ""}`);
        if (d.status === "COMPLETED") {
          proc.savepoints++;
          savepointLocations.push(d.external_path!);
        } else proc.savepointsFailed++;
      }, (e) => world.log(`savepoint ${i + 1} refused: ${(e as Error).message}`));
    })
  );
  const tryStop = () => {
    const p = current;
    if (!stopWanted || stopDone || !p || p.result) return;
    world.scheduler.schedule(25, "stop retry", tryStop);
    const h = p.handle;
    if (!h || p.stopInFlight) return;
    p.stopInFlight = true;
    const attempt = ++proc.stops;
    h.stop({ savepoint: `sp/stop-${attempt}`, drain: ext.stop!.drain }).then((loc) => {
      if (current === p) world.log(`stop ${attempt} took savepoint ${loc}`);
    }, (e) => {
      if (current !== p) return;
      p.stopInFlight = false;
      world.log(`stop ${attempt} refused: ${(e as Error).message}`);
    });
  };
  if (ext.stop) {
    world.scheduler.schedule(ext.stop.atMs, "stop due", () => {
      stopWanted = true;
      tryStop();
    });
  }

  let kind: "first" | "resume" | "restore" = "first";
  let runCfg = cfg;
  let runJobId: string | undefined = firstJobId;
  let restorePath: string | undefined;
  let idsAbove = 0;
  let expectRestore: number | undefined;
  trapRejections();
  try {
    for (let n = 0;; n++) {
      const p: Proc = {
        n,
        scheduler: new ProcessScheduler(world.scheduler),
        storage: new ProcessStorage(storage),
        idsAbove,
        expectRestore,
        restoredSeen: false,
        stopInFlight: false,
        maxCompleted: 0,
      };
      current = p;
      proc.runs++;
      const startEvents = world.events;
      if (n > 0) world.log(`process ${n} starts (${kind}${restorePath ? ` from ${restorePath}` : ""})`);
      const { env } = buildCountingJob(runCfg, {
        jobName: "sim",
        storage: p.storage,
        restoreFrom: restorePath,
        // A resumed run names no job id: it must find its own through the _current marker.
        runtime: { ...world.runtime(kind === "resume" ? undefined : runJobId, beforeStep, p.scheduler), faults: coordinatorFaults },
      }, world.waiter(cfg.asyncDelayMaxMs, ioPrng, p.scheduler), sink);
      env.execute().then((handle) => {
        if (current !== p) return;
        p.handle = job = handle;
        if (kind === "resume" && handle.id !== runJobId) fail(`The resumed run is job ${handle.id}, not ${runJobId}: the _current marker of the crashed run was lost`);
        handle.on((e) => {
          if (current !== p) return;
          switch (e.type) {
            case "restarting": {
              restarts++;
              world.log(`restarting #${e.attempt}: ${e.error.message}`);
              const bad = unexpectedError(e.error);
              if (bad) fail(bad);
              break;
            }
            case "restored":
              if (n > 0) world.log(`run ${n} restored checkpoint ${e.checkpointId}`);
              if (!p.restoredSeen && p.expectRestore !== undefined && e.checkpointId !== p.expectRestore) {
                fail(`Run ${n} (${kind}) started from checkpoint ${e.checkpointId}, not the latest completed one, ${p.expectRestore}`);
              }
              p.restoredSeen = true;
              break;
            case "checkpoint_completed": {
              completed++;
              if (e.unaligned) unalignedCompleted++;
              if (e.persistedData > 0) withChannelState++;
              world.log(`checkpoint ${e.checkpointId} completed`);
              {
                // Ids that committed side effects: checkpoints and stop savepoints. An
                // intermediate savepoint commits nothing, and its id is not kept in the
                // job's storage, so a resumed run may use it again (harmless).
                const d = handle.checkpointDetails(e.checkpointId);
                const stopSavepoint = d?.is_savepoint && p.stopInFlight && d.external_path?.startsWith("sp/stop-");
                if (!d?.is_savepoint || stopSavepoint) p.maxCompleted = Math.max(p.maxCompleted, e.checkpointId);
                if (stopSavepoint) {
                  stopWindow = true;
                  world.log("stop savepoint committed");
                }
              }
              if (e.checkpointId <= p.idsAbove) fail(`Run ${n} (${kind}) reused checkpoint id ${e.checkpointId}; ids up to ${p.idsAbove} were used before`);
              const bad = checkCompletedDetails(handle.checkpointDetails(e.checkpointId), e.checkpointId);
              if (bad) fail(bad);
              break;
            }
            case "checkpoint_failed":
              failedCount++;
              failedBy[e.reason] = (failedBy[e.reason] ?? 0) + 1;
              world.log(`checkpoint ${e.checkpointId} failed: ${e.reason}`);
              if (e.checkpointId <= p.idsAbove) fail(`Run ${n} (${kind}) reused checkpoint id ${e.checkpointId}; ids up to ${p.idsAbove} were used before`);
              break;
          }
        });
        handle.done.then((r) => {
          if (current !== p) return;
          p.result = result = r;
          endedJobIds.add(handle.id);
          stopWindow = false;
        });
      }, (e) => {
        if (current === p) p.startError = e;
      });
      // Starting needs no event unless reads are delayed; one settle lets it finish as before.
      await settle();
      if (p.expectRestore !== undefined && p.handle && !p.restoredSeen && failures.length === 0) {
        fail(`Run ${n} (${kind}) started without restoring checkpoint ${p.expectRestore}`);
      }
      const end = await world.drive({
        done: () =>
          failures.length > 0 || p.result !== undefined || p.startError !== undefined ||
          (crashDue && p.handle !== undefined && (stopWindowFaults || !stopWindow)),
        limit: () => {
          if (world.events >= limits.maxEvents) return `no end after ${world.events} events`;
          if (faultsStoppedAt >= 0 && world.events - Math.max(faultsStoppedAt, startEvents) >= limits.livenessEvents) {
            return `job did not finish within ${limits.livenessEvents} events after faults stopped (liveness)`;
          }
          return undefined;
        },
      });
      const h = p.handle;
      if (end === "limit") fail(`Hang: ${world.limitReason}; job status ${h?.status ?? "starting"}; ${h ? describeSubtasks(h) : ""}`);
      if (end === "stuck") fail(`Stuck: no event left to run and the job is ${h?.status ?? "starting"}; ${h ? describeSubtasks(h) : ""}`);
      if (p.startError !== undefined) fail(`Starting run ${n} (${kind}) threw: ${(p.startError as Error)?.stack ?? p.startError}`);
      if (end !== "done" || failures.length > 0 || p.startError !== undefined) break;
      if (p.result === undefined && crashDue && h && (stopWindowFaults || !stopWindow)) {
        // The whole process dies: nothing of it runs again, its clean-up never happens.
        crashDue = false;
        proc.crashes++;
        p.scheduler.kill();
        p.storage.kill();
        const landed = storage.crash(processPrng);
        world.log(`PROCESS CRASH of run ${n} (job ${h.status}); ${landed} in-flight writes landed`);
        for (const r of await takeRejections()) fail(`Unhandled rejection: ${(r as Error)?.stack ?? r}`);
        // What the dead run used: every completed id it saw, every id with files in storage.
        const runPrefix = `sim/${h.id}/chk-`;
        for (const k of await storage.inner.list(runPrefix)) {
          const m = /^(\d+)\//.exec(k.slice(runPrefix.length));
          if (m) idsAbove = Math.max(idsAbove, Number(m[1]));
        }
        idsAbove = Math.max(idsAbove, p.maxCompleted);
        const own = await listCompleted(storage.inner, "sim", h.id);
        expectRestore = own.length > 0 ? own[own.length - 1] : restorePath ? p.expectRestore : undefined;
        // A run whose stop savepoint completed and was recorded in its run marker finishes from it.
        const marker = await JobMaster.unfinishedRun(storage.inner, "sim");
        if (marker?.jobId === h.id && marker.stopSavepoint) {
          // Read straight from the shared storage: no process is alive to answer through.
          expectRestore = (await readMetadata(new PrefixStorage(storage.inner, marker.stopSavepoint), "")).checkpointId;
        }
        runJobId = h.id;
        kind = "resume";
        continue;
      }
      if (p.result?.status === "stopped" && stopWanted) {
        stopDone = true;
        const sp = p.result.savepoint;
        if (!sp) {
          fail("The job ended stopped without a savepoint location");
          break;
        }
        savepointLocations.push(sp);
        const st = ext.stop!;
        runCfg = { ...cfg, sourceParallelism: st.sourceParallelism, reduceParallelism: st.reduceParallelism };
        restorePath = sp;
        const loaded = await loadCheckpoint(new PrefixStorage(storage.inner, sp), "").catch((e) => e as Error);
        if (loaded instanceof Error) {
          fail(`The stop savepoint ${sp} does not load: ${loaded.message}`);
          break;
        }
        expectRestore = loaded.metadata.checkpointId;
        idsAbove = 0;
        runJobId = simJobId(root.fork(`job-id-${n + 1}`));
        kind = "restore";
        proc.restoredFromStop = true;
        world.log(`stopped with savepoint ${sp} (checkpoint ${expectRestore}); restoring at ${st.sourceParallelism}->${st.reduceParallelism}`);
        continue;
      }
      break;
    }
  } catch (e) {
    fail(`Uncaught exception: ${(e as Error)?.stack ?? e}`);
  } finally {
    setDirectoryOpener(previousOpener);
  }
  for (const r of await takeRejections()) fail(`Unhandled rejection: ${(r as Error)?.stack ?? r}`);
  const jobId = current?.handle?.id ?? firstJobId;

  let restoresChecked = 0;
  if (failures.length === 0 && result) {
    if (result.status !== "finished") fail(`Job ended ${result.status}: ${result.error?.message ?? "no error"}`);
    else {
      for (const v of checkOutput(sink.committed, cfg.records, cfg.keys, mode === "at-least-once")) fail(v);
      // Every savepoint that completed stays loadable (aligned, never deleted by the core).
      for (const loc of savepointLocations) {
        try {
          const sp = await loadCheckpoint(new PrefixStorage(storage.inner, loc), "");
          if (sp.metadata.type !== "SAVEPOINT" || sp.metadata.unaligned) fail(`Savepoint ${loc} is ${sp.metadata.type}${sp.metadata.unaligned ? ", unaligned" : ""}`);
        } catch (e) {
          fail(`Savepoint ${loc} completed but does not load: ${(e as Error).message}`);
        }
      }
      // The job's clean-up deleted its checkpoints; the archive kept what recovery could have picked.
      const store = storage.archive;
      const ids = await listCompleted(store, "sim", jobId);
      world.log(`checkpoints in storage at the end: ${ids.join(",")}`);
      if (failures.length === 0) {
        const r = await restoreChecks(runCfg, store, `sim/${jobId}`, ids, root.fork("restore"), limits);
        restoresChecked = r.checked;
        for (const line of r.trace) world.log(line);
        for (const f of r.failures) fail(f);
      }
    }
  }
  return {
    seed,
    mode,
    ok: failures.length === 0,
    failures,
    hash: world.trace.hash,
    tail: world.trace.tail(),
    events: world.events,
    virtualMs: Math.round(world.elapsedMs),
    faults,
    checkpoints: { completed, failed: failedCount, failedBy, unaligned: unalignedCompleted, withChannelState },
    restarts,
    restoresChecked,
    process: proc,
    config: cfg,
  };
}

/** Where each subtask stands: for hang reports. */
function describeSubtasks(job: JobHandle): string {
  return job.vertices().flatMap((v) =>
    v.subtasks.map((s) => `${v.name} ${s.index}: ${s.barrierState}, ${s.queuedBatches} batches queued in, ${s.outputBuffered} buffered out, ${s.recordsIn} in/${s.recordsOut} out`)
  ).join("; ");
}
