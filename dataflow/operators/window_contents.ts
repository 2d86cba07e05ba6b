/**
 * The open windows of each key of a window operator, as keyed state.
 * @module
 */
import type { AggregatingState, KeyedStateBackend } from "../../state/backend.ts";
import { removeAt } from "../timer_service.ts";

/** How a window's contents are folded: the part of a WindowFunction that keeps state. */
export interface WindowFold {
  /** The window's state after its first record. */
  init(value: unknown): unknown;
  /** The window's state after one more record (may change acc in place). */
  add(acc: unknown, value: unknown): unknown;
}

/** The keyed state of a window operator's contents; the name keeps clear of user state names. */
export const CONTENTS = "weir.window";
const NONE: readonly unknown[] = Object.freeze([]);

/** What one edit does to a key's window list: drop window `start`, or make the list `triples`. */
const REMOVE = 1;
const REPLACE = 2;

/** One change of a key's window list other than a record, as its aggregating state folds it in. */
interface Edit {
  op: typeof REMOVE | typeof REPLACE;
  start: number;
  triples: unknown[];
}

/** Where window `start` is in a key's list of triples, or -1. */
export function indexOfWindow(a: readonly unknown[], start: number): number {
  for (let i = 0; i < a.length; i += 3) if (a[i] === start) return i;
  return -1;
}

/**
 * The open windows of a key as one aggregating state: a flat list of
 * [start, end, accumulator or elements] triples (a key has few windows open: one or two
 * tumbling, size/slide sliding, a few sessions), changed in place. A record costs one
 * state lookup by its key (`addFor`, no `setCurrentKey`), as a rolling reduce's does: the
 * backend copies the list first when a snapshot in progress still needs it (heap) or
 * writes the changed copy back (SQLite). Windows of a key never share a start.
 *
 * Records go through a state view of their own whose fold takes the record itself and
 * finds its window in fields of this object: no edit object is written per record, and
 * the backend's call of the fold sees one function, not also the edits' (removals,
 * session merges). A key's list is allocated at its exact size when its first window
 * opens (a list grown by push takes 17 slots): 10 K keys' lists are the working set of
 * every record, and the smaller it is, the more of it stays in the cache.
 */
export class WindowContents {
  readonly #edits: AggregatingState<Edit, unknown[]>;
  readonly #records: AggregatingState<unknown, unknown[]>;
  readonly #edit: Edit = { op: REMOVE, start: 0, triples: [] };
  /** The window the next record goes to, and whether that record opened it. */
  #start = 0;
  #end = 0;
  #created = false;

  constructor(backend: KeyedStateBackend, fn: WindowFold) {
    this.#records = backend.aggregatingState<unknown, unknown[]>(CONTENTS, {
      createAccumulator: () => NONE as unknown[],
      add: (value, a) => {
        const start = this.#start;
        for (let i = 0; i < a.length; i += 3) {
          if (a[i] === start) {
            a[i + 2] = fn.add(a[i + 2], value);
            return a;
          }
        }
        this.#created = true;
        // NONE is never changed: a key's first window gets a list of its own.
        if (a.length === 0) return [start, this.#end, fn.init(value)];
        a.push(start, this.#end, fn.init(value));
        return a;
      },
    });
    this.#edits = backend.aggregatingState<Edit, unknown[]>(CONTENTS, {
      createAccumulator: () => [],
      add: (e, a) => {
        if (e.op === REPLACE) return e.triples;
        const i = indexOfWindow(a, e.start);
        if (i >= 0) removeAt(a, i, 3);
        return a;
      },
    });
  }

  /** The current key's windows. */
  all(): readonly unknown[] {
    return this.#records.get() ?? NONE;
  }

  /** The current key's window `start`. */
  get(start: number): [end: number, acc: unknown] | undefined {
    const a = this.all();
    const i = indexOfWindow(a, start);
    return i < 0 ? undefined : [a[i + 1] as number, a[i + 2]];
  }

  /** Adds `value` to `key`'s window `start` (created when absent); true when it was created. */
  addFor(key: unknown, start: number, end: number, value: unknown): boolean {
    this.#start = start;
    this.#end = end;
    this.#created = false;
    this.#records.addFor(key, value);
    return this.#created;
  }

  /** Drops the current key's window `start`, and the key's entry with its last window. */
  remove(start: number): void {
    const a = this.all();
    const i = indexOfWindow(a, start);
    if (i >= 0) this.removeAt(a, i);
  }

  /** Drops the window at `i` of `a`, the current key's list as all() gave it. */
  removeAt(a: readonly unknown[], i: number): void {
    if (a.length === 3) return this.#edits.clear();
    this.#edit.op = REMOVE;
    this.#edit.start = a[i] as number;
    this.#edits.add(this.#edit);
  }

  /** The current key's windows become `triples`. */
  replace(triples: unknown[]): void {
    if (triples.length === 0) return this.#edits.clear();
    this.#edit.op = REPLACE;
    this.#edit.triples = triples;
    this.#edits.add(this.#edit);
    this.#edit.triples = [];
  }
}
