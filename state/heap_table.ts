/**
 * One heap keyed state table with copy-on-write for asynchronous snapshots (the idea of
 * Flink's `CopyOnWriteStateMap`, FLINK-5715): every entry is a cell stamped with the
 * version it was written at. A snapshot point ends a version; until the snapshot has
 * visited a cell of that version, touching it (a read may hand out a mutable object, so a
 * read of an object counts) first hands the old cell to the snapshot and puts a copy in
 * its place. The snapshot stamps what it visits, so a later touch copies nothing.
 *
 * A cell also remembers its key group once a snapshot (or a restore) learned it, so that
 * hashing a key happens once in its life, not once per checkpoint; and with incremental
 * checkpoints the table notes which keys were written since the last snapshot point
 * (`dirty`), so that a changelog visits only those, not every entry.
 * @module
 */

/** A stored value and the version it was written at. */
export class Cell {
  v: unknown;
  ver: number;
  /** The key group of the cell's key, or -1 while no snapshot or restore has computed it. */
  g: number;
  constructor(v: unknown, ver: number, g = -1) {
    this.v = v;
    this.ver = ver;
    this.g = g;
  }
}

/** The versions of one backend, shared by its tables. */
export interface Versions {
  /** The version writes get now. */
  current: number;
  /** The version the collecting snapshot covers (cells up to it), or 0 when none collects. */
  collecting: number;
}

/** Where a table hands cells that a collecting snapshot still needs. */
export type SaveCell = (table: StateTable, key: unknown, cell: Cell) => void;

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
  readonly cells = new Map<unknown, Cell>();
  /** Keys deleted since the last changelog's snapshot point (incremental checkpoints only). */
  deleted: Set<unknown> | undefined;
  /** Keys written since the last changelog's snapshot point (incremental checkpoints only). */
  dirty: Set<unknown> | undefined;
  readonly #versions: Versions;
  readonly #save: SaveCell;
  readonly #copy: (v: unknown) => unknown;

  /** `copy` deep-copies a stored value (wrappers included) for the live side of a copy-on-write. */
  constructor(name: string, versions: Versions, save: SaveCell, copy: (v: unknown) => unknown) {
    this.name = name;
    this.#versions = versions;
    this.#save = save;
    this.#copy = copy;
  }

  get size(): number {
    return this.cells.size;
  }

  has(k: unknown): boolean {
    return this.cells.has(k);
  }

  /** The stored value; an object is copied first when a snapshot still needs the old one. */
  get(k: unknown): unknown {
    const c = this.cells.get(k);
    if (c === undefined) return undefined;
    if (typeof c.v !== "object" || c.v === null) return c.v;
    if (c.ver <= this.#versions.collecting) return this.#own(k, c).v;
    // An object handed out may be changed in place: it counts as written (changelogs).
    c.ver = this.#versions.current;
    this.dirty?.add(k);
    return c.v;
  }

  set(k: unknown, v: unknown): this {
    const c = this.cells.get(k);
    if (c === undefined) this.cells.set(k, new Cell(v, this.#versions.current));
    else if (c.ver <= this.#versions.collecting) {
      this.#save(this, k, c);
      this.cells.set(k, new Cell(v, this.#versions.current, c.g));
    } else {
      c.v = v;
      c.ver = this.#versions.current;
    }
    this.dirty?.add(k);
    return this;
  }

  delete(k: unknown): boolean {
    const c = this.cells.get(k);
    if (c === undefined) return false;
    if (c.ver <= this.#versions.collecting) this.#save(this, k, c);
    this.deleted?.add(k);
    return this.cells.delete(k);
  }

  /** The cell of k, made the live side's own (copied) if a snapshot still needs it; for in-place updates. */
  cell(k: unknown): Cell | undefined {
    const c = this.cells.get(k);
    if (c === undefined) return c;
    if (c.ver <= this.#versions.collecting) return this.#own(k, c);
    c.ver = this.#versions.current;
    this.dirty?.add(k);
    return c;
  }

  /** A new cell for a key that has none. */
  add(k: unknown, v: unknown): void {
    this.cells.set(k, new Cell(v, this.#versions.current));
    this.dirty?.add(k);
  }

  /** A restored entry whose key group is known: no copy-on-write, no change to note (restore only). */
  restoreEntry(k: unknown, v: unknown, g: number): void {
    this.cells.set(k, new Cell(v, this.#versions.current, g));
  }

  #own(k: unknown, c: Cell): Cell {
    this.#save(this, k, c);
    const own = new Cell(this.#copy(c.v), this.#versions.current, c.g);
    this.cells.set(k, own);
    this.dirty?.add(k);
    return own;
  }

  /** Replaces every value (restore, declaring a reducing state over restored values). */
  map(fn: (v: unknown) => unknown): void {
    for (const c of this.cells.values()) c.v = fn(c.v);
  }

  clear(): void {
    this.cells.clear();
  }
}
