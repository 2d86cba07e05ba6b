/**
 * The note a stopped job leaves in its stop savepoint's `_metadata` once every sink
 * committed what the savepoint pre-committed (`sinksCommitted`; see CheckpointMetadata).
 * @module
 */
import type { Scheduler } from "../actors/time.ts";
import { encodeMetadata, joinKey, METADATA_FILE, readMetadata } from "../checkpoint/metadata.ts";
import type { JobWarning, RestoreSource } from "./job_master_types.ts";

/** Tries at writing the note, this many ms apart times the try. */
const NOTE_WRITE_ATTEMPTS = 3;
const NOTE_RETRY_DELAY_MS = 100;

/**
 * Notes in the stop savepoint's `_metadata` (where it was written) that its sinks
 * committed, trying a few times. Without the note a new run restoring the savepoint
 * commits its transactions again (idempotently), so a write that keeps failing is a
 * warning (`sinks_committed_unmarked`, handed to `warn`), not an error.
 *
 * @example
 * ```ts ignore
 * await noteSinksCommitted(savepoint, scheduler, (w) => master.warn(w));
 * ```
 */
export async function noteSinksCommitted(savepoint: RestoreSource, scheduler: Scheduler, warn: (w: JobWarning) => void): Promise<void> {
  const { storage, dir, location } = savepoint;
  let failure: unknown;
  for (let attempt = 0; attempt < NOTE_WRITE_ATTEMPTS; attempt++) {
    try {
      const metadata = await readMetadata(storage, dir);
      if (metadata.sinksCommitted) return;
      // One put of the whole file: a storage's put replaces a key at once, so a crash leaves the old or the new.
      await storage.put(joinKey(dir, METADATA_FILE), encodeMetadata({ ...metadata, sinksCommitted: true }));
      return;
    } catch (e) {
      failure = e;
    }
    if (attempt + 1 < NOTE_WRITE_ATTEMPTS) await new Promise<void>((resolve) => scheduler.after(NOTE_RETRY_DELAY_MS * (attempt + 1), resolve));
  }
  warn({ code: "sinks_committed_unmarked", message: `The stop savepoint ${location} could not be marked as committed (${(failure as Error)?.message ?? String(failure)}): a new run restoring it commits its transactions again, which only a sink that is not idempotent sees twice` });
}
