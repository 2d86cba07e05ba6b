/**
 * What a SQLite background writer's two threads share: the messages to its thread, and
 * the slots of the shared memory its thread reports in.
 * @module
 */

/** What the writer's thread starts with (its workerData). */
export interface WriterStart {
  path: string;
  /** Key groups of the file's rows are below this. */
  keyGroups: number;
  control: SharedArrayBuffer;
  failure: SharedArrayBuffer;
}

/** Messages to the writer's thread, in order. */
export type WriterMessage =
  /**
   * Batches back to back in one buffer, in order. An ArrayBuffer rather than typed arrays:
   * Deno's worker_threads walks the elements of every typed array in a message (a third of
   * the writer's time).
   */
  | { kind: "batches"; seq: number; buffer: ArrayBuffer }
  | { kind: "close"; seq: number };

/** Int32 slots of the control memory. */
export const WriterSlot = {
  /** The sequence number of the last message done. */
  Committed: 0,
  State: 1,
  /** Bumped (and notified) after every message: what a waiting thread sleeps on. */
  Events: 2,
  /** Bytes of the failure text. */
  FailureLength: 3,
} as const;

/** Values of the State slot. */
export const WriterState = {
  Starting: 0,
  Running: 1,
  /** A batch failed: later messages are ignored. */
  Failed: 2,
} as const;

/** Control slots, and the bytes of the failure text at most. */
export const CONTROL_SLOTS = 4;
export const FAILURE_BYTES = 2048;

/** Records why a batch failed, then the state (a reader sees the text once it sees Failed). */
export function reportFailure(control: Int32Array, failure: Uint8Array, message: string): void {
  const { written } = new TextEncoder().encodeInto(message, failure);
  Atomics.store(control, WriterSlot.FailureLength, written);
  Atomics.store(control, WriterSlot.State, WriterState.Failed);
}

/** The failure text, once the state is Failed. */
export function readFailure(control: Int32Array, failure: Uint8Array): string | undefined {
  if (Atomics.load(control, WriterSlot.State) !== WriterState.Failed) return undefined;
  // A copy: TextDecoder refuses views of shared memory.
  return new TextDecoder().decode(failure.slice(0, Atomics.load(control, WriterSlot.FailureLength)));
}
