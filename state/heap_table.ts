/**
 * One heap keyed state table with copy-on-write for asynchronous snapshots (the idea of
 * Flink's `CopyOnWriteStateMap`, FLINK-5715): every entry is stamped with the version it
 * was written at. A snapshot point ends a version; until the snapshot has visited an entry
 * of that version, touching it (a read may hand out a mutable object, so a read of an
 * object counts) first hands the old value to the snapshot and puts a copy in its place.
 * The snapshot stamps what it visits, so a later touch copies nothing.
 *
 * The table is flat: a Map from canonical key to a slot, and per slot the key, the value
 * (plain arrays), the version (a Float64Array) and the key group (an Int32Array, -1 until
 * a snapshot or a restore computed it, so that a key is hashed once in its life, not once
 * per checkpoint). No object per entry: a snapshot visits slots by index, and a million
 * keys are three arrays and a Map for the collector, not a million cells. Freed slots are
 * reused. With incremental checkpoints the table also notes which slots were written since
 * the last snapshot point (`dirty`), so that a changelog visits only those.
 *
 * A restore fills the slots and leaves the Map to later (`loadEntry`): a million Map
 * inserts were most of a restore's time. The keys of a key group go into the Map on the
 * first lookup that misses and hashes to that group (one hash per miss while groups are
 * pending, none once all are in), so a restored table answers at once and the inserts
 * are spread over the first records. A key restored twice is found when its group goes
 * in (`checkpoint_corrupt`), not at restore.
 * @module
 */

import { WeirError } from "../errors.ts";
import type { SlotList } from "./slot_list.ts";

/** The versions of one backend, shared by its tables. */
export interface Versions {
  /** The version writes get now. */
  current: number;
  /** The version the collecting snapshot covers (entries up to it), or 0 when none collects. */
  collecting: number;
}

/**
 * Where a table hands an entry's old value that a collecting snapshot still needs: slot
 * `slot` still holds it (key, value, version and key group), and is changed once this
 * returns. The snapshot may note the key group it computed in `table.groups[slot]`.
 */
export type SaveEntry = (table: StateTable, slot: number) => void;

/** The key of a free slot (never a canonical key: those are primitives or strings). */
export const FREE_SLOT: unique symbol = Symbol("free slot");

/**
 * A table from canonical key to value, as the state views see it (get/set/delete), with
 * copy-on-write underneath.
 *
 * @example
 * ```ts
 * import { StateTable } from "./heap_table.ts";
 * const versions = { current: 1, collecting: 0 };
 * const t = new StateTable("n", versions, () => {}, (v) => structuredClone(v));
 * t.set("k", [1]);
 * console.assert((t.get("k") as number[])[0] === 1);
 * ```
 */
export class StateTable {
  readonly name: string;
  /** Canonical key → slot. */
  readonly slots = new Map<unknown, number>();
  /** Per slot: its canonical key, or FREE_SLOT. */
  readonly keys: unknown[] = [];
  /** Per slot: the stored value. */
  readonly values: unknown[] = [];
  /** Per slot: the version it was written at (snapshots stamp version + 0.5). */
  vers = new Float64Array(16);
  /** Per slot: the key group, or -1 while unknown. */
  groups = new Int32Array(16).fill(-1);
  /** Keys deleted since the last changelog's snapshot point (incremental checkpoints only). */
  deleted: Set<unknown> | undefined;
  /**
   * Slots written since the last changelog's snapshot point (incremental checkpoints only),
   * each noted on its first write of a version (a slot freed and taken again may be noted
   * twice): a compare per write where a Set of keys cost a hash insert per record.
   */
  dirty: SlotList | undefined;
  readonly #free: number[] = [];
  readonly #versions: Versions;
  readonly #save: SaveEntry;
  readonly #copy: (v: unknown) => unknown;
  readonly #groupOf: ((k: unknown) => number) | undefined;
  /** Restored entries not in the Map yet. */
  #pending = 0;
  /** Per key group with pending entries: their slots as ranges, [from, to, from, to, …]. */
  readonly #pendingRanges = new Map<number, number[]>();

  /**
   * `copy` deep-copies a stored value (wrappers included) for the live side of a
   * copy-on-write; `groupOf` gives a canonical key's key group (without it a lookup that
   * misses while restored entries are pending puts all of them into the Map).
   */
  constructor(name: string, versions: Versions, save: SaveEntry, copy: (v: unknown) => unknown, groupOf?: (k: unknown) => number) {
    this.name = name;
    this.#versions = versions;
    this.#save = save;
    this.#copy = copy;
    this.#groupOf = groupOf;
  }

  get size(): number {
    return this.slots.size + this.#pending;
  }

  /** Restored entries whose keys are not in the Map yet (see the module doc). */
  get pending(): number {
    return this.#pending;
  }

  /** The slot of k, putting its key group's pending entries into the Map first if need be. */
  #slot(k: unknown): number | undefined {
    const s = this.slots.get(k);
    if (s !== undefined || this.#pending === 0) return s;
    if (this.#groupOf) this.#index(this.#groupOf(k));
    else this.indexAll();
    return this.slots.get(k);
  }

  /**
   * Puts every pending entry into the Map (what a lookup would do group by group).
   * @throws {WeirError} `checkpoint_corrupt` for a key restored twice
   */
  indexAll(): void {
    for (const g of [...this.#pendingRanges.keys()]) this.#index(g);
  }

  #index(g: number): void {
    const ranges = this.#pendingRanges.get(g);
    if (ranges === undefined) return;
    this.#pendingRanges.delete(g);
    const slots = this.slots;
    const keys = this.keys;
    let n = 0;
    for (let r = 0; r < ranges.length; r += 2) {
      for (let s = ranges[r]; s < ranges[r + 1]; s++) {
        const k = keys[s];
        if (slots.has(k)) {
          throw new WeirError("checkpoint_corrupt", `Keyed state "${this.name}" was restored with key ${String(k)} twice (key group ${g}): the snapshot holds it twice or another snapshot of this restore holds it too`);
        }
        slots.set(k, s);
      }
      n += ranges[r + 1] - ranges[r];
    }
    this.#pending -= n;
    if (this.#pending < 0) throw new WeirError("invariant_broken", `Keyed state "${this.name}" counts ${this.#pending} pending entries`);
  }

  /** Slots in use or freed: a snapshot visits 0 … slotCount - 1. */
  get slotCount(): number {
    return this.keys.length;
  }

  has(k: unknown): boolean {
    return this.#slot(k) !== undefined;
  }

  /** The stored value; an object is copied first when a snapshot still needs the old one. */
  get(k: unknown): unknown {
    let s = this.slots.get(k);
    if (s === undefined && (this.#pending === 0 || (s = this.#slot(k)) === undefined)) return undefined;
    const v = this.values[s];
    if (typeof v !== "object" || v === null) return v;
    if (this.vers[s] <= this.#versions.collecting) return this.values[this.#own(s)];
    // An object handed out may be changed in place: it counts as written (changelogs).
    this.#written(s);
    return v;
  }

  set(k: unknown, v: unknown): this {
    const s = this.#pending === 0 ? this.slots.get(k) : this.#slot(k);
    if (s === undefined) this.add(k, v);
    else {
      if (this.vers[s] <= this.#versions.collecting) this.#save(this, s);
      this.values[s] = v;
      this.#written(s);
    }
    return this;
  }

  delete(k: unknown): boolean {
    const s = this.#pending === 0 ? this.slots.get(k) : this.#slot(k);
    if (s === undefined) return false;
    if (this.vers[s] <= this.#versions.collecting) this.#save(this, s);
    this.deleted?.add(k);
    this.slots.delete(k);
    this.keys[s] = FREE_SLOT;
    this.values[s] = undefined;
    this.#free.push(s);
    return true;
  }

  /**
   * The slot of k for an in-place update of `values[slot]`, made the live side's own
   * (copied) if a snapshot still needs it; -1 when k has no entry.
   */
  slotFor(k: unknown): number {
    const s = this.#pending === 0 ? this.slots.get(k) : this.#slot(k);
    if (s === undefined) return -1;
    if (this.vers[s] <= this.#versions.collecting) return this.#own(s);
    this.#written(s);
    return s;
  }

  /** A new entry for a key that has none (the caller looked it up). */
  add(k: unknown, v: unknown): void {
    const s = this.#take(k, v, this.#versions.current, -1);
    this.slots.set(k, s);
    this.dirty?.push(s);
  }

  /** Slot s was written now: stamped with the current version, noted on its first write of it. */
  #written(s: number): void {
    const current = this.#versions.current;
    if (this.dirty !== undefined && this.vers[s] < current) this.dirty.push(s);
    this.vers[s] = current;
  }

  /**
   * A restored entry for a key the caller knows has none (a canonical snapshot holds a key
   * once, and snapshots of different key groups share no key): it takes a slot, and its
   * key goes into the Map on the first lookup of key group g (see the module doc).
   */
  loadEntry(k: unknown, v: unknown, g: number): void {
    const s = this.#take(k, v, this.#versions.current, g);
    this.#addPending(g, s, s + 1);
  }

  /**
   * Restored entries in bulk, for keys the caller knows have none: the caller pushed keys
   * and values of key group g onto `keys` and `values` from slot `from` (`slotCount` before
   * it began) to the end; they go into the Map on the first lookup of group g.
   */
  loaded(g: number, from: number): void {
    const to = this.keys.length;
    if (this.values.length !== to || from < 0 || from > to) {
      throw new WeirError("invariant_broken", `Keyed state "${this.name}" was loaded with ${to - from} keys and ${this.values.length - from} values from slot ${from}`);
    }
    if (from === to) return;
    if (to > this.vers.length) this.#grow(to);
    this.vers.fill(this.#versions.current, from, to);
    this.groups.fill(g, from, to);
    this.#addPending(g, from, to);
  }

  /** Slots from..to of key group g wait for their keys to go into the Map. */
  #addPending(g: number, from: number, to: number): void {
    const ranges = this.#pendingRanges.get(g);
    if (ranges === undefined) this.#pendingRanges.set(g, [from, to]);
    else if (ranges[ranges.length - 1] === from) ranges[ranges.length - 1] = to;
    else ranges.push(from, to);
    this.#pending += to - from;
  }

  /** A free slot (or a new one) holding the entry; the caller maps the key to it. */
  #take(k: unknown, v: unknown, ver: number, g: number): number {
    let s = this.#free.pop();
    if (s === undefined) {
      s = this.keys.length;
      this.keys.push(k);
      this.values.push(v);
      if (s >= this.vers.length) this.#grow(s + 1);
    } else {
      this.keys[s] = k;
      this.values[s] = v;
    }
    this.vers[s] = ver;
    this.groups[s] = g;
    return s;
  }

  #grow(min: number): void {
    let size = this.vers.length * 2;
    while (size < min) size *= 2;
    const vers = new Float64Array(size);
    vers.set(this.vers);
    const groups = new Int32Array(size).fill(-1);
    groups.set(this.groups);
    this.vers = vers;
    this.groups = groups;
  }

  /**
   * Hands the old value to the snapshot and keeps a copy in the slot: an object only, since
   * a primitive cannot change in place (its copy cost the rolling count's copy-on-write
   * about 40 ns a key on Deno).
   */
  #own(s: number): number {
    this.#save(this, s);
    const v = this.values[s];
    if (typeof v === "object" && v !== null) this.values[s] = this.#copy(v);
    this.#written(s);
    return s;
  }

  clear(): void {
    this.slots.clear();
    this.#pending = 0;
    this.#pendingRanges.clear();
    this.keys.length = 0;
    this.values.length = 0;
    this.#free.length = 0;
    this.dirty?.clear();
  }
}
