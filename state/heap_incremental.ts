/**
 * The keyed snapshot of an incremental heap checkpoint (heap_changelog.ts): steps the heap
 * snapshot (changed entries only, for a changelog), then encodes its columns into the
 * shared file's chunks a budget of entries per step (heap_encode.ts), checksums them in
 * slices, then writes the file as those chunks. No step encodes, copies or checksums the
 * whole state at once, so a base of a million keys does not stop the subtask.
 * @module
 */
import { CborWriter } from "../codec/cbor_writer.ts";
import { checkpointChunks } from "../codec/chunk_pool.ts";
import { firstUnpersistable, isNotPersistable } from "./state_not_persistable.ts";
import { ChecksumInSlices } from "../checkpoint/checksum.ts";
import { WeirError } from "../errors.ts";
import type { IncrementalKeyedState, KeyedStateSnapshot } from "./backend.ts";
import { ColumnsEncoder } from "./heap_encode.ts";
import type { ChangelogPlan, HeapChangelog } from "./heap_changelog.ts";
import type { HeapSnapshot, SnapshotChanges } from "./heap_snapshot.ts";
import type { StateTable } from "./heap_table.ts";
import { SlotList } from "./slot_list.ts";

/** The fewest entries for which a checkpoint after half of them changed writes a base rather than a changelog. */
const MOST_CHANGED_MIN_ENTRIES = 4096;

/**
 * True when half the keys or more were written since the previous snapshot point: a
 * changelog would be about as large as a base, so the checkpoint writes the base and no
 * materialization has to write it again in the background. A small state keeps its
 * changelogs: their bytes matter little, and a job's stats then show what a checkpoint
 * wrote apart from what it stands for.
 *
 * A dirty list notes a slot once per version it was written in, so a slot written before
 * and after a materialization's or a savepoint's point (`pointBetween`) is in it twice:
 * then, and only when the lists' lengths say "half", the distinct slots are counted (a pass
 * over the lists at the snapshot point, a few ms at a million keys, against a base of all
 * of them).
 */
export function mostKeysWritten(tables: Iterable<StateTable>, pointBetween: boolean): boolean {
  let noted = 0;
  let entries = 0;
  const all = [...tables];
  for (const t of all) {
    noted += t.dirty?.length ?? 0;
    entries += t.size;
  }
  if (entries < MOST_CHANGED_MIN_ENTRIES || noted * 2 < entries) return false;
  if (!pointBetween) return true;
  let written = 0;
  for (const t of all) if (t.dirty) written += distinctSlots(t.dirty, t.slotCount);
  return written * 2 >= entries;
}

/** How many distinct slots below `slots` a list holds. */
function distinctSlots(list: SlotList, slots: number): number {
  const seen = new Uint8Array(slots);
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const s = list.at(i);
    if (s < slots && seen[s] === 0) {
      seen[s] = 1;
      n++;
    }
  }
  return n;
}

/**
 * At a snapshot point, takes from the tables what the plan's changelog visits: the deletes
 * since the previous snapshot become its tombstones, and the slots written since then the
 * only ones it visits; the tables start new lists. A base takes nothing (undefined) and its
 * tables keep their lists, emptied. Lists are reused from `spareDirty`, not grown again
 * from nothing at every snapshot point (fresh memory is slow).
 */
export function takeChanges(tables: Iterable<StateTable>, spareDirty: Map<StateTable, SlotList>, plan: ChangelogPlan): SnapshotChanges | undefined {
  const deleted = new Map<StateTable, Set<unknown>>();
  const dirty = new Map<StateTable, SlotList>();
  for (const t of tables) {
    if (t.deleted && t.deleted.size > 0) deleted.set(t, t.deleted);
    t.deleted = new Set();
    const list = t.dirty ?? new SlotList();
    if (plan.base) {
      list.clear();
      t.dirty = list;
    } else {
      dirty.set(t, list);
      t.dirty = spareDirty.get(t) ?? new SlotList();
      spareDirty.delete(t);
    }
  }
  return plan.base ? undefined : { after: plan.changedAfter, deleted, dirty };
}

/**
 * Bytes checksummed per unit of a step's budget (entries): 4096 entries, 256 KiB. A
 * process's first checksums run before the JIT compiled the loop: a first checkpoint's
 * 1 MiB slice took 4–6 ms on Bun where a warm one takes 0.3 ms a 256 KiB.
 */
const CHECKSUM_BYTES_PER_ENTRY = 64;

/**
 * Wraps a heap snapshot into one that ends with the changelog (or base) file written; for a
 * materialization's plan, with its base written and taken into the chain or not (no result).
 * `written` is called once the file is written.
 *
 * @example
 * ```ts
 * import { HeapKeyedStateBackend } from "./heap_backend.ts";
 * import { MemoryStorage } from "../storage/memory.ts";
 * const b = new HeapKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 }, incremental: true, storage: new MemoryStorage() });
 * b.setCurrentKey("k");
 * b.valueState<number>("n").update(1);
 * const snap = b.snapshot(1); // incrementalSnapshot() underneath
 * while (!(await snap.step(10))) { }
 * console.assert(snap.result().format === "incremental");
 * snap.release();
 * ```
 */
export function incrementalSnapshot(snap: HeapSnapshot, log: HeapChangelog, plan: ChangelogPlan, written?: () => void): KeyedStateSnapshot {
  const checkpointId = snap.checkpointId;
  let handle: IncrementalKeyedState | undefined;
  /** The file is written (a materialization's has no handle). */
  let done = false;
  let writing: Promise<boolean> | undefined;
  let writer: CborWriter | undefined;
  let encoder: ColumnsEncoder | undefined;
  let parts: Uint8Array[] | undefined;
  let checksum: ChecksumInSlices | undefined;
  let tombstones: TombstonesWriter | undefined;
  let deleted: Record<string, [number, unknown[]][]> = {};
  const what = `the changelog of checkpoint ${checkpointId}`;
  snap.encodeNumberColumnsOffThread();
  return {
    checkpointId,
    // Its one promise is the upload of the file's chunks, which no record changes.
    awaitsStorageOnly: true,
    step: (budget) => {
      if (done) return true;
      if (writing) return writing;
      if (!encoder) {
        // A promise while large tables' number columns are encoded off the thread.
        const visited = snap.step(budget);
        if (visited instanceof Promise) return visited.then(() => false);
        if (!visited) return false;
        const tables = snap.columns();
        deleted = snap.tombstones;
        writer = new CborWriter(what, 1 << 16, true, checkpointChunks);
        writer.head(5, 3);
        writer.value("base");
        writer.value(plan.base);
        writer.value("tables");
        encoder = new ColumnsEncoder(writer, tables, "columns");
        return false;
      }
      if (!tombstones) {
        try {
          if (!encoder.step(budget)) return false;
        } catch (e) {
          const at = encoder.writing;
          throw at && isNotPersistable(e) ? snap.notPersistable(at.name, firstUnpersistable(at.values), e) : e;
        }
        // The columns are written: their buffers may go to the next snapshot.
        snap.release();
        writer!.value("deleted");
        tombstones = new TombstonesWriter(writer!, deleted);
        return false;
      }
      if (!checksum) {
        // A mass delete leaves a million tombstones: written a budget of keys per step.
        if (!tombstones.step(budget)) return false;
        // The file stays in the writer's chunks, checksummed a slice at a time (a base of a
        // million keys is megabytes: checksumming it at once held records up for ~30 ms).
        parts = writer!.takeParts();
        writer = undefined;
        checksum = new ChecksumInSlices(parts);
        return false;
      }
      if (!checksum.step(budget * CHECKSUM_BYTES_PER_ENTRY)) return false;
      const visited = snap.version + 0.5;
      const finishing = !plan.materialization
        ? log.finish(checkpointId, plan, visited, parts!, checksum.value, checkpointChunks)
        : log.finishMaterialization(plan, visited, parts!, checksum.value, checkpointChunks).then(() => undefined);
      writing = finishing.then((h) => {
        handle = h;
        done = true;
        try {
          written?.();
        } catch {
          // What follows the write (a materialization) is no part of this checkpoint.
        }
        return true;
      });
      parts = undefined;
      return writing;
    },
    result: () => {
      if (!handle) throw new WeirError("invariant_broken", `Keyed snapshot ${checkpointId} was asked for its result before its changelog was written`);
      return handle;
    },
    release: () => {
      snap.release();
      writer = undefined;
      encoder = undefined;
      tombstones = undefined;
      parts = undefined;
      checksum = undefined;
      if (!done) log.aborted(plan);
    },
  };
}

/** Writes `{ table: [[keyGroup, keys]] }` as encode() would, about `budget` keys per step. */
class TombstonesWriter {
  readonly #w: CborWriter;
  readonly #tables: [string, [number, unknown[]][]][];
  #t = 0;
  #g = -1;
  #i = 0;

  constructor(w: CborWriter, deleted: Record<string, [number, unknown[]][]>) {
    this.#w = w;
    this.#tables = Object.entries(deleted);
    w.head(5, this.#tables.length);
  }

  /** True once every table's tombstones are written. */
  step(budget: number): boolean {
    const w = this.#w;
    let left = Math.max(1, budget);
    while (this.#t < this.#tables.length) {
      const [name, groups] = this.#tables[this.#t];
      if (this.#g < 0) {
        w.value(name);
        w.head(4, groups.length);
        this.#g = 0;
      }
      while (this.#g < groups.length) {
        const [g, keys] = groups[this.#g];
        if (this.#i === 0) {
          w.head(4, 2);
          w.value(g);
          w.head(4, keys.length);
        }
        const end = Math.min(keys.length, this.#i + left);
        for (let i = this.#i; i < end; i++) w.value(keys[i]);
        left -= end - this.#i;
        this.#i = end;
        if (end < keys.length) return false;
        this.#i = 0;
        this.#g++;
        if (left <= 0) return this.#g === groups.length && this.#t + 1 === this.#tables.length;
      }
      this.#g = -1;
      this.#t++;
    }
    return true;
  }
}
