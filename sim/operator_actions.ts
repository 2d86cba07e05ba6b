/**
 * What the operator does to the job, at times the seed drew: whole-process crashes,
 * savepoints and a stop-with-savepoint. Each is a world event and hits whichever process
 * is alive then. Savepoints land in directories under `sp/` of the seed's storage.
 * @module
 */
import { WeirError } from "../errors.ts";
import { type DirectoryOpener, setDirectoryOpener } from "../storage/directory.ts";
import { PrefixStorage } from "./process.ts";
import type { SeedState } from "./seed_state.ts";

/**
 * Savepoint target directories are paths: maps them into this seed's storage, through the
 * current process's view (a dead process hears no replies). Returns the opener it replaced.
 */
export function openSavepointDirectories(state: SeedState): DirectoryOpener | undefined {
  return setDirectoryOpener((path) => {
    const p = path.replace(/\/+$/, "");
    const current = state.current;
    if (!p.startsWith("sp/") || !current) {
      state.fail(`The core opened directory ${JSON.stringify(path)}, outside the simulator's savepoint area`);
      throw new WeirError("storage_unavailable", `Simulator: no directory ${path}`);
    }
    return { storage: new PrefixStorage(current.storage, p), root: p };
  });
}

/** Schedules the seed's process crashes, savepoints and stop as world events. */
export function scheduleOperatorActions(state: SeedState): void {
  const { world, cfg: { ext } } = state;
  for (const at of ext.crashesAtMs) world.scheduler.schedule(at, "process crash due", () => void (state.crashDue = true));
  ext.savepointsAtMs.forEach((at, i) => world.scheduler.schedule(at, `savepoint ${i + 1} due`, () => triggerSavepoint(state, i + 1)));
  if (ext.stop) {
    world.scheduler.schedule(ext.stop.atMs, "stop due", () => {
      state.stopWanted = true;
      tryStop(state);
    });
  }
}

/** Savepoint `n` into `sp/<n>` of the running job, if any; its outcome counts only while that process lives. */
function triggerSavepoint(state: SeedState, n: number): void {
  const { world } = state;
  const p = state.current;
  const h = p?.handle;
  if (!p || !h) return world.log(`savepoint ${n}: no job running`);
  h.triggerSavepoint(`sp/${n}`).then((d) => {
    if (state.current !== p) return;
    world.log(`savepoint ${n} (checkpoint ${d.id}) ${d.status}${d.failure_reason ? `: ${d.failure_reason}` : ""}`);
    if (d.status === "COMPLETED") {
      state.proc.savepoints++;
      state.savepointLocations.push(d.external_path!);
    } else state.proc.savepointsFailed++;
  }, (e) => world.log(`savepoint ${n} refused: ${(e as Error).message}`));
}

/** Asks the running job to stop with a savepoint, and retries every 25 ms until a stop took or the job ended. */
function tryStop(state: SeedState): void {
  const { world } = state;
  const p = state.current;
  if (!state.stopWanted || state.stopDone || !p || p.result) return;
  world.scheduler.schedule(25, "stop retry", () => tryStop(state));
  const h = p.handle;
  if (!h || p.stopInFlight) return;
  p.stopInFlight = true;
  const attempt = ++state.proc.stops;
  h.stop({ savepoint: `sp/stop-${attempt}`, drain: state.cfg.ext.stop!.drain }).then((loc) => {
    if (state.current === p) world.log(`stop ${attempt} took savepoint ${loc}`);
  }, (e) => {
    if (state.current !== p) return;
    p.stopInFlight = false;
    world.log(`stop ${attempt} refused: ${(e as Error).message}`);
  });
}
