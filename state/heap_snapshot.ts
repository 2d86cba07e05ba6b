/**
 * The asynchronous snapshot of heap keyed state (copy-on-write, see heap_table.ts). The
 * snapshot point only ends a version; the snapshot then visits the tables a few slots at
 * a time between records: an entry of its version still in the table was not touched since,
 * and is taken (copied, since the table keeps it) and stamped as visited; an entry touched
 * first was handed over by the table (`save`) and is taken as it is. So neither an update,
 * a delete, a new key, nor a reduce function or user code changing a value in place after
 * the snapshot point reaches the snapshot.
 *
 * Entries are collected as columns, a keys array and a values array per key group (no
 * array per entry: at a million keys those were most of a checkpoint's garbage), and the
 * key group of an entry is computed once and kept in the table. An entry the table hands
 * over is filed at once (no list of saved entries to take later). A changelog (incremental
 * checkpoint) visits only the keys the tables noted as written since the previous one.
 *
 * A checkpoint's writer may ask for the entries encoded as they are collected
 * (`encodeAsCollected`): then each key group's `[key, value]` pairs go straight into a
 * CBOR writer of its own, and neither a copy of a value nor a column of a million entries
 * lives on the heap until a later step encodes it (their collections were most of the
 * pauses of a full checkpoint at a million keys).
 *
 * Two snapshots may visit at once: a materialization (heap_materialization.ts) and a
 * changelog checkpoint or savepoint that came during its visit. The tables hand an old
 * cell to both; each takes it only if it is of its version and not visited (`save`). A
 * newer snapshot about to stamp a slot the older one has not visited gives it to the older
 * one first (`visitNow`): its stamp would tell the older one the slot was written since.
 *
 * What a table collected is kept by key group in heap_snapshot_groups.ts, in buffers that
 * serve the next snapshot (column builders of the backend's pool, chunks of the process's),
 * and a changelog's list of dirty slots goes back to its table once visited: fresh buffers
 * were tens of MiB per checkpoint at a million changed keys.
 * @module
 */
import { type WeirError, assert } from "../errors.ts";
import type { EncodedTable, KeyedStateHandle } from "./backend.ts";
import type { ColumnarSnapshot, TableColumns } from "./heap_encode.ts";
import { FREE_SLOT, type StateTable, type Versions } from "./heap_table.ts";
import { keyGroupOf } from "./key_group.ts";
import type { KeyedTableSnapshot, StateKind } from "./keyed_state.ts";
import { SlotList } from "./slot_list.ts";
import type { ColumnPool } from "./column_builder.ts";
import { KeyGroupEntries } from "./heap_snapshot_groups.ts";
import { TombstoneScan } from "./heap_snapshot_tombstones.ts";
import { isNotPersistable } from "./state_not_persistable.ts";
import { type NumberPairsLayout, type PairEncoding, pairEncoder } from "./number_pairs.ts";
import { TableNumbers } from "./heap_snapshot_numbers.ts";

/** One table as it was declared at the snapshot point. */
export interface TableAtSnapshot {
  kind: StateKind;
  table: StateTable;
  /** For a TTL table: turns a stored value into its snapshot form, or undefined when expired. */
  ttlValue?: (stored: unknown) => unknown;
}

/** What a snapshot needs from its backend. */
export interface HeapSnapshotOwner {
  readonly maxParallelism: number;
  readonly versions: Versions;
  /** The original (non-canonical) key of a canonical key. */
  original(k: unknown): unknown;
  /** A deep copy of a value that stays live. @throws {WeirError} `value_not_persistable` */
  copy(name: string, value: unknown): unknown;
  /** The error for a value of state `name` the encoder refused (`cause`), naming the state and operator. */
  notPersistable(name: string, value: unknown, cause: unknown): WeirError;
  /** The snapshot finished visiting: the tables stop handing it cells. */
  detach(snapshot: HeapSnapshot): void;
  /** Where column builders come from and go back to. */
  readonly columnPool: ColumnPool;
  /** A changelog visited the slots a table had noted as dirty: the list may be reused. */
  visitedDirty(table: StateTable, list: SlotList): void;
  /** Work on another thread the subtask's clock must not run past (Scheduler.hold): a virtual clock waits for it. */
  hold?(work: Promise<unknown>): void;
}

interface TableProgress {
  at: TableAtSnapshot;
  /**
   * Keys live at the snapshot point that the table handed over before they were visited,
   * and deleted keys visited: kept only when a changelog's deletes must tell them from keys
   * absent at the snapshot point.
   */
  savedKeys: Set<unknown> | undefined;
  /** What was collected: columns, or pairs encoded as collected. */
  entries: KeyGroupEntries;
  /** A large table's number pairs, collected flat for an encoder off the subtask's thread (heap_snapshot_numbers.ts). */
  numbers?: TableNumbers;
  /** For a changelog: the slots written since the previous one, the only ones visited. */
  dirty: SlotList | undefined;
  /**
   * For a changelog of a TTL table: keys written since the previous snapshot whose value
   * had all expired at this one, by key group. They become tombstones: left out, the
   * restore would fall back to the older value in the base, which may hold an entry the
   * job removed since.
   */
  expired: Map<number, unknown[]> | undefined;
}

/** What a changelog snapshot takes: cells written after `after`, in the slots `dirty` names, tombstones of `deleted`. */
export interface SnapshotChanges {
  after: number;
  deleted: Map<StateTable, Set<unknown>>;
  dirty: Map<StateTable, SlotList>;
}

/** A snapshot in progress; see the module doc. */
export class HeapSnapshot implements ColumnarSnapshot {
  readonly checkpointId: number;
  /** Cells up to this version belong to the snapshot. */
  readonly version: number;
  readonly #owner: HeapSnapshotOwner;
  readonly #tables: TableProgress[];
  readonly #byTable = new Map<StateTable, TableProgress>();
  #t = 0;
  /** Where the visit of the current table goes on: a slot, or for a changelog a place in its dirty list. */
  #at = 0;
  #columns: TableColumns[] | undefined;
  /** Encoding as collected: names the state in errors; the encoded tables once finished. */
  #encodeFor: string | undefined;
  #encoded: Record<string, EncodedTable> | undefined;
  /** An entry handed over by a table failed to encode: the next step throws it. */
  #failure: unknown;
  #started = false;
  /** Every table was visited: no slot is stamped or handed to it any more. */
  #visitDone = false;
  #released = false;

  /** Only cells written after this version are taken (a changelog); 0 takes every cell. */
  readonly #changedAfter: number;
  /**
   * An older snapshot still visiting beside this one (a materialization a changelog
   * checkpoint came during): a slot of its version this one is about to stamp goes to it
   * first, or the stamp would tell it the slot was written after its point.
   */
  #prior: HeapSnapshot | undefined;
  /** Per table, keys deleted since the previous changelog: tombstones unless present at the snapshot point. */
  readonly #deleted: Map<StateTable, Set<unknown>> | undefined;
  readonly #tombstones: Record<string, [number, unknown[]][]> = {};
  /** The current table's deleted keys being sorted into tombstones, across steps. */
  #scan: TombstoneScan | undefined;

  constructor(checkpointId: number, version: number, owner: HeapSnapshotOwner, tables: TableAtSnapshot[], changes?: SnapshotChanges, prior?: HeapSnapshot) {
    this.checkpointId = checkpointId;
    this.#prior = prior;
    this.version = version;
    this.#changedAfter = changes?.after ?? 0;
    this.#deleted = changes?.deleted;
    this.#owner = owner;
    this.#tables = tables.map((at) => ({
      at,
      savedKeys: (changes?.deleted.get(at.table)?.size ?? 0) > 0 ? new Set() : undefined,
      entries: new KeyGroupEntries(owner.columnPool),
      dirty: changes ? (changes.dirty.get(at.table) ?? new SlotList()) : undefined,
      expired: changes && at.ttlValue ? new Map() : undefined,
    }));
    for (const p of this.#tables) this.#byTable.set(p.at.table, p);
  }

  /**
   * Collecting columns for the heap's own files (a changelog, a base, a materialization):
   * large tables' number pairs are collected flat and their key group items encoded off the
   * thread (number_pairs.ts), when the platform has an encoder. Only before the first step;
   * the columns of such a table are then encoded already (`TableColumns.encoded`).
   */
  encodeNumberColumnsOffThread(): void {
    if (!this.#started && this.#encodeFor === undefined) this.#collectNumbers();
  }

  /**
   * Encodes entries as they are collected (see the module doc); only for a full snapshot,
   * before anything was collected.
   */
  encodeAsCollected(what: string): boolean {
    if (this.#started || this.#changedAfter > 0 || this.#tables.some((p) => p.dirty !== undefined || p.entries.collected)) return false;
    this.#encodeFor = what;
    this.#collectNumbers();
    return true;
  }

  /** Large tables (not TTL ones: their snapshot values are objects) collect their number pairs flat. */
  #collectNumbers(): void {
    const offThread = pairEncoder();
    if (!offThread) return;
    for (const p of this.#tables) {
      if (p.at.table.slotCount >= offThread.minEntries && !p.at.ttlValue) p.numbers = new TableNumbers(p.at.table.slotCount);
    }
  }

  /**
   * A table replaces an entry of this snapshot's version that was not visited yet: the
   * snapshot files the old value now (the table keeps a copy, or the new value).
   */
  save(table: StateTable, slot: number): void {
    const version = table.vers[slot];
    // Written after this snapshot's point, or visited: a newer snapshot beside it wants it.
    if (version > this.version) return;
    const p = this.#byTable.get(table);
    if (p === undefined) return;
    const k = table.keys[slot];
    p.savedKeys?.add(k);
    if (version <= this.#changedAfter) return;
    try {
      this.#emit(p, k, table.values[slot], slot, table.groups[slot], false);
    } catch (e) {
      // On a record's path: the checkpoint fails at its next step, not the record.
      this.#failure ??= e;
    }
  }

  /**
   * Visits one slot now, out of order: a newer snapshot visiting beside this one is about
   * to stamp it (see `#prior`). Nothing when this snapshot finished the table, or the slot
   * was written after its point or visited.
   */
  visitNow(table: StateTable, slot: number): void {
    const p = this.#byTable.get(table);
    if (p === undefined || this.#visitDone || table.vers[slot] > this.version) return;
    const k = table.keys[slot];
    if (k === FREE_SLOT) return;
    try {
      this.#emit(p, k, table.values[slot], slot, table.groups[slot], true);
    } catch (e) {
      // On the newer snapshot's step: this one fails at its own next step.
      this.#failure ??= e;
    }
    table.vers[slot] = this.version + 0.5;
  }

  /**
   * Visits about `budget` more slots; true once done. A promise only while the tables'
   * number pairs are encoded off the thread (`awaitsStorageOnly`: records flow meanwhile).
   */
  step(budget: number): boolean | Promise<boolean> {
    if (this.#columns || this.#encoded) return true;
    assert(!this.#released, () => `Keyed snapshot ${this.checkpointId} was stepped after its release`);
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#visitDone) return this.#numbersDone(budget);
    this.#started = true;
    let left = budget;
    // Visited cells are stamped between this version and the next: no later touch copies
    // them for this snapshot, and the next changelog (after version + 0.5) leaves them out.
    const visited = this.version + 0.5;
    const version = this.version;
    const after = this.#changedAfter;
    // Once the older snapshot beside this one finished visiting, no slot of its version is left.
    if (this.#prior !== undefined && this.#prior.#visitDone) this.#prior = undefined;
    const prior = this.#prior;
    const priorVersion = prior?.version ?? 0;
    while (this.#t < this.#tables.length) {
      const p = this.#tables[this.#t];
      const t = p.at.table;
      // Read per step: the table grows its typed arrays between steps.
      const vers = t.vers;
      // Deleted keys live at the snapshot point are noted as visited: a record may write
      // them before the table's visit ends, and then their slot says nothing of that point.
      const present = p.savedKeys;
      const deletedKeys = present && this.#deleted?.get(t);
      // A changelog visits the slots written since the previous one; a base, every slot.
      const dirty = p.dirty;
      const keys = t.keys;
      const n = dirty ? dirty.length : keys.length;
      let i = this.#at;
      for (; i < n; i++) {
        if (left-- <= 0) {
          this.#at = i;
          return false;
        }
        const slot = dirty ? dirty.at(i) : i;
        const ver = vers[slot];
        // Written after the snapshot point (the old value was saved), or visited already: a
        // slot freed and taken again is noted twice in a dirty list, and the visit stamped it
        // above version.
        if (ver > version) continue;
        const k = keys[slot];
        // Deleted: a tombstone, or saved.
        if (k === FREE_SLOT) continue;
        if (ver > after) this.#emit(p, k, t.values[slot], slot, t.groups[slot], true);
        if (ver <= priorVersion) prior!.visitNow(t, slot);
        vers[slot] = visited;
        if (deletedKeys && deletedKeys.has(k)) present!.add(k);
      }
      this.#at = i;
      // No entry is saved for this table any more: every slot of the snapshot's version was
      // visited or handed over (and filed then). Its deleted keys are sorted a budget at a
      // time: a mass delete leaves a million of them.
      left = this.#tombstonesOf(p, left);
      if (left < 0) return false;
      p.savedKeys = undefined;
      if (p.dirty) this.#owner.visitedDirty(t, p.dirty);
      p.dirty = undefined;
      this.#byTable.delete(p.at.table);
      this.#at = 0;
      this.#t++;
    }
    this.#visitDone = true;
    this.#prior = undefined;
    this.#owner.detach(this);
    if (this.#failure !== undefined) throw this.#failure;
    const layout: NumberPairsLayout = this.#encodeFor !== undefined ? "pairs" : "columns";
    for (const p of this.#tables) p.numbers?.visited(layout, p.entries);
    return this.#numbersDone(left);
  }

  /**
   * The visit is done: once the numbers kept on this thread joined their tables' columns (a
   * budget a step) and the encoder answered for the others, the tables are done, encoded
   * as collected or as columns.
   */
  #numbersDone(budget: number): boolean | Promise<boolean> {
    if (this.#columns || this.#encoded) return true;
    // One wait, whoever steps: a second continuation would take the groups again, empty.
    if (this.#waiting) return this.#waiting;
    let left = budget;
    for (const p of this.#tables) {
      if (p.numbers && (left = p.numbers.addToColumns(p.entries, left)) < 0) return false;
    }
    for (const p of this.#tables) {
      const answer = p.numbers?.answer() ?? true;
      if (answer !== true) return this.#waitFor(answer);
    }
    if (this.#encodeFor !== undefined) {
      const encoded: Record<string, EncodedTable> = {};
      for (const p of this.#tables) {
        p.numbers?.takePairs(p.entries);
        const groups = p.entries.takeEncoded();
        encoded[p.at.table.name] = p.at.ttlValue ? { kind: p.at.kind, ttl: true, groups } : { kind: p.at.kind, groups };
      }
      this.#encoded = encoded;
      return true;
    }
    this.#columns = this.#tables.map((p) => {
      const t: TableColumns = { name: p.at.table.name, kind: p.at.kind, ttl: p.at.ttlValue !== undefined, groups: p.entries.columns() };
      const encoded = p.numbers?.encodedColumns();
      if (encoded) t.encoded = encoded;
      return t;
    });
    return true;
  }

  /** The wait for the encoder's answer, while one is pending (every step returns it). */
  #waiting: Promise<boolean> | undefined;

  /** True while number pairs are encoded off the thread: nothing for the subtask to do but wait. */
  get awaitsStorageOnly(): boolean {
    return this.#tables.some((p) => p.numbers?.encoding === true);
  }

  /** Waits for an encoder's answer, then goes on; every step meanwhile returns the same promise. */
  #waitFor(encoding: PairEncoding): Promise<boolean> {
    const waiting = encoding.ready().then(() => {
      this.#waiting = undefined;
      return !this.#released && this.#numbersDone(Infinity);
    });
    this.#waiting = waiting;
    // The wait and what follows it: a virtual clock must not run on before the snapshot takes the pairs.
    this.#owner.hold?.(waiting);
    return waiting;
  }

  /**
   * Deleted keys that were absent at the snapshot point, by key group: neither visited nor
   * saved. Not read from the table: a record may have written a visited key since. Goes on
   * from where the last step left off; returns the budget left, or -1 when not done.
   */
  #tombstonesOf(p: TableProgress, budget: number): number {
    const deleted = this.#deleted?.get(p.at.table);
    if (!deleted || deleted.size === 0) {
      if (p.expired && p.expired.size > 0) this.#tombstones[p.at.table.name] = [...p.expired.entries()];
      return budget;
    }
    const scan = (this.#scan ??= new TombstoneScan(deleted, (k) => this.#owner.original(k), this.#owner.maxParallelism));
    const left = scan.step(budget, p.savedKeys);
    if (left < 0) return -1;
    this.#scan = undefined;
    const groups = scan.groups(p.expired);
    if (groups.length > 0) this.#tombstones[p.at.table.name] = groups;
    return left;
  }

  /** Tombstones per table name (a changelog's deletes); only after step() finished. */
  get tombstones(): Record<string, [number, unknown[]][]> {
    return this.#tombstones;
  }

  /**
   * Files one entry under its key group; `live` values are copied (the table keeps them),
   * unless they are encoded now.
   */
  #emit(p: TableProgress, k: unknown, stored: unknown, slot: number, keyGroup: number, live: boolean): void {
    let value = p.at.ttlValue ? p.at.ttlValue(stored) : p.at.kind === "map" ? [...(stored as Map<unknown, unknown>).values()] : stored;
    const expired = value === undefined && p.at.ttlValue !== undefined;
    if (expired && p.expired === undefined) return;
    // Only an object key has a canonical form other than itself, a string starting \u0000 or \u0001.
    const key = typeof k === "string" && k.charCodeAt(0) <= 1 ? this.#owner.original(k) : k;
    let g = keyGroup;
    if (g < 0) {
      g = keyGroupOf(key, this.#owner.maxParallelism);
      if (slot >= 0) p.at.table.groups[slot] = g;
    }
    if (expired) {
      let keys = p.expired!.get(g);
      if (!keys) p.expired!.set(g, (keys = []));
      keys.push(key);
      return;
    }
    if (this.#encodeFor !== undefined) return this.#encode(p, g, key, value);
    if (p.numbers?.push(key, value, g)) return;
    if (live && typeof value === "object" && value !== null) value = this.#owner.copy(p.at.table.name, value);
    p.entries.addColumns(g, key, value);
  }

  /** Appends one `[key, value]` pair to its key group's writer, or to the table's number pairs. */
  #encode(p: TableProgress, g: number, key: unknown, value: unknown): void {
    if (p.numbers?.push(key, value, g)) return;
    try {
      p.entries.addPair(g, key, value, this.#encodeFor!);
    } catch (e) {
      throw isNotPersistable(e) ? this.#owner.notPersistable(p.at.table.name, value, e) : e;
    }
  }

  /** The error for value `value` of state `name` that the encoder refused (`cause`), naming the state and operator. */
  notPersistable(name: string, value: unknown, cause: unknown): WeirError {
    return this.#owner.notPersistable(name, value, cause);
  }

  /** The entries encoded as collected (see `encodeAsCollected`), or undefined when they were not. */
  encodedTables(): Record<string, EncodedTable> | undefined {
    if (this.#encodeFor === undefined) return undefined;
    assert(this.#encoded && !this.#released, () => `Keyed snapshot ${this.checkpointId} was asked for its encoded tables before it finished or after its release`);
    return this.#encoded;
  }

  columns(): TableColumns[] {
    assert(this.#columns && !this.#released, () => `Keyed snapshot ${this.checkpointId} was asked for its columns before it finished or after its release`);
    return this.#columns;
  }

  /** The canonical tables ([key, value] pairs per key group), built from the columns. */
  result(): KeyedStateHandle {
    const out: Record<string, KeyedTableSnapshot> = {};
    for (const t of this.columns()) {
      assert(t.encoded === undefined, () => `Keyed snapshot ${this.checkpointId} has the columns of "${t.name}" encoded for a heap file: they have no canonical form here`);
      out[t.name] = { kind: t.kind, groups: t.groups.map(([g, keys, values]) => [g, Array.from(keys, (k, i) => [k, values[i]] as [unknown, unknown])]) };
      if (t.ttl) out[t.name].ttl = true;
    }
    return { format: "canonical", tables: out };
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#visitDone = true;
    this.#prior = undefined;
    this.#columns = undefined;
    this.#encoded = undefined;
    this.#owner.detach(this);
    for (const p of this.#tables) {
      p.savedKeys = undefined;
      p.entries.release();
      p.dirty = undefined;
      p.numbers?.release();
      p.numbers = undefined;
    }
  }
}
