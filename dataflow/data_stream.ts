/**
 * DataStream, the user API's stream of records: every method adds an operator (map,
 * filter, process, union, side outputs, sinks) or sets the partitioning towards the next
 * one. The keyed stream is in keyed_stream.ts.
 * @module
 */
import { WeirError, invalidOption } from "../errors.ts";
import type { Sink, StreamOperator } from "./operator.ts";
import { FilterOperator } from "./operators/filter.ts";
import { FlatMapOperator } from "./operators/flat_map.ts";
import { MapOperator } from "./operators/map.ts";
import { SinkOperator } from "./operators/sink.ts";
import type { InputPartitioning, OperatorOptions, Transformation } from "./transformation.ts";
import { requireFunction } from "./function_checks.ts";
import { codeOf } from "./uid_hash.ts";
import { WatermarkStrategy } from "./watermark_strategy.ts";
import { checkBufferTimeout } from "./buffer_timeout.ts";
import type { WindowedStream } from "./windowed_stream.ts";
import type { WindowAssigner } from "./window_assigners.ts";
import { TimestampsAndWatermarksOperator } from "./operators/timestamps_watermarks.ts";
import { OutputTag, SideOutputOperator } from "./side_output.ts";
import { CoConnectedStreams } from "./connected_streams.ts";
import type { KeyedStream } from "./keyed_stream.ts";
import { type ProcessFunction, ProcessOperator } from "./operators/process.ts";

/** The part of the environment a stream needs to add operators. */
export interface GraphBuilder {
  add(t: Omit<Transformation, "id" | "uid" | "name" | "uidGiven" | "parallelism" | "disableChaining">, options: OperatorOptions | undefined): Transformation;
  /**
   * The stream of `input`'s records partitioned by `keySelector` (DataStream.keyBy). The
   * environment makes it, so that this file need not import its own subclass (a cycle
   * whose order of evaluation would depend on which file is imported first).
   */
  keyed<T, K>(input: Transformation, keySelector: (value: T) => K): KeyedStream<T, K>;
}

/**
 * A stream of records of type T. Every method adds an operator and returns the stream
 * it produces; nothing runs until env.execute().
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc" });
 * env.fromSource(new SequenceSource(0, 10)).map((n) => n * 2).sinkTo(new CollectSink<number>());
 * ```
 */
export class DataStream<T> {
  protected readonly builder: GraphBuilder;
  /** The transformation producing this stream. */
  readonly transformation: Transformation;
  #partitioning: InputPartitioning | undefined;

  constructor(builder: GraphBuilder, transformation: Transformation, partitioning?: InputPartitioning) {
    this.builder = builder;
    this.transformation = transformation;
    this.#partitioning = partitioning;
  }

  /** Adds the next operator; `code` (the user's function) goes into its generated uid. */
  protected then<O>(kind: string, createOperator: Transformation["createOperator"], options: OperatorOptions | undefined, code?: unknown): DataStream<O> {
    const t = this.builder.add({ kind, createOperator, input: { id: this.transformation.id, partitioning: this.#partitioning }, code: codeOf(code) }, options);
    return new DataStream<O>(this.builder, t);
  }

  /**
   * Like then(), for an operator that may emit side outputs: it is told which of its tags
   * are read (getSideOutput), which is known only when the job is built, after this call.
   */
  protected thenConsumingTags<O>(
    kind: string,
    create: (consumedTags: () => Set<string> | undefined) => StreamOperator,
    options: OperatorOptions | undefined,
    code: unknown,
  ): DataStream<O> {
    const self: { t?: Transformation } = {};
    const out = this.then<O>(kind, () => create(() => self.t?.sideOutputs), options, code);
    self.t = out.transformation;
    return out;
  }

  /**
   * Adds an operator of your own (Flink's `DataStream.transform`): `createOperator` is called
   * once per subtask. `kind` names it in generated uids and as its default name.
   */
  transform<O>(kind: string, createOperator: () => StreamOperator, options?: OperatorOptions, code?: unknown): DataStream<O> {
    requireFunction(createOperator, `transform("${kind}") operator factory`);
    return this.then<O>(kind, createOperator, options, code ?? createOperator);
  }

  /** True when other was made by the same StreamEnvironment. */
  protected sameEnvironment(other: DataStream<unknown>): boolean {
    return other.builder === this.builder;
  }

  /** One record out per record in; fn may be async. */
  map<O>(fn: (value: T) => O | Promise<O>, options?: OperatorOptions): DataStream<O> {
    requireFunction(fn, "map function");
    return this.then("map", () => new MapOperator(fn as (v: unknown) => unknown), options, fn);
  }

  /** Keeps records for which fn is truthy; fn may be async. */
  filter(fn: (value: T) => boolean | Promise<boolean>, options?: OperatorOptions): DataStream<T> {
    requireFunction(fn, "filter function");
    return this.then("filter", () => new FilterOperator(fn as (v: unknown) => unknown), options, fn);
  }

  /** Zero or more records out per record in (an array or iterable); fn may be async. */
  flatMap<O>(fn: (value: T) => Iterable<O> | Promise<Iterable<O>>, options?: OperatorOptions): DataStream<O> {
    requireFunction(fn, "flatMap function");
    return this.then("flatMap", () => new FlatMapOperator(fn as (v: unknown) => unknown), options, fn);
  }

  /**
   * Gives records their event-time timestamps and generates watermarks from them (Flink's
   * `assignTimestampsAndWatermarks`, FLIP-126). Timestamps then travel with the records
   * through every operator after it; watermarks flow through channels, each subtask's is
   * the minimum over its inputs (idle ones left out), and at end of input event time jumps
   * to +Infinity. Watermarks arriving from upstream stop here: this operator makes its own.
   * Directly on a source that has splits (SourceReader.splits; `fromSource(src, strategy)`
   * is the same) it generates per split: the minimum over the splits that are not idle, idle
   * while the subtask holds no split (FLIP-27's per-split watermarks).
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink, WatermarkStrategy } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-assign" });
   * env.fromSource(new SequenceSource(0, 10))
   *   .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n * 1000))
   *   .sinkTo(new CollectSink<number>());
   * ```
   * @throws {WeirError} `invalid_option` when strategy is not a WatermarkStrategy. When
   *   running: `invalid_timestamp` (as the cause of `operator_failed`) when the assigner
   *   returns anything but a finite number, naming the operator, the value and the record.
   */
  assignTimestampsAndWatermarks(strategy: WatermarkStrategy<T>, options?: OperatorOptions): DataStream<T> {
    if (!(strategy instanceof WatermarkStrategy)) {
      throw invalidOption(`assignTimestampsAndWatermarks of "${this.transformation.name}"`, strategy, "must be a WatermarkStrategy (WatermarkStrategy.forBoundedOutOfOrderness(ms), …)");
    }
    const s = strategy as WatermarkStrategy<unknown>;
    return this.then("timestamps", () => new TimestampsAndWatermarksOperator(s), options, strategy.timestampAssigner ?? strategy.createGenerator);
  }

  /**
   * Runs fn per record (Flink's `ProcessFunction` on a stream that is not keyed): emit any
   * number of records, side outputs with `ctx.output(tag, value)`, the record's timestamp in
   * `ctx.timestamp`. Keyed state and timers need `keyBy(…)` first, as in Flink.
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink, OutputTag } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-process" });
   * const negative = new OutputTag<number>("negative");
   * const parsed = env.fromSource(new SequenceSource(-5, 5)).process<string>((n, ctx) => {
   *   if (n < 0) ctx.output(negative, n);
   *   else ctx.emit(`#${n}`);
   * });
   * parsed.sinkTo(new CollectSink<string>());
   * parsed.getSideOutput(negative).sinkTo(new CollectSink<number>());
   * ```
   * @throws {WeirError} `invalid_option` when fn is not a function; `invalid_job` for a
   *   `{ processElement, onTimer }` object (timers need a keyed stream)
   */
  process<O>(fn: ProcessFunction<T, O>, options?: OperatorOptions): DataStream<O> {
    if (typeof fn !== "function") {
      const keyed = typeof fn === "object" && fn !== null && "processElement" in fn;
      if (keyed) throw new WeirError("invalid_job", `process({ processElement, onTimer }) on "${this.transformation.name}", which is not keyed: keyed state and timers need keyBy(…) first`);
      throw invalidOption(`process function of "${this.transformation.name}"`, fn, "must be a function");
    }
    return this.thenConsumingTags<O>("statelessProcess", (consumed) => new ProcessOperator(fn as ProcessFunction<unknown, unknown>, consumed), options, fn);
  }

  /**
   * Connects this stream with another of the same environment (Flink's `DataStream.connect`
   * and `CoProcessFunction`): one operator sees the records of both, each through its own
   * method. Both keyed (`a.keyBy(k).connect(b.keyBy(k))`) gives keyed state shared per key.
   * @throws {WeirError} `invalid_job` when other is not a stream of this environment
   */
  connect<B>(other: DataStream<B>): CoConnectedStreams<T, B> {
    if (!(other instanceof DataStream) || other.builder !== this.builder) {
      throw new WeirError("invalid_job", `connect() of "${this.transformation.name}" needs a stream of the same environment, got ${String(other)}`);
    }
    return new CoConnectedStreams<T, B>(this, other);
  }

  /**
   * Windows need a keyed stream: this throws, naming the stream (weir has no `windowAll`).
   * @throws {WeirError} `invalid_job` always on a stream that is not keyed
   */
  window(assigner: WindowAssigner): WindowedStream<T, unknown> {
    throw new WeirError("invalid_job", `window(${(assigner as WindowAssigner)?.description ?? String(assigner)}) on "${this.transformation.name}", which is not keyed: call keyBy(…) first (windowAll is not supported)`);
  }

  /** Partitions by key through key groups; keyed operators follow. */
  keyBy<K>(keySelector: (value: T) => K): KeyedStream<T, K> {
    requireFunction(keySelector, "keyBy key selector");
    return this.builder.keyed(this.transformation, keySelector);
  }

  /**
   * Merges this stream with others of the same type into one (Flink's `union`): the next
   * operator reads every input; records of one input keep their order, inputs interleave.
   * A partitioning set on an input (`a.rebalance().union(b)`) holds for that input unless
   * the union itself is partitioned (`a.union(b).keyBy(…)`).
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-union" });
   * const evens = env.fromSource(new SequenceSource(0, 5)).map((n) => n * 2);
   * const odds = env.fromSource(new SequenceSource(0, 5)).map((n) => n * 2 + 1);
   * evens.union(odds).sinkTo(new CollectSink<number>());
   * ```
   * A stream given twice (`s.union(s)`) gives each record twice, as in Flink.
   * @throws {WeirError} `invalid_job` when a stream belongs to another environment or the
   *   streams declare different record types.
   */
  union(...others: DataStream<T>[]): DataStream<T> {
    const all = [this, ...others];
    for (const s of others) {
      if (!(s instanceof DataStream)) throw invalidOption("union input", s, "must be a DataStream");
      if (s.builder !== this.builder) throw new WeirError("invalid_job", "union() joins streams of one StreamEnvironment; a stream of another environment was given");
    }
    const declared = all.map((s) => [s.transformation, s.#declaredType()] as const).filter(([, type]) => type !== undefined);
    const [first] = declared;
    const other = declared.find(([, type]) => type !== first?.[1]);
    if (first && other) {
      throw new WeirError(
        "invalid_job",
        `union() of streams of different record types: "${first[0].name}" declares ${first[1]}, "${other[0].name}" declares ${other[1]}; union joins streams of one type (map one of them first)`,
      );
    }
    // A stream given again reaches the union through an identity map of its own, since two
    // edges of one producer to one consumer would be one channel: Flink's "union with itself
    // gives each element twice".
    const given = new Set<number>();
    const inputs = all.map((s) => {
      if (!given.has(s.transformation.id)) {
        given.add(s.transformation.id);
        return s;
      }
      return s.map((v) => v, { name: `${s.transformation.name} (again in union)` });
    });
    const t = this.builder.add({ kind: "union", unionOf: inputs.map((s) => ({ id: s.transformation.id, partitioning: s.#partitioning })) }, undefined);
    if (first) t.declaredType = first[1];
    return new DataStream<T>(this.builder, t);
  }

  /**
   * Declares the record type of this stream by name (Flink's `returns(TypeInformation)`),
   * e.g. `"Click"` or `"number"`: `union` refuses streams that declare different types. A
   * source declares its type with a `recordType` property. Returns this stream.
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-returns" });
   * const numbers = env.fromSource(new SequenceSource(0, 3)).returns("number");
   * const words = env.fromSource(new SequenceSource(0, 3)).map((n) => String(n)).returns("string");
   * let refused = false;
   * try { numbers.union(words as never); } catch { refused = true; }
   * console.assert(refused);
   * ```
   * @throws {WeirError} `invalid_option` when type is not a non-empty string
   */
  returns(type: string): this {
    if (typeof type !== "string" || type.length === 0) throw invalidOption(`returns of "${this.transformation.name}"`, type, "must be a type name (a non-empty string)");
    this.transformation.declaredType = type;
    return this;
  }

  /**
   * Sets how long, in ms, a record this stream's operator emits may wait in a partly filled
   * batch before the batch goes to the next vertex (Flink's `DataStream#setBufferTimeout`):
   * 0 at the end of every step, -1 only when full (or before a barrier, watermark or end
   * of input). Overrides the environment's `bufferTimeout` for this operator's output; the
   * same as its `bufferTimeout` option.
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-buffer-timeout" });
   * env.fromSource(new SequenceSource(0, 10, { ratePerSecond: 100 })).setBufferTimeout(50)
   *   .keyBy((n) => n % 2).reduce((a, b) => a + b).sinkTo(new CollectSink<number>());
   * ```
   * @throws {WeirError} `invalid_option` for a value other than -1, 0 or whole ms up to an
   *   hour; `invalid_job` on a union (set it on the streams it unites)
   */
  setBufferTimeout(ms: number): this {
    const t = this.transformation;
    if (t.unionOf) throw new WeirError("invalid_job", `setBufferTimeout on the union "${t.name}": set it on the streams it unites`);
    t.bufferTimeout = checkBufferTimeout(`bufferTimeout of ${t.name}`, ms);
    return this;
  }

  /** The declared record type: this stream's own, or its source's `recordType`. */
  #declaredType(): string | undefined {
    const t = this.transformation;
    if (t.declaredType !== undefined) return t.declaredType;
    const fromSource = (t.source as { recordType?: unknown } | undefined)?.recordType;
    return typeof fromSource === "string" ? fromSource : undefined;
  }

  /**
   * The records the operator of this stream emitted with `ctx.output(tag, value)` (Flink's
   * `SingleOutputStreamOperator.getSideOutput`, side outputs since Flink 1.3). Read at the
   * emitting operator's parallelism; exactly-once like the main output, chained or not.
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink, OutputTag } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-side" });
   * const odd = new OutputTag<number>("odd");
   * const evens = env.fromSource(new SequenceSource(0, 10)).keyBy((n) => n % 2).process<number>((n, ctx) => {
   *   if (n % 2 === 0) ctx.emit(n);
   *   else ctx.output(odd, n);
   * });
   * evens.sinkTo(new CollectSink<number>());
   * evens.getSideOutput(odd).sinkTo(new CollectSink<number>());
   * ```
   * @throws {WeirError} `invalid_option` when tag is not an OutputTag; `invalid_job` when
   *   this stream is a union or a source (no operator of its own emits side outputs)
   */
  getSideOutput<X>(tag: OutputTag<X>, options?: OperatorOptions): DataStream<X> {
    if (!(tag instanceof OutputTag)) throw invalidOption(`getSideOutput of "${this.transformation.name}"`, tag, "must be an OutputTag");
    const t = this.transformation;
    if (t.unionOf || t.source) throw new WeirError("invalid_job", `getSideOutput("${tag.name}"): "${t.name}" is a ${t.source ? "source" : "union"}; only an operator's stream has side outputs`);
    (t.sideOutputs ??= new Set()).add(tag.name);
    const out = this.builder.add(
      { kind: "sideOutput", createOperator: () => new SideOutputOperator(tag.name), input: { id: t.id, partitioning: "forward" }, code: `side:${tag.name}` },
      { parallelism: t.parallelism, ...options },
    );
    return new DataStream<X>(this.builder, out);
  }

  /**
   * This stream's records wrapped by `wrap` (connect()'s input envelopes), with the
   * partitioning set on this stream kept for the edge after the wrapping, where it matters:
   * `b.broadcast()` or `b.keyBy(k)` given to connect() still reach every subtask, or the one
   * of their key (`unwrap` gives a key selector the record back). The wrapping map runs at
   * this stream's parallelism, chained to its producer. For connect(); a job has map().
   *
   * @example
   * ```ts
   * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
   * const env = new StreamEnvironment({ jobName: "doc-wrapped" });
   * const rules = env.fromSource(new SequenceSource(0, 2)).broadcast();
   * // Still broadcast after the wrapping: every subtask of the next operator gets each rule.
   * rules.wrapped((n) => ({ rule: n }), (w) => w.rule, { name: "wrap" }).map((w) => w.rule, { parallelism: 2 }).sinkTo(new CollectSink<number>());
   * ```
   */
  wrapped<O>(wrap: (value: T) => O, unwrap: (wrapped: O) => T, options: OperatorOptions): DataStream<O> {
    const map = new DataStream<T>(this.builder, this.transformation).map(wrap, { ...options, parallelism: this.transformation.parallelism });
    const p = this.#partitioning;
    const kept: InputPartitioning | undefined = p === undefined || typeof p === "string" ? p : { keySelector: (o) => p.keySelector(unwrap(o as O)) };
    return new DataStream<O>(this.builder, map.transformation, kept);
  }

  /** Round-robin to the next operator's subtasks. */
  rebalance(): DataStream<T> {
    return new DataStream<T>(this.builder, this.transformation, "rebalance");
  }

  /**
   * Every record to every subtask of the next operator. Connected to a keyed stream
   * (`keyed.connect(rules.broadcast())`) it feeds broadcast state (Flink's `BroadcastStream`).
   */
  broadcast(): BroadcastStream<T> {
    return new BroadcastStream<T>(this.builder, this.transformation, "broadcast");
  }

  /** Subtask i to subtask i; parallelism must match. */
  forward(): DataStream<T> {
    return new DataStream<T>(this.builder, this.transformation, "forward");
  }

  /** Ends the stream in a sink. */
  sinkTo(sink: Sink<T>, options?: OperatorOptions): void {
    if (!sink || typeof (sink as Sink).createWriter !== "function") throw invalidOption("sinkTo sink", sink, "must be a Sink (with createWriter)");
    const t = this.builder.add(
      { kind: "sink", sink: sink as Sink, createOperator: () => new SinkOperator(sink as Sink), input: { id: this.transformation.id, partitioning: this.#partitioning }, code: codeOf(sink) },
      options,
    );
    void t;
  }
}

/** A stream whose records reach every subtask of the next operator (see {@link DataStream.broadcast}). */
export class BroadcastStream<T> extends DataStream<T> {
  /** Tells a broadcast stream from a plain one, for the type checker too. */
  readonly partitioning = "broadcast" as const;
}
