/**
 * A sink for benchmarks: it only counts what reaches it. Keeping millions of records
 * (as CollectSink does) would measure the garbage collector, not weir. It is not
 * exactly-once and snapshots nothing; a benchmark does not restart.
 * @module
 */
import type { OperatorContext, OperatorSnapshot, Sink, SinkWriter } from "../mod.ts";

/**
 * Counts records and keeps the last one, so that a benchmark can check its result and
 * the JIT cannot drop the work as dead.
 *
 * @example
 * ```ts
 * import { CountingSink } from "./counting_sink.ts";
 * const sink = new CountingSink();
 * console.assert(sink.count === 0);
 * ```
 */
export class CountingSink implements Sink {
  /** Records written by every subtask together. */
  count = 0;
  /** The last record written, for a sanity check. */
  last: unknown = undefined;

  createWriter(_ctx: OperatorContext): SinkWriter {
    return new CountingWriter(this);
  }
}

class CountingWriter implements SinkWriter {
  readonly #sink: CountingSink;
  constructor(sink: CountingSink) {
    this.#sink = sink;
  }
  open(): void {}
  write(values: unknown[]): void {
    this.#sink.count += values.length;
    this.#sink.last = values[values.length - 1];
  }
  snapshotState(): OperatorSnapshot {
    return {};
  }
  notifyCheckpointComplete(): void {}
}
