/**
 * `keyedStream.window(assigner)` (Flink's `WindowedStream`): `.allowedLateness(ms)`,
 * `.sideOutputLateData(tag)`, then `.reduce`, `.aggregate` or `.process`.
 * @module
 */
import { WeirError, invalidOption } from "../errors.ts";
import type { DataStream } from "./data_stream.ts";
import { requireSyncFunction } from "./function_checks.ts";
import type { KeyedStream } from "./keyed_stream.ts";
import { WindowOperator, type WindowContext, type WindowFunction } from "./operators/window.ts";
import { OutputTag } from "./side_output.ts";
import type { OperatorOptions } from "./transformation.ts";
import type { TimeWindow, WindowAssigner } from "./window_assigners.ts";

export type { TimeWindow, WindowAssigner, WindowContext };

/** Flink's `AggregateFunction`: an accumulator per key and window. */
export interface AggregateFunction<T, A, R> {
  createAccumulator(): A;
  add(value: T, accumulator: A): A;
  getResult(accumulator: A): R;
  merge(a: A, b: A): A;
}

/** Flink's `ProcessWindowFunction`: all elements of a window at once; emit with ctx.emit. May be async. */
export type ProcessWindowFunction<T, K, O> = (key: K, window: TimeWindow, elements: T[], ctx: WindowContext<O>) => void | Promise<void>;

/** How a windowed stream adds its operator (a KeyedStream's protected door). */
export type WindowOperatorAdder = <O>(kind: string, create: (consumedTags: () => Set<string> | undefined) => WindowOperator, options: OperatorOptions | undefined, code: unknown) => DataStream<O>;

/**
 * A keyed stream cut into windows. Each window fires once per key (with `allowedLateness`,
 * again for each late record within it, with the full result); its contents are keyed state,
 * checkpointed and rescaled by key group.
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink, WatermarkStrategy, TumblingEventTimeWindows } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc-window" });
 * env.fromSource(new SequenceSource(0, 100))
 *   .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 1000))
 *   .keyBy((n) => n % 3)
 *   .window(TumblingEventTimeWindows.of(60_000))
 *   .aggregate({ createAccumulator: () => 0, add: (_n, c: number) => c + 1, getResult: (c) => c, merge: (a, b) => a + b })
 *   .sinkTo(new CollectSink<number>());
 * ```
 */
export class WindowedStream<T, K> {
  readonly #keyed: KeyedStream<T, K>;
  readonly #keySelector: (value: unknown) => unknown;
  readonly #assigner: WindowAssigner;
  readonly #add: WindowOperatorAdder;
  #latenessMs = 0;
  #lateTag: OutputTag<T> | undefined;

  constructor(keyed: KeyedStream<T, K>, keySelector: (value: unknown) => unknown, assigner: WindowAssigner, add: WindowOperatorAdder) {
    this.#keyed = keyed;
    this.#keySelector = keySelector;
    this.#assigner = assigner;
    this.#add = add;
  }

  /**
   * Keeps a window's contents `ms` after it fired (event time): a late record within that
   * fires it again with the updated full result.
   * @throws {WeirError} `invalid_option` naming the value when ms is not a finite number >= 0;
   *   `invalid_job` on processing-time windows
   */
  allowedLateness(ms: number): this {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) throw invalidOption(`allowedLateness of ${this.#assigner.description}`, ms, "must be a finite number of ms >= 0");
    if (!this.#assigner.eventTime && ms > 0) throw new WeirError("invalid_job", `allowedLateness(${ms}) needs event-time windows; ${this.#assigner.description} has no late records`);
    this.#latenessMs = ms;
    return this;
  }

  /**
   * Records too late for every window they belong to go to this side output, read with
   * `getSideOutput(tag)` on the stream that reduce/aggregate/process returns.
   * @throws {WeirError} `invalid_option` when tag is not an OutputTag
   */
  sideOutputLateData(tag: OutputTag<T>): this {
    if (!(tag instanceof OutputTag)) throw invalidOption(`sideOutputLateData of ${this.#assigner.description}`, tag, "must be an OutputTag");
    this.#lateTag = tag;
    return this;
  }

  #build<O>(kind: string, fn: WindowFunction, options: OperatorOptions | undefined, code: unknown): DataStream<O> {
    const sel = this.#keySelector;
    const assigner = this.#assigner;
    const allowedLatenessMs = this.#latenessMs;
    const lateTag = this.#lateTag?.name;
    return this.#add<O>(`window-${kind}`, (consumedTags) => new WindowOperator(sel, assigner, fn, { allowedLatenessMs, lateTag, consumedTags }), options, `${assigner.description}|${allowedLatenessMs}|${String(code)}`);
  }

  /**
   * Reduces each window's records to one (Flink's `ReduceFunction`), incrementally: one
   * value per key and window, emitted when the window fires.
   * @throws {WeirError} `invalid_option` when fn is not a function
   */
  reduce(fn: (a: T, b: T) => T, options?: OperatorOptions): DataStream<T> {
    requireSyncFunction(fn, `reduce of ${this.#assigner.description}`);
    const f = fn as (a: unknown, b: unknown) => unknown;
    return this.#build<T>("reduce", {
      init: (v) => v,
      add: f,
      merge: f,
      fire: (_key, _w, acc, ctx) => ctx.emit(acc),
    }, options, fn);
  }

  /**
   * Aggregates each window incrementally (Flink's `AggregateFunction`): one accumulator per
   * key and window; `getResult` is emitted when the window fires.
   * @throws {WeirError} `invalid_option` when a method is missing
   */
  aggregate<A, R>(fn: AggregateFunction<T, A, R>, options?: OperatorOptions): DataStream<R> {
    for (const m of ["createAccumulator", "add", "getResult", "merge"] as const) {
      if (typeof fn?.[m] !== "function") throw invalidOption(`aggregate of ${this.#assigner.description}`, fn?.[m], `needs ${m} as a function`);
    }
    const agg = fn as unknown as AggregateFunction<unknown, unknown, unknown>;
    return this.#build<R>("aggregate", {
      init: (v) => agg.add(v, agg.createAccumulator()),
      add: (acc, v) => agg.add(v, acc),
      merge: (a, b) => agg.merge(a, b),
      fire: (_key, _w, acc, ctx) => ctx.emit(agg.getResult(acc)),
    }, options, `${fn.createAccumulator}${fn.add}${fn.getResult}${fn.merge}`);
  }

  /**
   * Calls fn with every record of a window when it fires (Flink's `ProcessWindowFunction`):
   * `(key, window, elements, ctx)`, `window.start`/`window.end` in ms (end exclusive).
   * Keeps the elements, not an accumulator.
   * @throws {WeirError} `invalid_option` when fn is not a function
   */
  process<O>(fn: ProcessWindowFunction<T, K, O>, options?: OperatorOptions): DataStream<O> {
    if (typeof fn !== "function") throw invalidOption(`process of ${this.#assigner.description}`, fn, "must be a function (key, window, elements, ctx) => …");
    const f = fn as unknown as ProcessWindowFunction<unknown, unknown, unknown>;
    return this.#build<O>("process", {
      init: (v) => [v],
      add: (list, v) => ((list as unknown[]).push(v), list),
      merge: (a, b) => [...(a as unknown[]), ...(b as unknown[])],
      fire: (key, w, acc, ctx) => f(key, { start: w.start, end: w.end }, [...(acc as unknown[])], ctx),
    }, options, fn);
  }

  /** The keyed stream this windows. */
  get keyedStream(): KeyedStream<T, K> {
    return this.#keyed;
  }
}
