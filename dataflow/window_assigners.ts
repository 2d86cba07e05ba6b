/**
 * Window assigners (Flink's `WindowAssigner`s, names and semantics of Flink 1.x): which
 * time windows a record belongs to. Windows are `[start, end)` in ms; a window fires when
 * event time (or processing time) reaches `end - 1`, its max timestamp.
 * @module
 */
import { invalidOption } from "../errors.ts";

/** A window of time, `start` inclusive, `end` exclusive, in ms (Flink's `TimeWindow`). */
export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/** What every assigner is to the window operator. */
export interface WindowAssigner {
  /** Short description for names and errors, e.g. "TumblingEventTimeWindows(60000)". */
  readonly description: string;
  /** Event time (record timestamps, watermarks) or processing time (the clock). */
  readonly eventTime: boolean;
  /** Session windows: overlapping windows of a key merge into one. */
  readonly merging: boolean;
  /** The windows of a record with timestamp (or arrival time) `time`. */
  assign(time: number): TimeWindow[];
  /**
   * Fixed-size assigners (tumbling, sliding): window size, slide (= size when tumbling) and
   * offset, so the window operator finds a record's windows and a timer's window without
   * allocating them.
   */
  readonly fixed?: { size: number; slide: number; offset: number };
}

function checkSize(what: string, value: unknown, allowZero = false): number {
  if (typeof value !== "number" || !Number.isFinite(value) || (allowZero ? value < 0 : value <= 0)) {
    throw invalidOption(what, value, allowZero ? "must be a finite number of ms >= 0" : "must be a finite number of ms > 0");
  }
  return value;
}

/** An offset must be shorter than the period it shifts (Flink: `abs(offset) < size`, or `< slide`). */
function checkOffset(what: string, value: unknown, period: number): number {
  const offset = checkSize(what, value, true);
  if (offset >= period) throw invalidOption(what, value, `must be less than ${period} ms (the window's ${what.includes("Sliding") ? "slide" : "size"})`);
  return offset;
}

/** Start of the window of `size` (shifted by `offset`) that holds `t` (Flink's `TimeWindow.getWindowStartWithOffset`). */
export function windowStart(t: number, offset: number, size: number): number {
  const r = (t - offset) % size;
  return t - (r < 0 ? r + size : r);
}

class Tumbling implements WindowAssigner {
  readonly merging = false;
  readonly description: string;
  readonly fixed: { size: number; slide: number; offset: number };
  constructor(readonly eventTime: boolean, readonly size: number, readonly offset: number) {
    this.fixed = { size, slide: size, offset };
    this.description = `Tumbling${eventTime ? "EventTime" : "ProcessingTime"}Windows(${size}${offset ? `, ${offset}` : ""})`;
  }
  assign(t: number): TimeWindow[] {
    const start = windowStart(t, this.offset, this.size);
    return [{ start, end: start + this.size }];
  }
}

class Sliding implements WindowAssigner {
  readonly merging = false;
  readonly description: string;
  readonly fixed: { size: number; slide: number; offset: number };
  constructor(readonly eventTime: boolean, readonly size: number, readonly slide: number, readonly offset: number) {
    this.fixed = { size, slide, offset };
    this.description = `Sliding${eventTime ? "EventTime" : "ProcessingTime"}Windows(${size}, ${slide}${offset ? `, ${offset}` : ""})`;
  }
  assign(t: number): TimeWindow[] {
    const out: TimeWindow[] = [];
    const last = windowStart(t, this.offset, this.slide);
    for (let start = last; start > t - this.size; start -= this.slide) out.push({ start, end: start + this.size });
    return out;
  }
}

class Session implements WindowAssigner {
  readonly merging = true;
  readonly description: string;
  constructor(readonly eventTime: boolean, readonly gap: number) {
    this.description = `${eventTime ? "EventTime" : "ProcessingTime"}SessionWindows.withGap(${gap})`;
  }
  assign(t: number): TimeWindow[] {
    return [{ start: t, end: t + this.gap }];
  }
}

/**
 * Fixed-size, non-overlapping windows of event time (Flink's `TumblingEventTimeWindows`).
 *
 * @example
 * ```ts
 * import { TumblingEventTimeWindows } from "../mod.ts";
 * console.assert(TumblingEventTimeWindows.of(60_000).assign(61_000)[0].start === 60_000);
 * ```
 */
export class TumblingEventTimeWindows {
  /**
   * Windows of `sizeMs`, starting at multiples of it shifted by `offsetMs`.
   * @throws {WeirError} `invalid_option` naming the value when size is not > 0 or offset not >= 0
   */
  static of(sizeMs: number, offsetMs = 0): WindowAssigner {
    return new Tumbling(true, checkSize("TumblingEventTimeWindows.of size", sizeMs), checkOffset("TumblingEventTimeWindows.of offset", offsetMs, sizeMs));
  }
}

/**
 * Fixed-size windows of event time every `slideMs` (Flink's `SlidingEventTimeWindows`): a
 * record belongs to size/slide windows.
 *
 * @example
 * ```ts
 * import { SlidingEventTimeWindows } from "../mod.ts";
 * console.assert(SlidingEventTimeWindows.of(10_000, 5_000).assign(7_000).length === 2);
 * ```
 */
export class SlidingEventTimeWindows {
  /** @throws {WeirError} `invalid_option` naming the value when size or slide is not > 0 */
  static of(sizeMs: number, slideMs: number, offsetMs = 0): WindowAssigner {
    return new Sliding(true, checkSize("SlidingEventTimeWindows.of size", sizeMs), checkSize("SlidingEventTimeWindows.of slide", slideMs), checkOffset("SlidingEventTimeWindows.of offset", offsetMs, slideMs));
  }
}

/**
 * Event-time sessions (Flink's `EventTimeSessionWindows`): a key's records closer than
 * `gapMs` to each other fall into one window, which grows and merges as records arrive.
 *
 * @example
 * ```ts
 * import { EventTimeSessionWindows } from "../mod.ts";
 * console.assert(EventTimeSessionWindows.withGap(1000).assign(5000)[0].end === 6000);
 * ```
 */
export class EventTimeSessionWindows {
  /** @throws {WeirError} `invalid_option` naming the value when gap is not > 0 */
  static withGap(gapMs: number): WindowAssigner {
    return new Session(true, checkSize("EventTimeSessionWindows.withGap gap", gapMs));
  }
}

/**
 * Tumbling windows of processing time (Flink's `TumblingProcessingTimeWindows`): a record
 * belongs to the window of the moment it arrives; windows fire on the job's clock.
 *
 * @example
 * ```ts
 * import { TumblingProcessingTimeWindows } from "../mod.ts";
 * console.assert(TumblingProcessingTimeWindows.of(1000).assign(2500)[0].end === 3000);
 * ```
 */
export class TumblingProcessingTimeWindows {
  /** @throws {WeirError} `invalid_option` naming the value when size is not > 0 */
  static of(sizeMs: number, offsetMs = 0): WindowAssigner {
    return new Tumbling(false, checkSize("TumblingProcessingTimeWindows.of size", sizeMs), checkOffset("TumblingProcessingTimeWindows.of offset", offsetMs, sizeMs));
  }
}

/**
 * Sliding windows of processing time (Flink's `SlidingProcessingTimeWindows`).
 *
 * @example
 * ```ts
 * import { SlidingProcessingTimeWindows } from "../mod.ts";
 * console.assert(SlidingProcessingTimeWindows.of(1000, 500).assign(1200).length === 2);
 * ```
 */
export class SlidingProcessingTimeWindows {
  /** @throws {WeirError} `invalid_option` naming the value when size or slide is not > 0 */
  static of(sizeMs: number, slideMs: number, offsetMs = 0): WindowAssigner {
    return new Sliding(false, checkSize("SlidingProcessingTimeWindows.of size", sizeMs), checkSize("SlidingProcessingTimeWindows.of slide", slideMs), checkOffset("SlidingProcessingTimeWindows.of offset", offsetMs, slideMs));
  }
}

/**
 * Processing-time sessions (Flink's `ProcessingTimeSessionWindows`).
 *
 * @example
 * ```ts
 * import { ProcessingTimeSessionWindows } from "../mod.ts";
 * console.assert(ProcessingTimeSessionWindows.withGap(100).merging);
 * ```
 */
export class ProcessingTimeSessionWindows {
  /** @throws {WeirError} `invalid_option` naming the value when gap is not > 0 */
  static withGap(gapMs: number): WindowAssigner {
    return new Session(false, checkSize("ProcessingTimeSessionWindows.withGap gap", gapMs));
  }
}
