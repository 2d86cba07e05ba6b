/**
 * The job's shared state files (incremental checkpoints: heap changelogs, SQLite bases
 * and changelogs) are counted here, not by the backends that wrote them: a backend dies
 * with its execution attempt and knows neither the checkpoints a restore brought back
 * nor which metadata writes may still land. This is the role of Flink's
 * `SharedStateRegistry` (1.15: `SharedStateRegistryImpl`), kept by the checkpoint
 * coordinator.
 *
 * Files live under `<jobName>/<jobId>/shared/` (Flink's `<checkpoint-dir>/<job-id>/shared`)
 * and every file's name starts with the id of the checkpoint it was written for. Once
 * checkpoint N completed, a file written for an id below N is needed only if a checkpoint
 * that may still be restored refers to it: a backend's next changelog extends the chain
 * of its newest finished snapshot, which is N's chain or newer (a snapshot begun while
 * another was in flight writes a base). So after each completed checkpoint the sweep
 * deletes every such file that no checkpoint in storage, and no checkpoint whose metadata
 * write was issued, refers to: files of subsumed and aborted checkpoints, of restored
 * checkpoints once newer ones exist, of failed execution attempts and crashed processes,
 * and the partial files torn writes left.
 * @module
 */
import { checkpointDir, decodeMetadata, listCompleted, METADATA_FILE } from "./metadata.ts";
import type { StorageAdapter } from "../storage/adapter.ts";

/**
 * The storage key prefix of a job's shared state (no trailing slash).
 *
 * @example
 * ```ts
 * import { sharedStateDirectory } from "./shared_state.ts";
 * console.assert(sharedStateDirectory("wordcount", "ab") === "wordcount/ab/shared");
 * ```
 */
export function sharedStateDirectory(jobName: string, jobId: string): string {
  return `${jobName}/${jobId}/shared`;
}

/**
 * How far above the newest checkpoint begun a shared file's id may be: a heap backend names
 * a base it materializes between checkpoints for the checkpoint after the next
 * (state/heap_changelog.ts), so the job's last sweep covers ids this far beyond its next one.
 */
export const SHARED_FILE_IDS_AHEAD = 2;

/**
 * The checkpoint id a shared file was written for (its name starts with it), or undefined
 * for a name that does not.
 *
 * @example
 * ```ts
 * import { sharedFileCheckpointId } from "./shared_state.ts";
 * console.assert(sharedFileCheckpointId("j/id/shared/heap/j/sum/0/12-base") === 12);
 * console.assert(sharedFileCheckpointId("j/id/shared/sqlite/j/sum/1/7-changelog-0.db.tmp-3") === 7);
 * console.assert(sharedFileCheckpointId("j/id/shared/README") === undefined);
 * ```
 */
export function sharedFileCheckpointId(key: string): number | undefined {
  const m = /^(\d+)-/.exec(key.slice(key.lastIndexOf("/") + 1));
  return m ? Number(m[1]) : undefined;
}

/**
 * Reference counting of one job's shared files across the checkpoints that may be restored.
 *
 * @example
 * ```ts
 * import { SharedStateRegistry } from "./shared_state.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const storage = new MemoryStorage();
 * const registry = new SharedStateRegistry(storage, "j", "id");
 * await storage.put("j/id/shared/heap/op/0/1-base", new Uint8Array(1));
 * registry.register(2, []);
 * await registry.sweep(2);
 * console.assert((await storage.list("j/id/shared/")).length === 0);
 * ```
 */
export class SharedStateRegistry {
  readonly #storage: StorageAdapter;
  readonly #jobName: string;
  readonly #jobId: string;
  /** Shared files of every checkpoint whose metadata write was issued and that was not discarded. */
  readonly #refs = new Map<number, string[]>();
  /** Registered checkpoints whose metadata write failed: live only if their metadata is in storage. */
  readonly #failedWrites = new Set<number>();

  constructor(storage: StorageAdapter, jobName: string, jobId: string) {
    this.#storage = storage;
    this.#jobName = jobName;
    this.#jobId = jobId;
  }

  /** The metadata write of checkpoint `id` is issued: from now on it may be restored. */
  register(id: number, sharedKeys: Iterable<string>): void {
    this.#refs.set(id, [...new Set(sharedKeys)]);
  }

  /**
   * The metadata write of checkpoint `id` settled with an error: it may still have landed
   * (a lost acknowledgement), so storage decides at the next sweep.
   */
  metadataWriteFailed(id: number): void {
    if (this.#refs.has(id)) this.#failedWrites.add(id);
  }

  /** Checkpoint `id`'s directory was deleted (subsumed beyond `checkpoint.retained`). */
  discard(id: number): void {
    this.#refs.delete(id);
    this.#failedWrites.delete(id);
  }

  /**
   * Deletes the shared files written for checkpoints below `completedId` that no
   * checkpoint in storage and no registered one refers to; returns how many. Checkpoints
   * in storage this registry does not know (a crashed process's) are read from their
   * metadata; one that cannot be read stops the sweep, deleting nothing.
   */
  async sweep(completedId: number): Promise<number> {
    const stored = await listCompleted(this.#storage, this.#jobName, this.#jobId);
    // A failed metadata write that did not land never will: its checkpoint cannot be restored.
    for (const id of this.#failedWrites) if (!stored.includes(id)) this.discard(id);
    const live = new Set<string>();
    for (const keys of this.#refs.values()) for (const k of keys) live.add(k);
    for (const id of stored) {
      if (this.#refs.has(id)) continue;
      const keys = await this.#readRefs(id);
      if (!keys) return 0;
      for (const k of keys) live.add(k);
    }
    let deleted = 0;
    for (const key of await this.#storage.list(`${sharedStateDirectory(this.#jobName, this.#jobId)}/`)) {
      const id = sharedFileCheckpointId(key);
      if (id === undefined || id >= completedId || live.has(key)) continue;
      try {
        await this.#storage.delete(key);
        deleted++;
      } catch {
        // A file left behind costs space, not correctness; the next sweep tries again.
      }
    }
    return deleted;
  }

  /** The shared files a checkpoint in storage refers to, from its metadata; undefined when unreadable. */
  async #readRefs(id: number): Promise<string[] | undefined> {
    const key = `${checkpointDir(this.#jobName, this.#jobId, id)}/${METADATA_FILE}`;
    try {
      const bytes = await this.#storage.get(key);
      if (!bytes) return [];
      const subtasks = decodeMetadata(bytes, key).metadata.subtasks;
      // Metadata of a weir that did not record shared files: what it refers to is unknown.
      if (subtasks.some((s) => !Array.isArray(s.shared))) return undefined;
      return subtasks.flatMap((s) => s.shared!);
    } catch {
      return undefined;
    }
  }
}
