/**
 * KeyedStream: a stream partitioned by key, and what only a keyed stream offers — rolling
 * reduce, keyed process functions with state and timers, windows, and connecting with
 * another keyed stream or a broadcast stream.
 * @module
 */
import { WeirError, invalidOption } from "../errors.ts";
import { BroadcastConnectedStreams, type CoConnectedStreams, ConnectedStreams } from "./connected_streams.ts";
import { BroadcastStream, DataStream, type GraphBuilder } from "./data_stream.ts";
import { requireSyncFunction } from "./function_checks.ts";
import { type KeyedProcessFunction, type KeyedProcessFunctionObject, KeyedProcessOperator } from "./operators/keyed_process.ts";
import { ReduceOperator } from "./operators/reduce.ts";
import type { OperatorOptions, Transformation } from "./transformation.ts";
import type { WindowAssigner } from "./window_assigners.ts";
import { type WindowOperatorAdder, WindowedStream } from "./windowed_stream.ts";

/**
 * A stream partitioned by key (Flink's KeyedStream). It is a {@link DataStream}: `map`,
 * `filter`, `flatMap`, `process` and `sinkTo` after `keyBy` run hash-partitioned by key
 * (every record of a key reaches the same subtask, through its key group), and `reduce` and
 * `process` keep state per key.
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc-keyed" });
 * env.fromSource(new SequenceSource(0, 10))
 *   .keyBy((n) => n % 2)
 *   .map((n) => n * 10)            // runs hash-partitioned by n % 2
 *   .sinkTo(new CollectSink<number>());
 * ```
 */
export class KeyedStream<T, K> extends DataStream<T> {
  readonly #keySelector: (value: T) => K;

  constructor(builder: GraphBuilder, input: Transformation, keySelector: (value: T) => K) {
    super(builder, input, { keySelector: keySelector as (v: unknown) => unknown });
    this.#keySelector = keySelector;
  }

  /**
   * Connects this keyed stream with another keyed stream (Flink's `connect` and
   * `KeyedCoProcessFunction`): a key's records of both inputs reach one subtask and share
   * its keyed state, e.g. for a join of two keyed streams. With a stream that is not keyed
   * it connects as two plain streams ({@link DataStream.connect}: no keyed state), as in Flink.
   * @throws {WeirError} `invalid_job` when other is not a stream of this environment
   */
  override connect<B>(other: KeyedStream<B, K>): ConnectedStreams<T, B, K>;
  override connect<B>(other: BroadcastStream<B>): BroadcastConnectedStreams<T, B, K>;
  override connect<B>(other: DataStream<B>): CoConnectedStreams<T, B>;
  override connect<B>(other: KeyedStream<B, K> | DataStream<B>): ConnectedStreams<T, B, K> | CoConnectedStreams<T, B> | BroadcastConnectedStreams<T, B, K> {
    if (!(other instanceof KeyedStream)) {
      if (other instanceof BroadcastStream && this.sameEnvironment(other)) {
        return new BroadcastConnectedStreams<T, B, K>(this, other, this.#keySelector);
      }
      return super.connect(other);
    }
    if ((other as KeyedStream<B, K>).builder !== this.builder) {
      throw new WeirError("invalid_job", `connect() of "${this.transformation.name}" needs a keyed stream of the same environment (a.keyBy(k).connect(b.keyBy(k))), got "${other.transformation.name}" of another environment`);
    }
    return new ConnectedStreams<T, B, K>(this, other, this.#keySelector, other.#keySelector);
  }

  /**
   * Cuts the keyed stream into windows (Flink's `KeyedStream.window`): tumbling, sliding or
   * session windows of event time or processing time; then `.reduce`, `.aggregate` or
   * `.process` (see {@link WindowedStream}).
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink, WatermarkStrategy, TumblingEventTimeWindows } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-keyed-window" });
   * env.fromSource(new SequenceSource(0, 100))
   *   .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 1000))
   *   .keyBy((n) => n % 3)
   *   .window(TumblingEventTimeWindows.of(10_000))
   *   .reduce((a, b) => a + b)
   *   .sinkTo(new CollectSink<number>());
   * ```
   * @throws {WeirError} `invalid_option` when assigner is not a window assigner
   */
  override window(assigner: WindowAssigner): WindowedStream<T, K> {
    if (!assigner || typeof (assigner as WindowAssigner).assign !== "function" || typeof (assigner as WindowAssigner).eventTime !== "boolean") {
      throw invalidOption(`window of "${this.transformation.name}"`, assigner, "must be a window assigner (TumblingEventTimeWindows.of(ms), …)");
    }
    const add: WindowOperatorAdder = (kind, create, options, code) => this.thenConsumingTags(kind, create, options, code);
    return new WindowedStream<T, K>(this, this.#keySelector as (v: unknown) => unknown, assigner, add);
  }

  /** Rolling reduce: emits the running aggregate for the key after every record. */
  reduce(fn: (acc: T, value: T) => T, options?: OperatorOptions): DataStream<T> {
    requireSyncFunction(fn, "reduce function");
    const sel = this.#keySelector as (v: unknown) => unknown;
    return this.then("reduce", () => new ReduceOperator(sel, fn as (a: unknown, v: unknown) => unknown), options, fn);
  }

  /**
   * Runs fn per record with keyed ValueState, ListState and MapState (with optional `{ ttl }`);
   * fn emits through ctx.emit, and to side outputs through ctx.output(tag, value). Given
   * `{ processElement, onTimer }` (Flink's `KeyedProcessFunction`), timers registered with
   * `ctx.timerService` call `onTimer(timestamp, ctx)` once per key, domain and timestamp;
   * timers are keyed state (checkpointed, rescaled by key group).
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink, WatermarkStrategy } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-timers" });
   * env.fromSource(new SequenceSource(0, 10))
   *   .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 1000))
   *   .keyBy((n) => n % 2)
   *   .process<string>({
   *     processElement: (n, ctx) => ctx.timerService.registerEventTimeTimer(ctx.timestamp! + 5000),
   *     onTimer: (ts, ctx) => ctx.emit(`key ${ctx.key} at ${ts}`),
   *   })
   *   .sinkTo(new CollectSink<string>());
   * ```
   * @throws {WeirError} `invalid_option` when fn is neither a function nor an object with processElement
   */
  override process<O>(fn: KeyedProcessFunction<T, K, O> | KeyedProcessFunctionObject<T, K, O>, options?: OperatorOptions): DataStream<O> {
    if (typeof fn !== "function" && (typeof fn !== "object" || fn === null || typeof fn.processElement !== "function")) {
      throw invalidOption("process function", fn, "must be a function or an object with processElement (and onTimer)");
    }
    if (typeof fn === "object" && fn.onTimer !== undefined && typeof fn.onTimer !== "function") throw invalidOption("process onTimer", fn.onTimer, "must be a function");
    const sel = this.#keySelector as (v: unknown) => unknown;
    const code = typeof fn === "function" ? fn : `${fn.processElement}${fn.onTimer ?? ""}`;
    return this.thenConsumingTags<O>("process", (consumed) => new KeyedProcessOperator(sel, fn as KeyedProcessFunction<unknown, unknown, unknown>, consumed), options, code);
  }
}
