/**
 * `a.keyBy(k1).connect(b.keyBy(k2))` with a two-input keyed process (Flink's
 * `ConnectedStreams` and `KeyedCoProcessFunction`). Each record carries the input it came
 * from as an {@link InputRecord}; both inputs are partitioned by their key, so a key's
 * records of either input meet in one subtask and share its keyed state.
 * @module
 */
import { registerType } from "../codec/type_registry.ts";
import { WeirError } from "../errors.ts";
import type { DataStream } from "./data_stream.ts";
import type { KeyedStream } from "./keyed_stream.ts";
import type { KeyedProcessContext, OnTimerContext } from "./operators/keyed_process.ts";
import type { ProcessContext } from "./operators/process.ts";
import type { OperatorOptions, Transformation } from "./transformation.ts";
import { type KeyedBroadcastProcessFunction, KeyedBroadcastProcessOperator } from "./operators/keyed_broadcast_process.ts";

/** A record of a connected stream and the input (1 or 2) it came from. */
export class InputRecord {
  readonly input: 1 | 2;
  readonly value: unknown;
  constructor(input: 1 | 2, value: unknown) {
    this.input = input;
    this.value = value;
  }
}

registerType(InputRecord, {
  encode: (r) => [r.input, r.value],
  decode: (d) => new InputRecord((d as [1 | 2, unknown])[0], (d as [1 | 2, unknown])[1]),
});

/**
 * The two-input keyed process function (Flink's `KeyedCoProcessFunction`); methods may be
 * async. Timers registered from either input call `onTimer` once per key, domain and
 * timestamp, as in a keyed `process`.
 */
export interface KeyedCoProcessFunction<A, B, K, O> {
  processElement1(value: A, ctx: KeyedProcessContext<K, O>): void | Promise<void>;
  processElement2(value: B, ctx: KeyedProcessContext<K, O>): void | Promise<void>;
  onTimer?(timestamp: number, ctx: OnTimerContext<K, O>): void | Promise<void>;
}

/**
 * Two keyed streams connected; `process` runs a {@link KeyedCoProcessFunction} per key.
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc-connect" });
 * const a = env.fromSource(new SequenceSource(0, 10)).keyBy((n) => n % 3);
 * const b = env.fromSource(new SequenceSource(0, 10)).map((n) => `b${n}`).keyBy((s) => Number(s.slice(1)) % 3);
 * a.connect(b).process<string>({
 *   processElement1: (n, ctx) => ctx.valueState<number>("last-a").update(n),
 *   processElement2: (s, ctx) => ctx.emit(`${s} after a=${ctx.valueState<number>("last-a").value()}`),
 * }).sinkTo(new CollectSink<string>());
 * ```
 */
export class ConnectedStreams<A, B, K> {
  readonly #a: KeyedStream<A, K>;
  readonly #b: KeyedStream<B, K>;
  readonly #ka: (v: A) => K;
  readonly #kb: (v: B) => K;

  constructor(a: KeyedStream<A, K>, b: KeyedStream<B, K>, ka: (v: A) => K, kb: (v: B) => K) {
    this.#a = a;
    this.#b = b;
    this.#ka = ka;
    this.#kb = kb;
  }

  /**
   * Runs fn per record of either input with keyed state shared by both inputs' records of a key.
   * @throws {WeirError} `invalid_option` when fn lacks processElement1 or processElement2
   */
  process<O>(fn: KeyedCoProcessFunction<A, B, K, O>, options?: OperatorOptions): DataStream<O> {
    if (!fn || typeof fn.processElement1 !== "function" || typeof fn.processElement2 !== "function") {
      throw new WeirError("invalid_option", `connect().process${options?.uid ? ` ("${options.uid}")` : ""} needs an object with processElement1 and processElement2, got ${String(fn)}`);
    }
    if (fn.onTimer !== undefined && typeof fn.onTimer !== "function") throw new WeirError("invalid_option", `connect().process${options?.uid ? ` ("${options.uid}")` : ""} onTimer must be a function, got ${String(fn.onTimer)}`);
    const base = options?.uid;
    const ka = this.#ka;
    const kb = this.#kb;
    // The union is partitioned by key after; the maps stay as they were, so that the uids
    // generated from the graph (and savepoints of jobs without uids) stay too.
    const one = this.#a.map((v) => new InputRecord(1, v), { uid: base ? `${base}.in1` : undefined, name: "connect-input-1" });
    const two = this.#b.map((v) => new InputRecord(2, v), { uid: base ? `${base}.in2` : undefined, name: "connect-input-2" });
    return one.union(two as DataStream<InputRecord>)
      .keyBy((r) => (r.input === 1 ? ka(r.value as A) : kb(r.value as B)))
      .process<O>({
        processElement: (r, ctx) => (r.input === 1 ? fn.processElement1(r.value as A, ctx as KeyedProcessContext<K, O>) : fn.processElement2(r.value as B, ctx as KeyedProcessContext<K, O>)),
        onTimer: fn.onTimer && ((timestamp, ctx) => fn.onTimer!(timestamp, ctx as OnTimerContext<K, O>)),
      }, options);
  }
}

/** The two-input process function on streams that are not keyed (Flink's `CoProcessFunction`); methods may be async. */
export interface CoProcessFunction<A, B, O> {
  processElement1(value: A, ctx: ProcessContext<O>): void | Promise<void>;
  processElement2(value: B, ctx: ProcessContext<O>): void | Promise<void>;
}

/**
 * Two streams connected (Flink's `ConnectedStreams` of streams that are not keyed);
 * `process` runs a {@link CoProcessFunction}, with the records of each input in the order
 * that input sent them. Records carry their input as {@link InputRecord} envelopes through
 * a union, so no two-input vertex is needed.
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc-co-process" });
 * const numbers = env.fromSource(new SequenceSource(0, 10));
 * const words = env.fromSource(new SequenceSource(0, 3)).map((n) => `w${n}`);
 * numbers.connect(words).process<string>({
 *   processElement1: (n, ctx) => ctx.emit(`number ${n}`),
 *   processElement2: (w, ctx) => ctx.emit(`word ${w}`),
 * }).sinkTo(new CollectSink<string>());
 * ```
 */
export class CoConnectedStreams<A, B> {
  readonly #a: DataStream<A>;
  readonly #b: DataStream<B>;

  constructor(a: DataStream<A>, b: DataStream<B>) {
    this.#a = a;
    this.#b = b;
  }

  /**
   * Runs fn's processElement1 per record of the first input and processElement2 per record of the second.
   * @throws {WeirError} `invalid_option` when fn lacks processElement1 or processElement2
   */
  process<O>(fn: CoProcessFunction<A, B, O>, options?: OperatorOptions): DataStream<O> {
    if (!fn || typeof fn.processElement1 !== "function" || typeof fn.processElement2 !== "function") {
      throw new WeirError("invalid_option", `connect().process${options?.uid ? ` ("${options.uid}")` : ""} needs an object with processElement1 and processElement2, got ${String(fn)}`);
    }
    const base = options?.uid;
    // Each input keeps its partitioning (b.broadcast(), b.keyBy(k), b.rebalance()) up to the
    // process: a map in between would take it and leave the process a default edge.
    const one = this.#a.wrapped((v) => new InputRecord(1, v), (r) => r.value as A, { uid: base ? `${base}.in1` : undefined, name: "connect-input-1" });
    const two = this.#b.wrapped((v) => new InputRecord(2, v), (r) => r.value as B, { uid: base ? `${base}.in2` : undefined, name: "connect-input-2" });
    return one.union(two as DataStream<InputRecord>)
      .process<O>((r, ctx) => (r.input === 1 ? fn.processElement1(r.value as A, ctx) : fn.processElement2(r.value as B, ctx)), options);
  }
}

/**
 * A keyed stream connected with a broadcast stream (Flink's `BroadcastConnectedStream`, the
 * broadcast state pattern): `process` runs a {@link KeyedBroadcastProcessFunction}. Keyed
 * records go by key to one subtask and see their key's state and the broadcast state
 * (read-only); broadcast records reach every subtask and may write the broadcast state,
 * which is checkpointed with the operator and given to every subtask on restore, at any
 * parallelism.
 *
 * @example
 * ```ts
 * import { StreamEnvironment, SequenceSource, CollectSink } from "../mod.ts";
 * const env = new StreamEnvironment({ jobName: "doc-broadcast" });
 * const rules = env.fromSource(new SequenceSource(1, 3)).broadcast();
 * env.fromSource(new SequenceSource(0, 10)).keyBy((n) => n % 2).connect(rules).process<string>({
 *   processBroadcastElement: (factor, ctx) => ctx.broadcastState<string, number>("factor").put("current", factor),
 *   processElement: (n, ctx) => ctx.emit(`${n} x ${ctx.broadcastState<string, number>("factor").get("current") ?? 1}`),
 * }).sinkTo(new CollectSink<string>());
 * ```
 */
export class BroadcastConnectedStreams<A, B, K> {
  readonly #a: KeyedStream<A, K>;
  readonly #b: DataStream<B>;
  readonly #ka: (v: A) => K;

  constructor(a: KeyedStream<A, K>, b: DataStream<B>, ka: (v: A) => K) {
    this.#a = a;
    this.#b = b;
    this.#ka = ka;
  }

  /**
   * Runs fn: processElement per keyed record, processBroadcastElement per broadcast record in every subtask.
   * @throws {WeirError} `invalid_option` when fn lacks processElement or processBroadcastElement
   */
  process<O>(fn: KeyedBroadcastProcessFunction<A, B, K, O>, options?: OperatorOptions): DataStream<O> {
    if (!fn || typeof fn.processElement !== "function" || typeof fn.processBroadcastElement !== "function") {
      throw new WeirError("invalid_option", `connect(broadcast).process${options?.uid ? ` ("${options.uid}")` : ""} needs an object with processElement and processBroadcastElement, got ${String(fn)}`);
    }
    const base = options?.uid;
    const ka = this.#ka;
    const byKey = (r: InputRecord) => ka(r.value as A);
    const one = this.#a.map((v) => new InputRecord(1, v), { uid: base ? `${base}.in1` : undefined, name: "connect-input-1" }).keyBy(byKey);
    const two = this.#b.map((v) => new InputRecord(2, v), { uid: base ? `${base}.in2` : undefined, name: "connect-input-2" }).broadcast();
    // The operator learns which side outputs are read when the job is built, after this call.
    const self: { t?: Transformation } = {};
    const f = fn as KeyedBroadcastProcessFunction<unknown, unknown, unknown, unknown>;
    const out = one.union(two as DataStream<InputRecord>).transform<O>(
      "broadcastProcess",
      () => new KeyedBroadcastProcessOperator(byKey as (v: unknown) => unknown, f, () => self.t?.sideOutputs),
      options,
      `${fn.processElement}${fn.processBroadcastElement}`,
    );
    self.t = out.transformation;
    return out;
  }
}
