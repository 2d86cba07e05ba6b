import type { Batch } from "../../actors/messages.ts";
import type { ListState, MapState, StateOptions, ValueState } from "../../state/keyed_state.ts";
import { BroadcastStateSnapshot, BroadcastStates } from "../../state/broadcast_state.ts";
import type { OperatorContext, RestoredState } from "../operator.ts";
import { KeyedOperator, eachRecord } from "./base.ts";
import type { OutputTag } from "../side_output.ts";
import { ProcessOutput } from "./process_output.ts";
import type { InputRecord } from "../connected_streams.ts";

/** What processElement sees: the key's state and the broadcast state, read-only. */
export interface KeyedReadOnlyBroadcastContext<K, O> {
  /** The key of the current record. */
  readonly key: K;
  /** The current record's event-time timestamp (ms), or undefined when it has none. */
  readonly timestamp: number | undefined;
  emit(value: O): void;
  output<X>(tag: OutputTag<X>, value: X): void;
  valueState<T>(name: string, options?: StateOptions): ValueState<T>;
  listState<T>(name: string, options?: StateOptions): ListState<T>;
  mapState<MK, MV>(name: string, options?: StateOptions): MapState<MK, MV>;
  /**
   * The broadcast map state `name`, read-only here.
   * @throws {WeirError} `invalid_state_access` on a write
   */
  broadcastState<MK, MV>(name: string): MapState<MK, MV>;
}

/** What processBroadcastElement sees: the broadcast state, writable; no key. */
export interface BroadcastContext<O> {
  readonly timestamp: number | undefined;
  emit(value: O): void;
  output<X>(tag: OutputTag<X>, value: X): void;
  /** The broadcast map state `name`; every subtask applies the same writes in the same order. */
  broadcastState<MK, MV>(name: string): MapState<MK, MV>;
}

/**
 * Flink's `KeyedBroadcastProcessFunction`: `processElement` per record of the keyed input,
 * `processBroadcastElement` per record of the broadcast input (run by every subtask). Both may be async.
 */
export interface KeyedBroadcastProcessFunction<T, B, K, O> {
  processElement(value: T, ctx: KeyedReadOnlyBroadcastContext<K, O>): void | Promise<void>;
  processBroadcastElement(value: B, ctx: BroadcastContext<O>): void | Promise<void>;
}

/**
 * The operator of `keyed.connect(stream.broadcast()).process(fn)`. Its input is a union of
 * {@link InputRecord}s: input 1 hash-partitioned by key, input 2 broadcast to every subtask.
 * Broadcast state is operator state, every subtask's copy equal (see state/broadcast_state.ts).
 */
export class KeyedBroadcastProcessOperator extends KeyedOperator {
  readonly timestamped = true;
  readonly #fn: KeyedBroadcastProcessFunction<unknown, unknown, unknown, unknown>;
  #broadcast!: BroadcastStates;
  readonly #output: ProcessOutput;
  readonly #keyed: KeyedReadOnlyBroadcastContext<unknown, unknown>;
  readonly #bcast: BroadcastContext<unknown>;

  constructor(
    keySelector: (value: unknown) => unknown,
    fn: KeyedBroadcastProcessFunction<unknown, unknown, unknown, unknown>,
    consumedTags: () => Set<string> | undefined = () => undefined,
  ) {
    // Only keyed records reach the key selector (see processBatch).
    super(keySelector);
    this.#fn = fn;
    const key = () => this.backend.currentKey;
    const output = (this.#output = new ProcessOutput((v) => this.copy(v), consumedTags));
    const timestamp = () => output.currentTimestamp;
    const emit = output.emit;
    this.#keyed = {
      get key() {
        return key();
      },
      get timestamp() {
        return timestamp();
      },
      emit,
      output: output.output,
      valueState: (name, options) => this.backend.valueState(name, options),
      listState: (name, options) => this.backend.listState(name, options),
      mapState: (name, options) => this.backend.mapState(name, options),
      broadcastState: (name) => this.#broadcast.readOnly(name),
    };
    this.#bcast = {
      get timestamp() {
        return timestamp();
      },
      emit,
      output: output.output,
      broadcastState: (name) => this.#broadcast.writable(name),
    };
  }

  override open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void> {
    this.#broadcast = new BroadcastStates(ctx.name);
    const copy = restored?.operator.find((e): e is BroadcastStateSnapshot => e instanceof BroadcastStateSnapshot);
    if (copy) this.#broadcast.restore(copy);
    return super.open(ctx, restored);
  }

  protected override operatorState(): unknown[] {
    return [this.#broadcast.snapshot()];
  }

  processBatch(values: Batch): unknown[] | Promise<unknown[]> {
    const out = ProcessOutput.batchFor(values);
    const ts = values.timestamps;
    return eachRecord(values.length, (i) => {
      const record = values[i] as InputRecord;
      this.#output.at(out, ts, i);
      if (record.input === 2) return this.#fn.processBroadcastElement(record.value, this.#bcast);
      this.backend.setCurrentKey(this.keySelector(record));
      return this.#fn.processElement(record.value, this.#keyed);
    }, out);
  }
}
