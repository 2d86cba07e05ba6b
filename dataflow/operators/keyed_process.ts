import type { Batch } from "../../actors/messages.ts";
import type { ListState, MapState, StateOptions, ValueState } from "../../state/keyed_state.ts";
import { WeirError } from "../../errors.ts";
import { TimedKeyedOperator } from "./timed_keyed.ts";
import { eachRecord } from "./base.ts";
import type { OutputTag } from "../side_output.ts";
import { ProcessOutput } from "./process_output.ts";
import type { TimeDomain, TimerService } from "../timer_service.ts";

export type { TimeDomain, TimerService };

/** What a keyed process function sees for each record. */
export interface KeyedProcessContext<K, O> {
  /** The key of the current record. */
  readonly key: K;
  /** The current record's event-time timestamp (ms), or undefined when it has none. In onTimer: the timer's. */
  readonly timestamp: number | undefined;
  /** Timers of the current key and the operator's clocks (Flink's `TimerService`). */
  readonly timerService: TimerService;
  /** Emits a record downstream (with the current record's timestamp). */
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

/** What onTimer sees: the process context and which clock fired. */
export interface OnTimerContext<K, O> extends KeyedProcessContext<K, O> {
  readonly timeDomain: TimeDomain;
}

/** A keyed process function; may be async. */
export type KeyedProcessFunction<T, K, O> = (value: T, ctx: KeyedProcessContext<K, O>) => void | Promise<void>;

/**
 * Flink's `KeyedProcessFunction` as an object: `processElement` per record, `onTimer` when
 * a timer of the key fires (once per key, domain and timestamp). Both may be async.
 */
export interface KeyedProcessFunctionObject<T, K, O> {
  processElement(value: T, ctx: KeyedProcessContext<K, O>): void | Promise<void>;
  onTimer?(timestamp: number, ctx: OnTimerContext<K, O>): void | Promise<void>;
}

/** process(fn) on a keyed stream: keyed ValueState, ListState and MapState, timers. */
export class KeyedProcessOperator extends TimedKeyedOperator {
  /** Emitted records carry the current record's (or timer's) timestamp. */
  readonly timestamped = true;
  readonly #fn: KeyedProcessFunction<unknown, unknown, unknown>;
  readonly #onTimer: ((timestamp: number, ctx: OnTimerContext<unknown, unknown>) => void | Promise<void>) | undefined;
  readonly #output: ProcessOutput;
  #domain: TimeDomain = "event";
  readonly #ctx: OnTimerContext<unknown, unknown>;

  /** `consumedTags` returns the side outputs someone reads; records to other tags are dropped. */
  constructor(
    keySelector: (value: unknown) => unknown,
    fn: KeyedProcessFunction<unknown, unknown, unknown> | KeyedProcessFunctionObject<unknown, unknown, unknown>,
    consumedTags: () => Set<string> | undefined = () => undefined,
  ) {
    super(keySelector);
    if (typeof fn === "function") this.#fn = fn;
    else {
      this.#fn = (v, ctx) => fn.processElement(v, ctx);
      this.#onTimer = fn.onTimer ? (ts, ctx) => fn.onTimer!(ts, ctx) : undefined;
    }
    const key = () => this.backend.currentKey;
    const output = (this.#output = new ProcessOutput((v) => this.copy(v), consumedTags));
    const timerService = () => this.timers.forKey;
    const domain = () => this.#domain;
    this.#ctx = {
      get key() {
        return key();
      },
      get timestamp() {
        return output.currentTimestamp;
      },
      get timerService() {
        return timerService();
      },
      get timeDomain() {
        return domain();
      },
      emit: output.emit,
      output: output.output,
      valueState: (name, options) => this.backend.valueState(name, options),
      listState: (name, options) => this.backend.listState(name, options),
      mapState: (name, options) => this.backend.mapState(name, options),
    };
  }

  processBatch(values: Batch): unknown[] | Promise<unknown[]> {
    const out = ProcessOutput.batchFor(values);
    const ts = values.timestamps;
    return eachRecord(values.length, (i) => {
      this.backend.setCurrentKey(this.keySelector(values[i]));
      this.#output.at(out, ts, i);
      return this.#fn(values[i], this.#ctx);
    }, out);
  }

  processWatermark(watermark: number): unknown[] | Promise<unknown[]> {
    this.timers.advanceWatermark(watermark);
    return this.#fire("event", watermark);
  }

  nextProcessingTime(): number {
    return this.timers.nextProcessingTime();
  }

  onProcessingTime(now: number): unknown[] | Promise<unknown[]> {
    return this.#fire("processing", now);
  }

  /** Fires the due timers of a domain, and those they register that are due already. */
  #fire(domain: TimeDomain, upTo: number): unknown[] | Promise<unknown[]> {
    const out: Batch = [];
    out.timestamps = [];
    const loop = (): unknown[] | Promise<unknown[]> => {
      for (let due = this.timers.takeDue(domain, upTo); due.length > 0; due = this.timers.takeDue(domain, upTo)) {
        for (let k = 0; k < due.length; k++) {
          const r = this.#fireOne(domain, due[k].key, due[k].timestamp, out);
          if (r instanceof Promise) return r.then(() => this.#fireAsync(domain, due.slice(k + 1), out)).then(loop);
        }
      }
      return out;
    };
    return loop();
  }

  async #fireAsync(domain: TimeDomain, due: { key: unknown; timestamp: number }[], out: Batch): Promise<void> {
    for (const t of due) await this.#fireOne(domain, t.key, t.timestamp, out);
  }

  #fireOne(domain: TimeDomain, key: unknown, timestamp: number, out: Batch): void | Promise<void> {
    if (!this.#onTimer) {
      throw new WeirError("invalid_job", `A timer fired in a process function without onTimer (key ${JSON.stringify(key) ?? String(key)}, ${domain} time ${timestamp}); pass { processElement, onTimer }`);
    }
    this.backend.setCurrentKey(key);
    this.#domain = domain;
    // Flink: an event-time timer's output carries the timer's timestamp; a processing-time one's none.
    this.#output.batch = out;
    this.#output.timestamp = domain === "event" ? timestamp : NaN;
    return this.#onTimer(timestamp, this.#ctx);
  }
}
