/**
 * The asynchronous snapshot of heap keyed state, copy-on-write per entry (the idea of
 * Flink's `CopyOnWriteStateMap`, FLINK-5715, without its version numbers). The snapshot
 * point only notes the tables; the entries are then visited a few at a time between
 * records. Until a visit, the backend asks the snapshot before it lets anything touch an
 * entry (`save`): the snapshot keeps the stored object as it was, and the live table
 * gets a copy to change. So neither an update, a delete, a new key, nor a reduce function
 * or user code changing a value in place after the snapshot point reaches the snapshot.
 * @module
 */
import { assert } from "../errors.ts";
import type { KeyedStateHandle, KeyedStateSnapshot } from "./backend.ts";
import { keyGroupOf } from "./key_group.ts";
import type { KeyedTableSnapshot, StateKind } from "./keyed_state.ts";

/** In a snapshot's saved entries: the key was not in the table at the snapshot point. */
export const ABSENT: unique symbol = Symbol("absent");
/** In a snapshot's saved entries: the entry is already in the snapshot; later changes need no saving. */
const DONE: unique symbol = Symbol("done");

/** One table as it was declared at the snapshot point. */
export interface TableAtSnapshot {
  name: string;
  kind: StateKind;
  table: Map<unknown, unknown>;
  /** For a TTL table: turns a stored value into its snapshot form, or undefined when expired. */
  ttlValue?: (stored: unknown) => unknown;
}

/** What a snapshot needs from its backend. */
export interface HeapSnapshotOwner {
  readonly maxParallelism: number;
  /** The original (non-canonical) key of a canonical key. */
  original(k: unknown): unknown;
  /** A stored value in canonical snapshot form (cells unwrapped, maps as entry lists); no copy. */
  canonical(kind: StateKind, stored: unknown): unknown;
  /** A deep copy of a value that stays live. @throws {WeirError} `value_not_persistable` */
  copy(name: string, value: unknown): unknown;
  /** The snapshot finished collecting: the backend stops asking it to save entries. */
  detach(snapshot: HeapSnapshot): void;
}

interface TableProgress {
  at: TableAtSnapshot;
  /** Canonical key → the entry as it was at the snapshot point, ABSENT, or DONE. */
  saved: Map<unknown, unknown>;
  groups: Map<number, [unknown, unknown][]>;
}

/** A snapshot in progress; see the module doc. */
export class HeapSnapshot implements KeyedStateSnapshot {
  readonly checkpointId: number;
  readonly #owner: HeapSnapshotOwner;
  readonly #tables: TableProgress[];
  readonly #byName = new Map<string, TableProgress>();
  #t = 0;
  #iter: Iterator<[unknown, unknown]> | undefined;
  /** Visiting the saved entries of the current table (keys deleted after the snapshot point). */
  #savedPhase = false;
  #result: Record<string, KeyedTableSnapshot> | undefined;
  #released = false;

  constructor(checkpointId: number, owner: HeapSnapshotOwner, tables: TableAtSnapshot[]) {
    this.checkpointId = checkpointId;
    this.#owner = owner;
    this.#tables = tables.map((at) => ({ at, saved: new Map(), groups: new Map() }));
    for (const p of this.#tables) this.#byName.set(p.at.name, p);
  }

  /**
   * Called before an entry of a table is touched (read or written) while this snapshot
   * collects. True when the snapshot now holds `stored` itself: the caller must give the
   * live table a copy before changing anything.
   */
  save(name: string, k: unknown, stored: unknown): boolean {
    const p = this.#byName.get(name);
    if (p === undefined || p.saved.has(k)) return false;
    p.saved.set(k, stored);
    return stored !== ABSENT;
  }

  step(budget: number): boolean {
    if (this.#result) return true;
    assert(!this.#released, () => `Keyed snapshot ${this.checkpointId} was stepped after its release`);
    let left = budget;
    while (this.#t < this.#tables.length) {
      const p = this.#tables[this.#t];
      if (!this.#savedPhase) {
        this.#iter ??= p.at.table.entries();
        for (;;) {
          if (left-- <= 0) return false;
          const next = this.#iter.next();
          if (next.done) break;
          const [k, live] = next.value;
          const s = p.saved.get(k);
          if (s === ABSENT || s === DONE) continue;
          // Untouched since the snapshot point: still live, so the snapshot takes a copy.
          if (s === undefined) this.#emit(p, k, live, true);
          else this.#emit(p, k, s, false);
          p.saved.set(k, DONE);
        }
        this.#iter = p.saved.entries();
        this.#savedPhase = true;
      }
      for (;;) {
        if (left-- <= 0) return false;
        const next = this.#iter!.next();
        if (next.done) break;
        const [k, s] = next.value;
        if (s !== ABSENT && s !== DONE) this.#emit(p, k, s, false);
      }
      p.saved.clear();
      this.#byName.delete(p.at.name);
      this.#iter = undefined;
      this.#savedPhase = false;
      this.#t++;
    }
    this.#owner.detach(this);
    const out: Record<string, KeyedTableSnapshot> = {};
    for (const p of this.#tables) {
      out[p.at.name] = { kind: p.at.kind, groups: [...p.groups.entries()].sort((a, b) => a[0] - b[0]) };
      if (p.at.ttlValue) out[p.at.name].ttl = true;
    }
    this.#result = out;
    return true;
  }

  /** Files one entry under its key group; `live` values are copied (the table keeps them). */
  #emit(p: TableProgress, k: unknown, stored: unknown, live: boolean): void {
    let value = p.at.ttlValue ? p.at.ttlValue(stored) : this.#owner.canonical(p.at.kind, stored);
    if (value === undefined && p.at.ttlValue) return;
    if (live && typeof value === "object" && value !== null) value = this.#owner.copy(p.at.name, value);
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
    for (const p of this.#tables) p.saved.clear();
  }
}
