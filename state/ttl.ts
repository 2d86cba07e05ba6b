/**
 * State time-to-live (Flink's `StateTtlConfig`, FLIP-25): a value written at processing time
 * `t` with TTL `ttl` ms is gone from `t + ttl` on. The write time travels with the value into
 * snapshots, so expiry is absolute across restores; expired entries are dropped lazily when
 * their key is accessed and when a snapshot is taken (Flink's cleanup in full snapshot).
 * @module
 */
import type { Clock } from "../actors/time.ts";
import { WeirError } from "../errors.ts";

/** Options of a keyed state declaration. */
export interface StateOptions {
  /**
   * Time-to-live in milliseconds of processing time (the job's injected clock), set when a
   * value is created or written; reads do not refresh it. Must be a finite number > 0.
   */
  ttl?: number;
}

/** A value and the processing time (epoch ms) it was written at. */
export class TtlEntry {
  value: unknown;
  writtenAt: number;
  constructor(value: unknown, writtenAt: number) {
    this.value = value;
    this.writtenAt = writtenAt;
  }
}

/**
 * The TTL of a declaration, validated.
 * @throws {WeirError} `invalid_state_ttl` when ttl is not a finite number > 0
 */
export function checkTtl(name: string, options: StateOptions | undefined): number | undefined {
  if (options === undefined || options.ttl === undefined) return undefined;
  const ttl = options.ttl;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0) {
    throw new WeirError("invalid_state_ttl", `Keyed state "${name}": ttl must be a number of milliseconds > 0, got ${String(ttl)}`);
  }
  return ttl;
}

/** Decides expiry against the injected clock. */
export class TtlClock {
  readonly #clock: Clock;
  constructor(clock: Clock) {
    this.#clock = clock;
  }
  now(): number {
    return this.#clock.now();
  }
  live(e: TtlEntry, ttl: number, now = this.#clock.now()): boolean {
    return now < e.writtenAt + ttl;
  }
}

/** One entry in snapshot form: [writtenAt, value]. */
export type TtlTuple = [writtenAt: number, value: unknown];

/**
 * A table's stored value as it goes into a snapshot, expired parts dropped; undefined when
 * nothing of it is live.
 */
export function snapshotTtlValue(kind: "value" | "list" | "map", stored: unknown, live: (e: TtlEntry) => boolean): unknown {
  if (kind === "value") {
    const e = stored as TtlEntry;
    return live(e) ? [e.writtenAt, e.value] : undefined;
  }
  if (kind === "list") {
    const out = (stored as TtlEntry[]).filter(live).map((e) => [e.writtenAt, e.value]);
    return out.length ? out : undefined;
  }
  const out: [unknown, TtlTuple][] = [];
  for (const [k, e] of (stored as Map<unknown, [unknown, TtlEntry]>).values()) if (live(e)) out.push([k, [e.writtenAt, e.value]]);
  return out.length ? out : undefined;
}

/**
 * A snapshot tuple back into an entry.
 * @throws {WeirError} `checkpoint_corrupt` when it is not [number, value]
 */
export function restoreTtlEntry(name: string, t: unknown): TtlEntry {
  if (!Array.isArray(t) || t.length !== 2 || typeof t[0] !== "number") {
    throw new WeirError("checkpoint_corrupt", `Keyed state "${name}" with TTL has an entry without a write time in the snapshot`);
  }
  return new TtlEntry(t[1], t[0]);
}
