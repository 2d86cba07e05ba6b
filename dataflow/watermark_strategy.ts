/**
 * Event time (Flink's `WatermarkStrategy`, FLIP-126, Flink 1.11): how records get their
 * timestamps and how watermarks are generated from them.
 * @module
 */
import { WeirError, invalidOption } from "../errors.ts";

/** Where a {@link WatermarkGenerator} sends what it generates (Flink's `WatermarkOutput`). */
export interface WatermarkOutput {
  /** Event time reached `timestamp` (ms): no record older should follow. Lower ones are ignored. */
  emitWatermark(timestamp: number): void;
  /** This subtask emits nothing for a while: downstream does not wait for it. */
  markIdle(): void;
  /** The subtask is active again (a watermark marks it active too). */
  markActive(): void;
}

/**
 * Generates watermarks from records and on a period (Flink's `WatermarkGenerator`):
 * `onEvent` per record (a punctuated generator emits there), `onPeriodicEmit` every
 * `autoWatermarkInterval` ms of processing time (default 200).
 */
export interface WatermarkGenerator<T> {
  onEvent(event: T, timestamp: number, output: WatermarkOutput): void;
  onPeriodicEmit(output: WatermarkOutput): void;
}

/** A record's timestamp from the record; `previous` is the timestamp it had (undefined if none). */
export type TimestampAssigner<T> = (value: T, previous: number | undefined) => number;

/** What a generator factory gets: the processing-time clock (for idleness and the like). */
export interface WatermarkGeneratorContext {
  now(): number;
}

/**
 * Flink's bounded out-of-orderness generator: the watermark trails the largest timestamp
 * seen by `maxOutOfOrdernessMs` (watermark = max − bound − 1).
 */
class BoundedOutOfOrderness implements WatermarkGenerator<unknown> {
  #max = -Infinity;
  readonly #bound: number;
  constructor(bound: number) {
    this.#bound = bound;
  }
  onEvent(_event: unknown, timestamp: number): void {
    if (timestamp > this.#max) this.#max = timestamp;
  }
  onPeriodicEmit(output: WatermarkOutput): void {
    if (this.#max > -Infinity) output.emitWatermark(this.#max - this.#bound - 1);
  }
}

/**
 * Flink's `WatermarksWithIdleness`: marks the output idle once no record came for
 * `idleMs` of processing time, active again with the next record.
 */
class WithIdleness<T> implements WatermarkGenerator<T> {
  readonly #inner: WatermarkGenerator<T>;
  readonly #idleMs: number;
  readonly #now: () => number;
  #lastEventAt: number;
  #idle = false;
  constructor(inner: WatermarkGenerator<T>, idleMs: number, now: () => number) {
    this.#inner = inner;
    this.#idleMs = idleMs;
    this.#now = now;
    this.#lastEventAt = now();
  }
  onEvent(event: T, timestamp: number, output: WatermarkOutput): void {
    this.#lastEventAt = this.#now();
    if (this.#idle) {
      this.#idle = false;
      output.markActive();
    }
    this.#inner.onEvent(event, timestamp, output);
  }
  onPeriodicEmit(output: WatermarkOutput): void {
    if (this.#now() - this.#lastEventAt >= this.#idleMs) {
      if (!this.#idle) output.markIdle();
      this.#idle = true;
      return;
    }
    this.#inner.onPeriodicEmit(output);
  }
}

/**
 * How a stream gets timestamps and watermarks; immutable, each `with…` returns a new one.
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink, WatermarkStrategy } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc-event-time" });
 * env.fromSource(new SequenceSource(0, 100))
 *   .assignTimestampsAndWatermarks(
 *     WatermarkStrategy.forBoundedOutOfOrderness<number>(5_000)
 *       .withTimestampAssigner((n) => n * 1000)   // record n happened at second n
 *       .withIdleness(60_000),
 *   )
 *   .sinkTo(new CollectSink<number>());
 * ```
 */
export class WatermarkStrategy<T> {
  /** Makes the generator of one subtask. */
  readonly createGenerator: (ctx: WatermarkGeneratorContext) => WatermarkGenerator<T>;
  readonly timestampAssigner: TimestampAssigner<T> | undefined;
  readonly idleMs: number | undefined;

  private constructor(create: (ctx: WatermarkGeneratorContext) => WatermarkGenerator<T>, assigner?: TimestampAssigner<T>, idleMs?: number) {
    this.createGenerator = create;
    this.timestampAssigner = assigner;
    this.idleMs = idleMs;
  }

  /**
   * Records arrive at most `maxOutOfOrdernessMs` after a later one (Flink's
   * `forBoundedOutOfOrderness`); the watermark trails the largest timestamp by that much.
   * @throws {WeirError} `invalid_option` when the bound is not a finite number >= 0
   */
  static forBoundedOutOfOrderness<T>(maxOutOfOrdernessMs: number): WatermarkStrategy<T> {
    if (typeof maxOutOfOrdernessMs !== "number" || !Number.isFinite(maxOutOfOrdernessMs) || maxOutOfOrdernessMs < 0) {
      throw invalidOption("WatermarkStrategy.forBoundedOutOfOrderness maxOutOfOrdernessMs", maxOutOfOrdernessMs, "must be a finite number >= 0");
    }
    return new WatermarkStrategy<T>(() => new BoundedOutOfOrderness(maxOutOfOrdernessMs));
  }

  /** Timestamps never go down (Flink's `forMonotonousTimestamps`): out-of-orderness 0. */
  static forMonotonousTimestamps<T>(): WatermarkStrategy<T> {
    return WatermarkStrategy.forBoundedOutOfOrderness<T>(0);
  }

  /**
   * A custom generator (Flink's `forGenerator`), one per subtask.
   * @throws {WeirError} `invalid_option` when create is not a function
   */
  static forGenerator<T>(create: (ctx: WatermarkGeneratorContext) => WatermarkGenerator<T>): WatermarkStrategy<T> {
    if (typeof create !== "function") throw invalidOption("WatermarkStrategy.forGenerator", create, "must be a function returning a WatermarkGenerator");
    return new WatermarkStrategy<T>(create);
  }

  /** Timestamps only, no watermarks (Flink's `noWatermarks`). */
  static noWatermarks<T>(): WatermarkStrategy<T> {
    return new WatermarkStrategy<T>(() => ({ onEvent() {}, onPeriodicEmit() {} }));
  }

  /**
   * Takes each record's timestamp (ms) from the record. Without it, records keep the
   * timestamps they have; a record without one fails the job.
   * @throws {WeirError} `invalid_option` when fn is not a function
   */
  withTimestampAssigner(fn: TimestampAssigner<T>): WatermarkStrategy<T> {
    if (typeof fn !== "function") throw invalidOption("WatermarkStrategy.withTimestampAssigner", fn, "must be a function (value, previous) => ms");
    return new WatermarkStrategy<T>(this.createGenerator, fn, this.idleMs);
  }

  /**
   * Marks a subtask idle after `idleMs` of processing time without records, so that it
   * does not hold back the watermark downstream (Flink's `withIdleness`).
   * @throws {WeirError} `invalid_option` when idleMs is not a finite number > 0
   */
  withIdleness(idleMs: number): WatermarkStrategy<T> {
    if (typeof idleMs !== "number" || !Number.isFinite(idleMs) || idleMs <= 0) {
      throw invalidOption("WatermarkStrategy.withIdleness idleMs", idleMs, "must be a finite number > 0");
    }
    return new WatermarkStrategy<T>(this.createGenerator, this.timestampAssigner, idleMs);
  }

  /** The generator of one subtask, wrapped for idleness when asked. */
  generator(ctx: WatermarkGeneratorContext): WatermarkGenerator<T> {
    const g = this.createGenerator(ctx);
    if (!g || typeof g.onEvent !== "function" || typeof g.onPeriodicEmit !== "function") {
      throw new WeirError("invalid_result", `WatermarkStrategy generator must have onEvent and onPeriodicEmit, got ${String(g)}`);
    }
    return this.idleMs === undefined ? g : new WithIdleness(g, this.idleMs, ctx.now);
  }
}
