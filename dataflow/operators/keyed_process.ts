import type { ListState, MapState, StateOptions, ValueState } from "../../state/keyed_state.ts";
import { KeyedOperator } from "./base.ts";
import { type OutputTag, SideRecord, checkTag } from "../side_output.ts";

/** What a keyed process function sees for each record. */
export interface KeyedProcessContext<K, O> {
  /** The key of the current record. */
  readonly key: K;
  /** Emits a record downstream. */
  emit(value: O): void;
  /**
   * Emits a record to a side output, read with `stream.getSideOutput(tag)`; dropped when no
   * one reads that tag (as in Flink).
   * @throws {WeirError} `invalid_option` when tag is not an OutputTag
   */
  output<X>(tag: OutputTag<X>, value: X): void;
  /**
   * Keyed state, scoped to the current key, declared by name on first use. `{ ttl }` (ms of
   * processing time, Flink's StateTtlConfig) expires a value that long after its last write.
   * @throws {WeirError} `invalid_state_ttl` when ttl is not > 0; `state_ttl_mismatch`
   */
  valueState<T>(name: string, options?: StateOptions): ValueState<T>;
  listState<T>(name: string, options?: StateOptions): ListState<T>;
  mapState<MK, MV>(name: string, options?: StateOptions): MapState<MK, MV>;
}

/** A keyed process function; may be async. */
export type KeyedProcessFunction<T, K, O> = (value: T, ctx: KeyedProcessContext<K, O>) => void | Promise<void>;

/** process(fn) on a keyed stream, with ValueState, ListState and MapState per key. */
export class KeyedProcessOperator extends KeyedOperator {
  readonly #fn: KeyedProcessFunction<unknown, unknown, unknown>;
  #out: unknown[] = [];
  readonly #ctx: KeyedProcessContext<unknown, unknown>;

  /** `consumedTags` returns the side outputs someone reads; records to other tags are dropped. */
  constructor(keySelector: (value: unknown) => unknown, fn: KeyedProcessFunction<unknown, unknown, unknown>, consumedTags: () => Set<string> | undefined = () => undefined) {
    super(keySelector);
    this.#fn = fn;
    const currentKey = () => this.backend.currentKey;
    this.#ctx = {
      get key() {
        return currentKey();
      },
      emit: (v) => void this.#out.push(this.copy(v)),
      output: (tag, v) => {
        const name = checkTag(tag, "process").name;
        if (consumedTags()?.has(name)) this.#out.push(new SideRecord(name, this.copy(v)));
      },
      valueState: (name, options) => this.backend.valueState(name, options),
      listState: (name, options) => this.backend.listState(name, options),
      mapState: (name, options) => this.backend.mapState(name, options),
    };
  }

  processBatch(values: unknown[]): unknown[] | Promise<unknown[]> {
    const out: unknown[] = [];
    this.#out = out;
    for (let i = 0; i < values.length; i++) {
      this.backend.setCurrentKey(this.keySelector(values[i]));
      const r = this.#fn(values[i], this.#ctx);
      if (r instanceof Promise) return this.#rest(values, i, r, out);
    }
    return out;
  }

  async #rest(values: unknown[], i: number, first: Promise<void>, out: unknown[]): Promise<unknown[]> {
    await first;
    for (let j = i + 1; j < values.length; j++) {
      this.backend.setCurrentKey(this.keySelector(values[j]));
      this.#out = out;
      await this.#fn(values[j], this.#ctx);
    }
    return out;
  }
}
