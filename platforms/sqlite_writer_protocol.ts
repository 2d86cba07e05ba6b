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
  /** A page image of the file to write to `path`; the outcome goes to `result` (ImageSlot). */
  | { kind: "image"; seq: number; path: string; result: SharedArrayBuffer }
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

/**
 * Float64 slots of an image's result memory, then the failure text's bytes from
 * IMAGE_TEXT_OFFSET: the writer's thread fills them before it counts the image done.
 */
export const ImageSlot = {
  /** Rows of the image's kv table, or -1 when it failed. */
  Rows: 0,
  /** Bytes of the failure text. */
  FailureLength: 1,
} as const;
export const IMAGE_TEXT_OFFSET = 16;
export const IMAGE_RESULT_BYTES = IMAGE_TEXT_OFFSET + FAILURE_BYTES;

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

/** Records an image's outcome in its result memory (ImageSlot): rows, or why it failed. */
export function reportImage(result: SharedArrayBuffer, rows: number, failure?: string): void {
  const slots = new Float64Array(result, 0, 2);
  if (failure !== undefined) {
    slots[ImageSlot.FailureLength] = new TextEncoder().encodeInto(failure, new Uint8Array(result, IMAGE_TEXT_OFFSET)).written;
  }
  slots[ImageSlot.Rows] = failure === undefined ? rows : -1;
}

/** An image's rows, or its failure text (ImageSlot), once the writer counted it done. */
export function readImage(result: SharedArrayBuffer): { rows: number } | { failure: string } {
  const slots = new Float64Array(result, 0, 2);
  if (slots[ImageSlot.Rows] >= 0) return { rows: slots[ImageSlot.Rows] };
  // A copy: TextDecoder refuses views of shared memory.
  return { failure: new TextDecoder().decode(new Uint8Array(result, IMAGE_TEXT_OFFSET, slots[ImageSlot.FailureLength]).slice()) };
}
