/**
 * Where the records of a process function go, shared by the process operators
 * (`process`, keyed `process` with timers, keyed broadcast `process`).
 * @module
 */
import type { Batch } from "../../actors/messages.ts";
import { type OutputTag, SideRecord, checkTag } from "../side_output.ts";

/**
 * The batch being built for the current input record (or timer) and the timestamp its
 * emitted records carry; side-output records go into the same batch as {@link SideRecord}s,
 * dropped when no one reads their tag (as in Flink).
 *
 * @example
 * ```ts
 * import { ProcessOutput } from "./process_output.ts";
 * const values = Object.assign(["a", "b"], { timestamps: [10, 20] });
 * const output = new ProcessOutput((v) => v, () => undefined);
 * const out = ProcessOutput.batchFor(values);
 * output.at(out, values.timestamps, 1);
 * output.emit("B");
 * console.assert(out[0] === "B" && out.timestamps![0] === 20 && output.currentTimestamp === 20);
 * ```
 */
export class ProcessOutput {
  /** The batch emitted records go to. */
  batch: Batch = [];
  /** Event time of emitted records (ms); NaN: none. */
  timestamp = NaN;
  readonly #copy: (v: unknown) => unknown;
  readonly #consumedTags: () => Set<string> | undefined;

  /** `copy` makes an emitted value the operator's own; `consumedTags` names the side outputs someone reads. */
  constructor(copy: (v: unknown) => unknown, consumedTags: () => Set<string> | undefined) {
    this.#copy = copy;
    this.#consumedTags = consumedTags;
  }

  /** An empty output batch for the records of `values`: with timestamps when `values` carry them. */
  static batchFor(values: Batch): Batch {
    const out: Batch = [];
    if (values.timestamps !== undefined) out.timestamps = [];
    return out;
  }

  /** Records go to `out` now, with the timestamp of input record `i` (`ts`: the input's timestamps). */
  at(out: Batch, ts: number[] | undefined, i: number): void {
    this.batch = out;
    this.timestamp = ts === undefined ? NaN : ts[i];
  }

  /** The timestamp a context shows: undefined when there is none. */
  get currentTimestamp(): number | undefined {
    return Number.isNaN(this.timestamp) ? undefined : this.timestamp;
  }

  /** `ctx.emit`: a record downstream with the current timestamp. */
  readonly emit = (v: unknown): void => this.#push(this.#copy(v));

  /**
   * `ctx.output`: a record to the side output `tag`.
   * @throws {WeirError} `invalid_option` when tag is not an OutputTag
   */
  readonly output = <X>(tag: OutputTag<X>, v: X): void => {
    const name = checkTag(tag, "process").name;
    if (this.#consumedTags()?.has(name)) this.#push(new SideRecord(name, this.#copy(v)));
  };

  #push(v: unknown): void {
    const out = this.batch;
    if (out.timestamps !== undefined) out.timestamps.push(this.timestamp);
    out.push(v);
  }
}
