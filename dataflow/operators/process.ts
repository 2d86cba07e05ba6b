import type { Batch } from "../../actors/messages.ts";
import { StatelessOperator, eachRecord } from "./base.ts";
import type { OutputTag } from "../side_output.ts";
import { ProcessOutput } from "./process_output.ts";

/** What a (non-keyed) process function sees for each record. */
export interface ProcessContext<O> {
  /** The current record's event-time timestamp (ms), or undefined when it has none. */
  readonly timestamp: number | undefined;
  /** Emits a record downstream, with the current record's timestamp. */
  emit(value: O): void;
  /**
   * Emits a record to a side output, read with `stream.getSideOutput(tag)`; dropped when no
   * one reads that tag (as in Flink).
   * @throws {WeirError} `invalid_option` when tag is not an OutputTag
   */
  output<X>(tag: OutputTag<X>, value: X): void;
}

/** A process function on a stream that is not keyed (Flink's `ProcessFunction`); may be async. */
export type ProcessFunction<T, O> = (value: T, ctx: ProcessContext<O>) => void | Promise<void>;

/**
 * process(fn) on a stream that is not keyed: any number of records out per record in, side
 * outputs, the record's timestamp. No keyed state and no timers: Flink allows neither
 * outside a keyed stream either.
 */
export class ProcessOperator extends StatelessOperator {
  /** Emitted records carry the current record's timestamp. */
  readonly timestamped = true;
  readonly #fn: ProcessFunction<unknown, unknown>;
  readonly #ctx: ProcessContext<unknown>;
  readonly #output: ProcessOutput;

  /** `consumedTags` returns the side outputs someone reads; records to other tags are dropped. */
  constructor(fn: ProcessFunction<unknown, unknown>, consumedTags: () => Set<string> | undefined = () => undefined) {
    super();
    this.#fn = fn;
    const output = (this.#output = new ProcessOutput((v) => this.copy(v), consumedTags));
    this.#ctx = {
      get timestamp() {
        return output.currentTimestamp;
      },
      emit: output.emit,
      output: output.output,
    };
  }

  processBatch(values: Batch): unknown[] | Promise<unknown[]> {
    const out = ProcessOutput.batchFor(values);
    const ts = values.timestamps;
    return eachRecord(values.length, (i) => {
      this.#output.at(out, ts, i);
      return this.#fn(values[i], this.#ctx);
    }, out);
  }
}
