import type { OperatorContext, OperatorSnapshot, RestoredState, SinkWriter, StreamOperator } from "../operator.ts";
import type { Sink } from "../operator.ts";
import { EMPTY } from "./base.ts";

/** Wraps a sink's writer as the last operator of a chain. */
export class SinkOperator implements StreamOperator {
  /** A sink writes values; their timestamps end here (and whole batches reach the writer). */
  readonly timestamped = true;
  readonly #sink: Sink;
  #writer!: SinkWriter;
  constructor(sink: Sink) {
    this.#sink = sink;
  }
  open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void> {
    this.#writer = this.#sink.createWriter(ctx);
    return this.#writer.open(ctx, restored);
  }
  processBatch(values: unknown[]): unknown[] | Promise<unknown[]> {
    const r = this.#writer.write(values);
    return r instanceof Promise ? r.then(() => EMPTY) : EMPTY;
  }
  snapshotState(checkpointId: number): OperatorSnapshot {
    return this.#writer.snapshotState(checkpointId);
  }
  preCommitted(checkpointId: number): void | Promise<void> {
    return this.#writer.preCommitted?.(checkpointId);
  }
  notifyCheckpointComplete(checkpointId: number): void | Promise<void> {
    return this.#writer.notifyCheckpointComplete(checkpointId);
  }
  notifyCheckpointAborted(checkpointId: number): void {
    this.#writer.notifyCheckpointAborted?.(checkpointId);
  }
  finish(): unknown[] | Promise<unknown[]> {
    const r = this.#writer.finish?.();
    return r instanceof Promise ? r.then(() => EMPTY) : EMPTY;
  }
  close(): void {
    this.#writer?.close?.();
  }
}
