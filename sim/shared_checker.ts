/**
 * Checks on the shared files of incremental checkpoints (issue 10 item 5), fed by the
 * seed's storage as operations land: a checkpoint's metadata never becomes visible
 * while a shared file it refers to is missing (checkers.ts); a shared file is never
 * deleted while a checkpoint in storage refers to it; and when a job's directory is
 * cleaned up, no shared file written for a completed checkpoint id is left that no
 * checkpoint in storage (or metadata write in flight) refers to (a leak: the coordinator's
 * sweep should have taken it).
 * @module
 */
import { decodeMetadata } from "../checkpoint/metadata.ts";
import { sharedFileCheckpointId } from "../checkpoint/shared_state.ts";

const METADATA = "/_metadata";

/** Whether a storage key is a shared state file. */
export function isSharedKey(key: string): boolean {
  return key.includes("/shared/");
}

/**
 * The shared files every `_metadata` in storage refers to, kept as writes and deletes
 * land.
 *
 * @example
 * ```ts
 * import { SharedFileLedger } from "./shared_checker.ts";
 * const ledger = new SharedFileLedger();
 * console.assert(ledger.deleted("sim/j/shared/heap/x/0/1-base") === undefined);
 * ```
 */
export class SharedFileLedger {
  /** Metadata key → checkpoint id and the shared files it refers to. */
  readonly #refs = new Map<string, { id: number; shared: string[]; checkpoint: boolean }>();

  /** A `_metadata` landed (undecodable ones are checkers.ts's finding). */
  metadataPut(key: string, bytes: Uint8Array): void {
    try {
      const m = decodeMetadata(bytes, key).metadata;
      this.#refs.set(key, { id: m.checkpointId, shared: m.subtasks.flatMap((s) => s.shared ?? []), checkpoint: m.type === "CHECKPOINT" });
    } catch {
      this.#refs.delete(key);
    }
  }

  /** A key was deleted: the failure when it is a shared file a checkpoint in storage refers to. */
  deleted(key: string): string | undefined {
    if (key.endsWith(METADATA)) {
      this.#refs.delete(key);
      return undefined;
    }
    if (!isSharedKey(key)) return undefined;
    for (const [meta, r] of this.#refs) {
      if (r.shared.includes(key)) return `Shared file ${key} was deleted while ${meta} (checkpoint ${r.id}) refers to it`;
    }
    return undefined;
  }

  /** Every key under `prefix` is deleted at once (a job's clean-up): no check, only bookkeeping. */
  prefixDeleted(prefix: string): void {
    for (const k of [...this.#refs.keys()]) if (k.startsWith(prefix)) this.#refs.delete(k);
  }

  /** The `_metadata` key of the newest checkpoint (not savepoint) under `jobPrefix`. */
  newestCheckpointMetadata(jobPrefix: string): string | undefined {
    let best: [string, number] | undefined;
    for (const [meta, r] of this.#refs) if (meta.startsWith(jobPrefix) && r.checkpoint && (!best || r.id > best[1])) best = [meta, r.id];
    return best?.[0];
  }

  /**
   * The leaks under a job directory about to be cleaned up: shared files written for an
   * id up to the newest completed checkpoint that no checkpoint in storage refers to.
   */
  leaks(jobPrefix: string, present: Iterable<string>, landing: ReadonlyMap<string, Uint8Array> = new Map()): string[] {
    let newest = -1;
    const live = new Set<string>();
    // A metadata write still in flight may land: what it refers to is not garbage yet.
    for (const [key, bytes] of landing) {
      if (!key.startsWith(jobPrefix)) continue;
      try {
        for (const s of decodeMetadata(bytes, key).metadata.subtasks) for (const k of s.shared ?? []) live.add(k);
      } catch {
        // Undecodable metadata is checkers.ts's finding when it lands.
      }
    }
    for (const [meta, r] of this.#refs) {
      if (!meta.startsWith(jobPrefix)) continue;
      for (const k of r.shared) live.add(k);
      if (r.checkpoint) newest = Math.max(newest, r.id);
    }
    const out: string[] = [];
    for (const k of present) {
      if (!k.startsWith(jobPrefix) || !isSharedKey(k) || live.has(k)) continue;
      const id = sharedFileCheckpointId(k);
      if (id !== undefined && id <= newest) out.push(k);
    }
    return out;
  }
}
