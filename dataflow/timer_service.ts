/**
 * Timers per key (Flink's `InternalTimerService`): event-time timers fire when the
 * watermark passes them, processing-time timers when the clock does. A timer is keyed state
 * (per key a value state holding its timers as a flat list of [domain, timestamp] pairs:
 * a key has few timers, and a read and a write per change beat a map's lookups; a key
 * without timers holds nothing), through the backend's public API, so it is
 * checkpointed, restored and redistributed by key group like any other; the in-memory
 * queues are an index rebuilt from that state on restore. A timer fires once per key,
 * domain and timestamp: firing deletes it from state in the same step that emits its
 * output, so a checkpoint holds either both or neither.
 * @module
 */
import type { KeyedStateBackend } from "../state/backend.ts";
import { type KeyedTableSnapshot, readTable, type ValueState } from "../state/keyed_state.ts";
import { WeirError } from "../errors.ts";

/** Which clock a timer follows. */
export type TimeDomain = "event" | "processing";

const DOMAIN_CODE: Record<TimeDomain, number> = { event: 0, processing: 1 };

/** The keyed state holding timers; the name keeps clear of user state names. */
export const TIMER_STATE = "weir.timers";

/** What user code sees: Flink's `TimerService`. Timestamps in ms. */
export interface TimerService {
  currentProcessingTime(): number;
  /** The operator's watermark: -Infinity before the first, +Infinity after end of input. */
  currentWatermark(): number;
  registerEventTimeTimer(timestamp: number): void;
  registerProcessingTimeTimer(timestamp: number): void;
  deleteEventTimeTimer(timestamp: number): void;
  deleteProcessingTimeTimer(timestamp: number): void;
}

/** A timer in a queue; whether it is still live is in keyed state (a deleted one is skipped when it comes up). */
interface QueuedTimer {
  timestamp: number;
  key: unknown;
}

/** A binary min-heap of timers by timestamp. */
class TimerHeap {
  readonly #items: QueuedTimer[] = [];
  get size(): number {
    return this.#items.length;
  }
  peek(): QueuedTimer | undefined {
    return this.#items[0];
  }
  push(t: QueuedTimer): void {
    const a = this.#items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].timestamp <= a[i].timestamp) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): QueuedTimer | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].timestamp < a[m].timestamp) m = l;
        if (r < a.length && a[r].timestamp < a[m].timestamp) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

function checkTimestamp(what: string, ts: unknown, owner: string): number {
  if (typeof ts !== "number" || Number.isNaN(ts)) {
    throw new WeirError("invalid_timestamp", `${what} in "${owner}" needs a timestamp in ms, got ${typeof ts === "number" ? ts : `${typeof ts} ${JSON.stringify(ts) ?? String(ts)}`}`);
  }
  return ts;
}

/**
 * One operator's timers in one subtask.
 *
 * @example
 * ```ts
 * import { HeapKeyedStateBackend } from "../state/heap_backend.ts";
 * import { InternalTimerService } from "./timer_service.ts";
 * const backend = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 } });
 * const timers = new InternalTimerService(backend, { now: () => 0 }, "doc");
 * backend.setCurrentKey("a");
 * timers.forKey.registerEventTimeTimer(10);
 * timers.advanceWatermark(10);
 * console.assert(timers.takeDue("event", timers.watermark).length === 1);
 * ```
 */
export class InternalTimerService {
  readonly #backend: KeyedStateBackend;
  readonly #clock: { now(): number };
  readonly #owner: string;
  readonly #queues: Record<TimeDomain, TimerHeap> = { event: new TimerHeap(), processing: new TimerHeap() };
  #watermark = -Infinity;
  /** The service as user code sees it, for the current key. */
  readonly forKey: TimerService;

  constructor(backend: KeyedStateBackend, clock: { now(): number }, owner: string) {
    this.#backend = backend;
    this.#clock = clock;
    this.#owner = owner;
    this.forKey = {
      currentProcessingTime: () => this.#clock.now(),
      currentWatermark: () => this.#watermark,
      registerEventTimeTimer: (ts) => this.register("event", checkTimestamp("registerEventTimeTimer", ts, owner)),
      registerProcessingTimeTimer: (ts) => this.register("processing", checkTimestamp("registerProcessingTimeTimer", ts, owner)),
      deleteEventTimeTimer: (ts) => this.delete("event", checkTimestamp("deleteEventTimeTimer", ts, owner)),
      deleteProcessingTimeTimer: (ts) => this.delete("processing", checkTimestamp("deleteProcessingTimeTimer", ts, owner)),
    };
  }

  get watermark(): number {
    return this.#watermark;
  }

  #timerState: ValueState<number[]> | undefined;

  /** The timers of the current key (the accessor follows the backend's current key). */
  #state(): ValueState<number[]> {
    return (this.#timerState ??= this.#backend.valueState<number[]>(TIMER_STATE));
  }

  /** Index of the current key's timer in its list, or -1. */
  #find(list: number[] | undefined, code: number, timestamp: number): number {
    if (list === undefined) return -1;
    for (let i = 0; i < list.length; i += 2) if (list[i] === code && list[i + 1] === timestamp) return i;
    return -1;
  }

  /** Removes the current key's timer; false when it had none there. */
  #remove(code: number, timestamp: number): boolean {
    const state = this.#state();
    const list = state.value();
    const i = this.#find(list, code, timestamp);
    if (i < 0) return false;
    if (list!.length === 2) state.clear();
    else {
      // In place after the read, then written back (see WindowContents.add).
      list!.splice(i, 2);
      state.update(list!);
    }
    return true;
  }

  /** A timer for the current key (once per domain and timestamp). */
  register(domain: TimeDomain, timestamp: number): void {
    const state = this.#state();
    const list = state.value();
    const code = DOMAIN_CODE[domain];
    if (this.#find(list, code, timestamp) >= 0) return;
    if (list === undefined) state.update([code, timestamp]);
    else {
      list.push(code, timestamp);
      state.update(list);
    }
    this.#queues[domain].push({ timestamp, key: this.#backend.currentKey });
  }

  /** Deletes the current key's timer; the queued copy is skipped when it comes up. */
  delete(domain: TimeDomain, timestamp: number): void {
    this.#remove(DOMAIN_CODE[domain], timestamp);
  }

  /** Rebuilds the queues from restored keyed state (the key groups this backend owns). */
  restore(snapshots: Record<string, KeyedTableSnapshot>[]): void {
    const { range } = this.#backend;
    for (const snap of snapshots) {
      const table = snap[TIMER_STATE];
      if (!table) continue;
      for (const [g, entries] of readTable(TIMER_STATE, table).groups) {
        if (g < range.start || g > range.end) continue;
        for (const [key, value] of entries) {
          const list = value as number[];
          for (let i = 0; i < list.length; i += 2) this.#queues[list[i] === 0 ? "event" : "processing"].push({ timestamp: list[i + 1], key });
        }
      }
    }
  }

  /** Restores the watermark the operator had reached (never backwards). */
  restoreWatermark(watermark: number): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
  }

  /** The earliest processing-time timer still queued, or Infinity. */
  nextProcessingTime(): number {
    return this.#queues.processing.peek()?.timestamp ?? Infinity;
  }

  /** Event time advanced (never backwards). */
  advanceWatermark(watermark: number): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
  }

  /**
   * Takes the timers of `domain` due at `upTo` (the watermark, or the processing time) out
   * of state, in timestamp order: the caller fires each with its key set. Call again until
   * it returns none: a timer may register another one that is due already.
   */
  takeDue(domain: TimeDomain, upTo: number): { key: unknown; timestamp: number }[] {
    const q = this.#queues[domain];
    const due: { key: unknown; timestamp: number }[] = [];
    for (let t = q.peek(); t !== undefined && t.timestamp <= upTo; t = q.peek()) {
      q.pop();
      this.#backend.setCurrentKey(t.key);
      // Deleted since it was queued, or queued twice (deleted and registered again).
      if (this.#remove(DOMAIN_CODE[domain], t.timestamp)) due.push(t);
    }
    return due;
  }
}
