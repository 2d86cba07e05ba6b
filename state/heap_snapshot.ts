/**
 * The asynchronous snapshot of heap keyed state (copy-on-write, see heap_table.ts). The
 * snapshot point only ends a version; the snapshot then visits the tables a few cells at
 * a time between records: a cell of its version still in the table was not touched since,
 * and is taken (copied, since the table keeps it) and stamped as visited; a cell touched
 * first was handed over by the table (`save`) and is taken as it is. So neither an update,
 * a delete, a new key, nor a reduce function or user code changing a value in place after
 * the snapshot point reaches the snapshot.
 * @module
 */
import { assert } from "../errors.ts";
import type { KeyedStateHandle, KeyedStateSnapshot } from "./backend.ts";
import type { Cell, StateTable, Versions } from "./heap_table.ts";
import { keyGroupOf } from "./key_group.ts";
import type { KeyedTableSnapshot, StateKind } from "./keyed_state.ts";

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
  /** The snapshot finished visiting: the tables stop handing it cells. */
  detach(snapshot: HeapSnapshot): void;
}

interface TableProgress {
  at: TableAtSnapshot;
  /** Cells of the snapshot's version the table replaced before they were visited. */
  saved: [unknown, Cell][];
  groups: Map<number, [unknown, unknown][]>;
}

/** A snapshot in progress; see the module doc. */
export class HeapSnapshot implements KeyedStateSnapshot {
  readonly checkpointId: number;
  /** Cells up to this version belong to the snapshot. */
  readonly version: number;
  readonly #owner: HeapSnapshotOwner;
  readonly #tables: TableProgress[];
  readonly #byTable = new Map<StateTable, TableProgress>();
  #t = 0;
  #iter: Iterator<[unknown, Cell]> | undefined;
  #result: Record<string, KeyedTableSnapshot> | undefined;
  #released = false;

  /** Only cells written after this version are taken (a changelog); 0 takes every cell. */
  readonly #changedAfter: number;
  /** Per table, keys deleted since the previous changelog: tombstones unless present at the snapshot point. */
  readonly #deleted: Map<StateTable, Set<unknown>> | undefined;
  readonly #tombstones: Record<string, [number, unknown[]][]> = {};

  constructor(checkpointId: number, version: number, owner: HeapSnapshotOwner, tables: TableAtSnapshot[], changes?: { after: number; deleted: Map<StateTable, Set<unknown>> }) {
    this.checkpointId = checkpointId;
    this.version = version;
    this.#changedAfter = changes?.after ?? 0;
    this.#deleted = changes?.deleted;
    this.#owner = owner;
    this.#tables = tables.map((at) => ({ at, saved: [], groups: new Map() }));
    for (const p of this.#tables) this.#byTable.set(p.at.table, p);
  }

  /** A table replaces a cell of this snapshot's version that was not visited yet: the snapshot keeps it. */
  save(table: StateTable, k: unknown, cell: Cell): void {
    this.#byTable.get(table)?.saved.push([k, cell]);
  }

  step(budget: number): boolean {
    if (this.#result) return true;
    assert(!this.#released, () => `Keyed snapshot ${this.checkpointId} was stepped after its release`);
    let left = budget;
    // Visited cells are stamped between this version and the next: no later touch copies
    // them for this snapshot, and the next changelog (after version + 0.5) leaves them out.
    const visited = this.version + 0.5;
    while (this.#t < this.#tables.length) {
      const p = this.#tables[this.#t];
      this.#iter ??= p.at.table.cells.entries();
      for (;;) {
        if (left-- <= 0) return false;
        const next = this.#iter.next();
        if (next.done) break;
        const [k, c] = next.value;
        // A later version: written after the snapshot point (the old cell, if any, was saved).
        if (c.ver > this.version) continue;
        if (c.ver > this.#changedAfter) this.#emit(p, k, c.v, true);
        c.ver = visited;
      }
      for (const [k, c] of p.saved) if (c.ver > this.#changedAfter) this.#emit(p, k, c.v, false);
      left -= p.saved.length;
      this.#tombstonesOf(p, visited);
      p.saved = [];
      this.#byTable.delete(p.at.table);
      this.#iter = undefined;
      this.#t++;
    }
    this.#owner.detach(this);
    const out: Record<string, KeyedTableSnapshot> = {};
    for (const p of this.#tables) {
      out[p.at.table.name] = { kind: p.at.kind, groups: [...p.groups.entries()].sort((a, b) => a[0] - b[0]) };
      if (p.at.ttlValue) out[p.at.table.name].ttl = true;
    }
    this.#result = out;
    return true;
  }

  /** Deleted keys that were absent at the snapshot point, by key group. */
  #tombstonesOf(p: TableProgress, visited: number): void {
    const deleted = this.#deleted?.get(p.at.table);
    if (!deleted || deleted.size === 0) return;
    const savedKeys = new Set(p.saved.map((e) => e[0]));
    const groups = new Map<number, unknown[]>();
    for (const k of deleted) {
      const c = p.at.table.cells.get(k);
      if ((c !== undefined && c.ver <= visited) || savedKeys.has(k)) continue;
      const key = this.#owner.original(k);
      const g = keyGroupOf(key, this.#owner.maxParallelism);
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push(key);
    }
    if (groups.size > 0) this.#tombstones[p.at.table.name] = [...groups.entries()];
  }

  /** Tombstones per table name (a changelog's deletes); only after step() finished. */
  get tombstones(): Record<string, [number, unknown[]][]> {
    return this.#tombstones;
  }

  /** Files one entry under its key group; `live` values are copied (the table keeps them). */
  #emit(p: TableProgress, k: unknown, stored: unknown, live: boolean): void {
    let value = p.at.ttlValue ? p.at.ttlValue(stored) : p.at.kind === "map" ? [...(stored as Map<unknown, unknown>).values()] : stored;
    if (value === undefined && p.at.ttlValue) return;
    if (live && typeof value === "object" && value !== null) value = this.#owner.copy(p.at.table.name, value);
    const key = this.#owner.original(k);
    const g = keyGroupOf(key, this.#owner.maxParallelism);
    let list = p.groups.get(g);
    if (!list) p.groups.set(g, (list = []));
    list.push([key, value]);
  }

  result(): KeyedStateHandle {
    assert(this.#result && !this.#released, () => `Keyed snapshot ${this.checkpointId} was asked for its result before it finished or after its release`);
    return { format: "canonical", tables: this.#result };
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#result = undefined;
    this.#owner.detach(this);
    for (const p of this.#tables) p.saved = [];
  }
}
