/**
 * Where one seed injects faults into the core: its storage (failed, torn, lost and slow
 * operations), every actor step (subtask crashes), every metadata commit (coordinator
 * crashes before or after it) and its network (delayed, reordered and failed channel
 * messages). Each hook draws from a stream of its own.
 * @module
 */
import type { Runnable } from "../actors/dispatcher.ts";
import type { Transport } from "../actors/transport.ts";
import type { CoordinatorFaults } from "../checkpoint/coordinator.ts";
import { WeirError } from "../errors.ts";
import type { Subtask } from "../runtime/subtask.ts";
import { checkChannels, checkMetadataAtCommit } from "./checkers.ts";
import { FaultyStorage } from "./faulty_storage.ts";
import { FaultyTransport } from "./faulty_transport.ts";
import { SharedFileLedger } from "./shared_checker.ts";
import type { ProcessScheduler } from "./process.ts";
import type { SeedState } from "./seed_state.ts";

const TERMINAL = new Set(["FINISHED", "FAILED", "CANCELED", "STOPPED"]);

/** The seed's storage: faults while faults are on, and every metadata write checked as it becomes visible. */
export function seedStorage(state: SeedState): FaultyStorage {
  const { world, cfg, options: { root } } = state;
  const ledger = new SharedFileLedger();
  /** Whether a key belongs to a job that ended: its directory is garbage no recovery reads. */
  const ended = (key: string) => (state.job && TERMINAL.has(state.job.status)) || [...state.endedJobIds].some((id) => key.startsWith(`sim/${id}/`));
  return new FaultyStorage(world.scheduler, root.fork("storage"), cfg.faults.storage, {
    faultsOn: state.faultsOn,
    fault: state.fault,
    log: (t) => world.log(t),
    deleted: (key) => {
      const bad = ledger.deleted(key);
      if (bad && !ended(key)) state.fail(bad);
    },
    prefixDeleted: (prefix) => ledger.prefixDeleted(prefix),
    cleanup: (prefix, present, landing, order) => {
      // A leak is a file a sweep could have seen: one that landed before the newest checkpoint
      // did, or that a list answered after. An abandoned attempt's upload landing after the
      // last sweep goes with the directory.
      const newest = order.landedAt(ledger.newestCheckpointMetadata(prefix) ?? "");
      const leaks = ledger.leaks(prefix, present, landing).filter((k) => order.landedAt(k) < newest || order.listedSince(k));
      if (leaks.length > 0) state.fail(`Clean-up of ${prefix} found ${leaks.length} shared files no checkpoint in storage refers to (leaked): ${leaks.slice(0, 5).join(", ")}`);
      ledger.prefixDeleted(prefix);
    },
    metadataVisible: (key, bytes, present) => {
      ledger.metadataPut(key, bytes);
      // Once the job ended its directory is garbage that no recovery reads; a late metadata write landing there is a leak, not a half checkpoint.
      if (state.job && TERMINAL.has(state.job.status)) return;
      // The same for a job of an earlier run that ended (stopped, then restored under a new id).
      for (const id of state.endedJobIds) if (key.startsWith(`sim/${id}/`)) return;
      const bad = checkMetadataAtCommit(key, bytes, present);
      if (bad) state.fail(bad);
    },
  }, root.fork("storage-reads"));
}

/** Runs before every actor step: traces it, checks its input channels, and sometimes crashes it. */
export function stepHook(state: SeedState): (actor: Runnable) => void {
  const crashPrng = state.options.root.fork("crash");
  return (actor) => {
    const s = actor as unknown as Subtask;
    state.world.log(`step ${s.name}`);
    const bad = checkChannels(s.inputs.channels, s.name);
    if (bad) state.fail(bad);
    if (state.crashNow(crashPrng, state.cfg.faults.crash)) {
      state.fault("subtask_crash", s.name);
      throw new WeirError("sim_crash", `Injected crash of ${s.name}`);
    }
  };
}

/** Coordinator crashes just before and just after a checkpoint's metadata commits. */
export function coordinatorFaults(state: SeedState): CoordinatorFaults {
  const coordPrng = state.options.root.fork("coordinator");
  const { faults } = state.cfg;
  return {
    beforeCommit(id) {
      if (state.crashNow(coordPrng, faults.coordinatorBeforeCommit)) {
        state.fault("coordinator_crash_before_commit", `checkpoint ${id}`);
        throw new WeirError("coordinator_crash", `Injected coordinator crash before committing checkpoint ${id}`);
      }
    },
    afterCommit(id) {
      if (state.crashNow(coordPrng, faults.coordinatorAfterCommit)) {
        state.fault("coordinator_crash_after_commit", `checkpoint ${id}`);
        throw new WeirError("coordinator_crash", `Injected coordinator crash after committing checkpoint ${id}`);
      }
    },
  };
}

/**
 * The seed's network, one transport per simulated process (its deliveries die with the
 * process); undefined when the seed runs on in-memory channels. Latencies draw from the
 * "network" stream, failed RPCs from "network-faults".
 */
export function seedNetwork(state: SeedState): (scheduler: ProcessScheduler) => Transport | undefined {
  const cfg = state.cfg.network;
  if (!cfg) return () => undefined;
  const { root } = state.options;
  const delays = root.fork("network");
  const faults = root.fork("network-faults");
  return (scheduler) =>
    new FaultyTransport(cfg, delays, {
      schedule: (delayMs, label, fn) => scheduler.schedule(delayMs, label, fn),
      faultNow: (p) => state.crashNow(faults, p),
      fault: (kind, detail) => state.fault(kind, detail),
    });
}
