/**
 * The tombstones of a heap changelog (heap_snapshot.ts): the keys deleted since the
 * previous snapshot point that were absent at this one, by key group, found a budget of
 * keys at a time (a mass delete leaves a million of them).
 * @module
 */
import { keyGroupOf } from "./key_group.ts";

/**
 * A scan over the keys a table noted as deleted (canonical keys; the set no longer changes:
 * the table notes later deletes in a new one at the snapshot point).
 *
 * @example
 * ```ts
 * import { TombstoneScan } from "./heap_snapshot_tombstones.ts";
 * const scan = new TombstoneScan(new Set(["a", "b"]), (k) => k, 128);
 * console.assert(scan.step(1, new Set(["b"])) === -1);
 * console.assert(scan.step(4, new Set(["b"])) >= 0);
 * console.assert(scan.groups(undefined).flatMap(([, keys]) => keys).join() === "a");
 * ```
 */
export class TombstoneScan {
  readonly #keys: Iterator<unknown>;
  readonly #groups = new Map<number, unknown[]>();
  readonly #original: (canonical: unknown) => unknown;
  readonly #maxParallelism: number;

  /** `original` gives a canonical key's original key, whose key group it files under. */
  constructor(deleted: ReadonlySet<unknown>, original: (canonical: unknown) => unknown, maxParallelism: number) {
    this.#keys = deleted.values();
    this.#original = original;
    this.#maxParallelism = maxParallelism;
  }

  /**
   * Scans up to `budget` keys, leaving out those in `present` (live at the snapshot point);
   * returns the budget left, or -1 when keys are left to scan.
   */
  step(budget: number, present: ReadonlySet<unknown> | undefined): number {
    let left = budget;
    for (;;) {
      if (left-- <= 0) return -1;
      const next = this.#keys.next();
      if (next.done) return Math.max(0, left);
      const k = next.value;
      if (present?.has(k)) continue;
      const key = this.#original(k);
      const g = keyGroupOf(key, this.#maxParallelism);
      let list = this.#groups.get(g);
      if (!list) this.#groups.set(g, (list = []));
      list.push(key);
    }
  }

  /** The tombstones by key group once the scan is over, with the keys whose TTL expired (`expired`) added. */
  groups(expired: ReadonlyMap<number, unknown[]> | undefined): [number, unknown[]][] {
    for (const [g, keys] of expired ?? []) {
      const list = this.#groups.get(g);
      // A loop, not push(...keys): a spread of a few hundred thousand arguments overflows the stack.
      if (list) for (const k of keys) list.push(k);
      else this.#groups.set(g, keys);
    }
    return [...this.#groups.entries()];
  }
}
