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

/**
 * The queued timers of one domain, by timestamp: a bucket of keys per timestamp (in
 * registration order) and a binary min-heap of the bucketed timestamps. Many keys register
 * the same timestamp (every key's window ending at one minute, say), so a registration is
 * an append to the bucket last used, and the heap holds one entry per distinct timestamp,
 * not one per timer. Whether a queued timer is still live is in keyed state: a deleted one
 * is skipped when its bucket comes up.
 */
class TimerQueue {
  readonly #heap: number[] = [];
  readonly #buckets = new Map<number, unknown[]>();
  #lastTimestamp = NaN;
  #lastBucket: unknown[] | undefined;
  /** The bucket being taken (out of the map and the heap), from #headIndex on. */
  #head: unknown[] | undefined;
  #headIndex = 0;
  #headTimestamp = NaN;

  get empty(): boolean {
    return this.#head === undefined && this.#heap.length === 0;
  }

  /** The earliest queued timestamp, or Infinity. */
  peek(): number {
    if (this.#head === undefined) return this.#heap.length > 0 ? this.#heap[0] : Infinity;
    return this.#heap.length > 0 && this.#heap[0] < this.#headTimestamp ? this.#heap[0] : this.#headTimestamp;
  }

  push(timestamp: number, key: unknown): void {
    if (timestamp === this.#lastTimestamp && this.#lastBucket !== undefined) {
      this.#lastBucket.push(key);
      return;
    }
    let bucket = this.#buckets.get(timestamp);
    if (bucket === undefined) {
      this.#buckets.set(timestamp, (bucket = []));
      this.#heapPush(timestamp);
    }
    bucket.push(key);
    this.#lastTimestamp = timestamp;
    this.#lastBucket = bucket;
  }

  /** Takes one key queued at the earliest timestamp (the caller peeked it: not empty). */
  pop(): unknown {
    if (this.#head !== undefined && this.#heap.length > 0 && this.#heap[0] < this.#headTimestamp) {
      // An earlier timer was queued while a bucket was being taken: the rest of the bucket waits.
      this.#unhead();
    }
    if (this.#head === undefined) {
      const timestamp = this.#heapPop();
      this.#head = this.#buckets.get(timestamp)!;
      this.#buckets.delete(timestamp);
      if (timestamp === this.#lastTimestamp) this.#lastBucket = undefined;
      this.#headIndex = 0;
      this.#headTimestamp = timestamp;
    }
    const key = this.#head[this.#headIndex++];
    if (this.#headIndex === this.#head.length) this.#head = undefined;
    return key;
  }

  /** Puts the rest of the bucket being taken back in front of its timestamp's keys. */
  #unhead(): void {
    const rest = this.#head!.slice(this.#headIndex);
    this.#head = undefined;
    const t = this.#headTimestamp;
    const later = this.#buckets.get(t);
    if (later === undefined) {
      this.#buckets.set(t, rest);
      this.#heapPush(t);
      // A new array, not later.unshift(...rest): a spread of a few hundred thousand keys overflows the stack.
    } else this.#buckets.set(t, rest.concat(later));
    if (t === this.#lastTimestamp) this.#lastBucket = this.#buckets.get(t);
  }

  #heapPush(t: number): void {
    const a = this.#heap;
    let i = a.length;
    a.push(t);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= t) break;
      a[i] = a[p];
      i = p;
    }
    a[i] = t;
  }

  #heapPop(): number {
    const a = this.#heap;
    const top = a[0];
    const last = a.pop()!;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const m = l + 1 < n && a[l + 1] < a[l] ? l + 1 : l;
        if (a[m] >= last) break;
        a[i] = a[m];
        i = m;
      }
      a[i] = last;
    }
    return top;
  }
}

/** Removes n elements of `a` at `i` in place (splice would allocate the array of those removed). */
export function removeAt(a: unknown[], i: number, n: number): void {
  for (let j = i + n; j < a.length; j++) a[j - n] = a[j];
  a.length -= n;
}

/** Where timer (code, timestamp) is in a key's list of [domain code, timestamp] pairs, or -1. */
function indexOfTimer(list: readonly number[], code: number, timestamp: number): number {
  for (let i = 0; i < list.length; i += 2) if (list[i] === code && list[i + 1] === timestamp) return i;
  return -1;
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
  readonly #queues: Record<TimeDomain, TimerQueue> = { event: new TimerQueue(), processing: new TimerQueue() };
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

  /**
   * The timers of the current key, as a value state read and written back per change (a
   * change comes once per window and key, not per record). Not an aggregating state: its
   * fold would share the backend's per-record call site with the window contents' fold,
   * and V8 inlines that call only while it sees one function.
   */
  #state(): ValueState<number[]> {
    return (this.#timerState ??= this.#backend.valueState<number[]>(TIMER_STATE));
  }

  /** Removes the current key's timer; false when it had none there. */
  #remove(code: number, timestamp: number): boolean {
    const state = this.#state();
    const list = state.value();
    if (list === undefined) return false;
    const i = indexOfTimer(list, code, timestamp);
    if (i < 0) return false;
    // The key's last timer: its entry goes.
    if (list.length === 2) state.clear();
    else {
      removeAt(list, i, 2);
      state.update(list);
    }
    return true;
  }

  /** A timer for the current key (once per domain and timestamp). */
  register(domain: TimeDomain, timestamp: number): void {
    const code = DOMAIN_CODE[domain];
    const state = this.#state();
    const list = state.value();
    // A key's first timer gets a list of its exact size (one grown by push takes 19 slots).
    if (list === undefined) state.update([code, timestamp]);
    else if (indexOfTimer(list, code, timestamp) >= 0) return;
    else {
      list.push(code, timestamp);
      state.update(list);
    }
    this.#queues[domain].push(timestamp, this.#backend.currentKey);
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
          for (let i = 0; i < list.length; i += 2) this.#queues[list[i] === 0 ? "event" : "processing"].push(list[i + 1], key);
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
    return this.#queues.processing.peek();
  }

  /** Event time advanced (never backwards). */
  advanceWatermark(watermark: number): void {
    if (watermark > this.#watermark) this.#watermark = watermark;
  }

  /**
   * Takes the next timer of `domain` due at `upTo` (the watermark, or the processing time)
   * out of state, in timestamp order, and sets its key as the backend's current key: its
   * timestamp, or NaN when none is due. The caller fires it before it takes the next (a
   * timer may register another one that is due already).
   */
  nextDue(domain: TimeDomain, upTo: number): number {
    const q = this.#queues[domain];
    const code = DOMAIN_CODE[domain];
    for (let timestamp = q.peek(); !q.empty && timestamp <= upTo; timestamp = q.peek()) {
      this.#backend.setCurrentKey(q.pop());
      // Deleted since it was queued, or queued twice (deleted and registered again).
      if (this.#remove(code, timestamp)) return timestamp;
    }
    return NaN;
  }

  /**
   * Takes every timer of `domain` due at `upTo` out of state, in timestamp order: the caller
   * fires each with its key set. Call again until it returns none.
   */
  takeDue(domain: TimeDomain, upTo: number): { key: unknown; timestamp: number }[] {
    const due: { key: unknown; timestamp: number }[] = [];
    for (let t = this.nextDue(domain, upTo); !Number.isNaN(t); t = this.nextDue(domain, upTo)) due.push({ key: this.#backend.currentKey, timestamp: t });
    return due;
  }
}
