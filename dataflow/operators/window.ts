import type { Batch } from "../../actors/messages.ts";
import { WeirError } from "../../errors.ts";
import { copyValue } from "../../codec/values.ts";
import type { OperatorContext, RestoredState } from "../operator.ts";
import { type OutputTag, SideRecord, checkTag } from "../side_output.ts";
import type { TimeDomain } from "../timer_service.ts";
import { type TimeWindow, type WindowAssigner, windowStart } from "../window_assigners.ts";
import { TimedKeyedOperator } from "./timed_keyed.ts";
import { indexOfWindow, WindowContents, type WindowFold } from "./window_contents.ts";

/** What a window function sees when its window fires. */
export interface WindowContext<O> {
  /** Emits a result (its timestamp is the window's max timestamp, end - 1). */
  emit(value: O): void;
  /**
   * Emits a record to a side output (Flink's `ProcessWindowFunction.Context#output`), read
   * with `getSideOutput(tag)` on the stream the window's `process` returned; dropped when
   * no one reads that tag. Its timestamp is the window's max timestamp.
   * @throws {WeirError} `invalid_option` when tag is not an OutputTag
   */
  output<X>(tag: OutputTag<X>, value: X): void;
  currentWatermark(): number;
  currentProcessingTime(): number;
}

/**
 * How a window's contents are kept and turned into output: reduce and aggregate keep one
 * accumulator per key and window (incremental), process keeps the elements.
 */
export interface WindowFunction extends WindowFold {
  /** Two windows' states merged into one (session windows). */
  merge(a: unknown, b: unknown): unknown;
  /** The window fired: emit its result(s). */
  fire(key: unknown, window: TimeWindow, acc: unknown, ctx: WindowContext<unknown>): void | Promise<void>;
}

/** Runs steps in order; synchronous unless a step returns a promise. */
function inOrder(steps: (() => void | Promise<void>)[], from = 0): void | Promise<void> {
  for (let i = from; i < steps.length; i++) {
    const r = steps[i]();
    if (r instanceof Promise) return r.then(() => inOrder(steps, i + 1));
  }
}

/**
 * A keyed window operator (Flink's `WindowOperator` with its default triggers): records go
 * into the windows the assigner gives them; a window fires once when event time (or the
 * clock) passes its max timestamp, and its contents are dropped once the allowed lateness
 * passed too. Contents and timers are keyed state; the watermark reached is operator state.
 */
export class WindowOperator extends TimedKeyedOperator {
  readonly timestamped = true;
  readonly #assigner: WindowAssigner;
  readonly #fn: WindowFunction;
  readonly #latenessMs: number;
  readonly #lateTag: string | undefined;
  readonly #consumedTags: () => Set<string> | undefined;
  #name = "";
  #clock!: OperatorContext["clock"];
  #contents: WindowContents | undefined;
  #out: Batch = [];
  #outTimestamp = NaN;
  readonly #ctx: WindowContext<unknown>;
  /** The processing time up to which processing-time windows fired (not across restores: a restored window fires when due). */
  #processingFiredUpTo = -Infinity;
  /** The slide boundary of the last record's windows (see #addToWindows). */
  #slideFrom = NaN;
  /** Records later than the allowed lateness with nowhere to go (Flink's numLateRecordsDropped). */
  lateRecordsDropped = 0;

  constructor(
    keySelector: (value: unknown) => unknown,
    assigner: WindowAssigner,
    fn: WindowFunction,
    options: { allowedLatenessMs: number; lateTag?: string; consumedTags: () => Set<string> | undefined },
  ) {
    super(keySelector);
    this.#assigner = assigner;
    this.#fn = fn;
    this.#latenessMs = assigner.eventTime ? options.allowedLatenessMs : 0;
    this.#lateTag = options.lateTag;
    this.#consumedTags = options.consumedTags;
    this.#ctx = {
      emit: (v) => {
        this.#out.push(this.copy(v));
        this.#out.timestamps!.push(this.#outTimestamp);
      },
      output: (tag, v) => {
        const name = checkTag(tag, this.#name).name;
        if (!this.#consumedTags()?.has(name)) return;
        this.#out.push(new SideRecord(name, this.copy(v)));
        this.#out.timestamps!.push(this.#outTimestamp);
      },
      currentWatermark: () => this.timers.watermark,
      currentProcessingTime: () => this.#clock.now(),
    };
  }

  override open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void> {
    this.#name = ctx.name;
    this.#clock = ctx.clock;
    return super.open(ctx, restored);
  }

  #state(): WindowContents {
    return (this.#contents ??= new WindowContents(this.backend, this.#fn));
  }

  #newOut(): Batch {
    const out: Batch = [];
    out.timestamps = [];
    return out;
  }

  processBatch(values: Batch): unknown[] | Promise<unknown[]> {
    const out = (this.#out = this.#newOut());
    const fires: (() => void | Promise<void>)[] = [];
    const ts = values.timestamps;
    const eventTime = this.#assigner.eventTime;
    // A record arriving in the millisecond whose windows already fired belongs to the next
    // one: processing time, as this operator sees it, never goes back behind a firing.
    const now = eventTime ? 0 : Math.max(this.#clock.now(), this.#processingFiredUpTo + 1);
    if (!this.#assigner.merging) this.#addToWindows(values, ts, now, out, fires);
    else {
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        this.backend.setCurrentKey(this.keySelector(v));
        const time = eventTime ? (ts === undefined ? NaN : ts[i]) : now;
        if (Number.isNaN(time)) throw this.#noTimestamp(v);
        if (!this.#addToSession(v, time, fires)) this.#late(v, time, out);
      }
    }
    const r = inOrder(fires);
    return r instanceof Promise ? r.then(() => out) : out;
  }

  #noTimestamp(v: unknown): WeirError {
    return new WeirError(
      "invalid_timestamp",
      `Window "${this.#name}" (${this.#assigner.description}) got record ${JSON.stringify(v) ?? String(v)} without a timestamp; give the stream timestamps first with assignTimestampsAndWatermarks`,
    );
  }

  /** Whether a window is past its allowed lateness (its contents dropped or about to be). */
  #isLate(w: TimeWindow): boolean {
    return this.#assigner.eventTime && w.end - 1 + this.#latenessMs <= this.timers.watermark;
  }

  /**
   * Tumbling and sliding windows: each record goes into each of its windows that is not
   * late. One loop over the batch, calling nothing per record with its time as an argument
   * (V8 would box a fractional double for each such call); the key is set as current only
   * when a window is new (its timers) or fires late. The watermark cannot move during it.
   */
  #addToWindows(values: Batch, ts: number[] | undefined, now: number, out: Batch, fires: (() => void | Promise<void>)[]): void {
    const { size, slide, offset } = this.#assigner.fixed!;
    const contents = this.#state();
    const watermark = this.timers.watermark;
    const eventTime = this.#assigner.eventTime;
    const lateness = this.#latenessMs;
    const sel = this.keySelector;
    // Records come mostly in time order: the last slide boundary found holds for every time
    // before the next one, without the remainder of a division (slow on doubles).
    let from = this.#slideFrom;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const key = sel(v);
      // `+`: an array filled after `new Array(n)` stays holey, and V8 boxes each element it
      // reads from one as a number-or-undefined unless told it is a number.
      const time = eventTime ? (ts === undefined ? NaN : +ts[i]) : now;
      if (time !== time) throw this.#noTimestamp(v);
      if (!(time >= from && time < from + slide)) from = windowStart(time, offset, slide);
      let taken = false;
      // The windows holding `time` start at the last slide boundary and every slide before, while they still reach it.
      for (let start = from; start > time - size; start -= slide) {
        const end = start + size;
        if (eventTime && end - 1 + lateness <= watermark) continue;
        taken = true;
        if (contents.addFor(key, start, end, v)) {
          this.backend.setCurrentKey(key);
          this.#registerTimers(end);
        }
        if (eventTime && end - 1 <= watermark) {
          this.backend.setCurrentKey(key);
          this.#fireLate(start, fires);
        }
      }
      if (!taken) this.#late(v, time, out);
    }
    this.#slideFrom = from;
  }

  /** Session windows: the record's window merges with every window of its key it overlaps. */
  #addToSession(v: unknown, time: number, fires: (() => void | Promise<void>)[]): boolean {
    const w = this.#assigner.assign(time)[0];
    const contents = this.#state();
    // Flink merges first and then asks whether the merged window is late: a record late for
    // its own window still joins an open session it overlaps. (An open session is never
    // late, as its cleanup timer has not fired, so only a record that overlaps none is.)
    if (this.#isLate(w) && !this.#overlapsAny(contents.all(), w)) return false;
    let start = w.start;
    let end = w.end;
    let acc = this.#fn.init(v);
    const kept: unknown[] = [];
    const all = contents.all();
    for (let i = 0; i < all.length; i += 3) {
      const s = all[i] as number;
      const e = all[i + 1] as number;
      // Flink's TimeWindow.intersects: touching windows merge too.
      if (s > w.end || e < w.start) {
        kept.push(s, e, all[i + 2]);
        continue;
      }
      start = Math.min(start, s);
      end = Math.max(end, e);
      acc = this.#fn.merge(all[i + 2], acc);
    }
    kept.push(start, end, acc);
    contents.replace(kept);
    // Timers of the windows merged away stay; when they fire they find no window ending there.
    this.#registerTimers(end);
    if (this.#assigner.eventTime && end - 1 <= this.timers.watermark) this.#fireLate(start, fires);
    return true;
  }

  /** Whether window w touches or overlaps one of the [start, end, acc] triples (Flink's TimeWindow.intersects). */
  #overlapsAny(all: readonly unknown[], w: TimeWindow): boolean {
    for (let i = 0; i < all.length; i += 3) if (!((all[i] as number) > w.end || (all[i + 1] as number) < w.start)) return true;
    return false;
  }

  /**
   * The timer that fires a window ending at `end`, and the one that drops it after the
   * allowed lateness. An event-time window the watermark has passed already gets no fire
   * timer: the record fires it at once (#fireLate), as Flink's `EventTimeTrigger.onElement`
   * returns FIRE; a timer in the past would fire it a second time at the next watermark.
   */
  #registerTimers(end: number): void {
    const eventTime = this.#assigner.eventTime;
    const domain: TimeDomain = eventTime ? "event" : "processing";
    if (!eventTime || end - 1 > this.timers.watermark) this.timers.register(domain, end - 1);
    if (this.#latenessMs > 0) this.timers.register(domain, end - 1 + this.#latenessMs);
  }

  /**
   * A record within the allowed lateness of a window that fired already fires it again with
   * the full result (Flink), as the window is at that record: the firing runs after the
   * batch (a window function may be async), so it takes a copy of the window's contents now,
   * not what later records of the batch add to it or merge it into.
   */
  #fireLate(start: number, fires: (() => void | Promise<void>)[]): void {
    const key = this.backend.currentKey;
    const entry = this.#state().get(start);
    if (entry === undefined) return;
    const window = { start, end: entry[0] };
    const contents = contentsNow(entry[1]);
    fires.push(() => {
      this.backend.setCurrentKey(key);
      return this.#fire(key, window, contents);
    });
  }

  #late(v: unknown, _time: number, out: Batch): void {
    const tag = this.#lateTag;
    if (tag !== undefined && this.#consumedTags()?.has(tag)) {
      out.push(new SideRecord(tag, this.copy(v)));
      out.timestamps!.push(_time);
    } else this.lateRecordsDropped++;
  }

  #fire(key: unknown, window: TimeWindow, acc: unknown): void | Promise<void> {
    this.#outTimestamp = window.end - 1;
    return this.#fn.fire(key, window, acc, this.#ctx);
  }

  processWatermark(watermark: number): unknown[] | Promise<unknown[]> {
    this.timers.advanceWatermark(watermark);
    return this.#onTimers("event", watermark);
  }

  nextProcessingTime(): number {
    return this.timers.nextProcessingTime();
  }

  /**
   * End of input: processing-time windows still open fire now, so a bounded job's result
   * is complete (Flink drops them; event-time ones fire by the final +Infinity watermark).
   */
  finish(): unknown[] | Promise<unknown[]> {
    return this.#assigner.eventTime ? [] : this.#onTimers("processing", Infinity);
  }

  onProcessingTime(now: number): unknown[] | Promise<unknown[]> {
    if (now > this.#processingFiredUpTo) this.#processingFiredUpTo = now;
    return this.#onTimers("processing", now);
  }

  /** Timers due: each key's windows ending there fire, those past their lateness are dropped. */
  #onTimers(domain: TimeDomain, upTo: number, out = this.#newOut()): unknown[] | Promise<unknown[]> {
    this.#out = out;
    for (let t = this.timers.nextDue(domain, upTo); !Number.isNaN(t); t = this.timers.nextDue(domain, upTo)) {
      // A window function may be async: the next timer is taken once it is done.
      const r = this.#onTimer(this.backend.currentKey, t);
      if (r instanceof Promise) return r.then(() => this.#onTimers(domain, upTo, out));
    }
    return out;
  }

  /** Timer `t` of `key` (the current key) is due. */
  #onTimer(key: unknown, t: number): void | Promise<void> {
    const contents = this.#state();
    const fixed = this.#assigner.fixed;
    if (fixed !== undefined) {
      // A fixed-size window is found from the timer: it ends at t + 1 (fire) or t + 1 - lateness (drop).
      const fireStart = t + 1 - fixed.size;
      const dropStart = fireStart - this.#latenessMs;
      const all = contents.all();
      const i = indexOfWindow(all, fireStart);
      const r = i >= 0 ? this.#fire(key, { start: fireStart, end: all[i + 1] as number }, all[i + 2]) : undefined;
      if (r instanceof Promise) {
        return r.then(() => {
          this.backend.setCurrentKey(key);
          contents.remove(dropStart);
        });
      }
      // Without lateness the window fired is the one dropped: the list read above is still the key's.
      if (i >= 0 && dropStart === fireStart) contents.removeAt(all, i);
      else contents.remove(dropStart);
      return;
    }
    const steps: (() => void | Promise<void>)[] = [];
    const all = contents.all();
    for (let i = 0; i < all.length; i += 3) {
      const start = all[i] as number;
      const end = all[i + 1] as number;
      const acc = all[i + 2];
      const maxTimestamp = end - 1;
      if (maxTimestamp === t) steps.push(() => this.#fire(key, { start, end }, acc));
      if (maxTimestamp + this.#latenessMs === t) {
        steps.push(() => {
          this.backend.setCurrentKey(key);
          this.#state().remove(start);
        });
      }
    }
    return inOrder(steps);
  }
}

/**
 * A window's contents as they are now, for a firing that runs later: a copy, or, for an
 * accumulator weir cannot copy (an unregistered class instance, which a job without
 * checkpoints may keep), the contents themselves, as before copies were taken.
 */
function contentsNow(contents: unknown): unknown {
  try {
    return copyValue(contents);
  } catch (e) {
    if (e instanceof WeirError && e.code === "record_not_copyable") return contents;
    throw e;
  }
}
