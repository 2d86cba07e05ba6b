/**
 * What a SQLite background writer's two threads share: the messages to its thread, and
 * the slots of the shared memory its thread reports in.
 * @module
 */
import type { MessagePort } from "node:worker_threads";

/** What the writer's thread starts with (its workerData). */
export interface WriterStart {
  path: string;
  /** Key groups of the file's rows are below this. */
  keyGroups: number;
  control: SharedArrayBuffer;
  failure: SharedArrayBuffer;
  /** Where page images go (ImageMessage), read with receiveMessageOnPort: no event loop turn needed. */
  images: MessagePort;
  /**
   * Where the buffers of batches applied go back (an ArrayBuffer each, transferred), read the
   * same way, to carry the next batches: fresh memory cost the subtask's thread up to 8–16 ms
   * per 2 MB on a 2-core VM, its pages faulted in as it was filled.
   */
  spent: MessagePort;
  /**
   * The thread applies batches in a child process of its own (sqlite_writer_process.ts) and
   * only relays them (sqlite_writer_relay.ts); it copies page images itself.
   */
  process?: boolean;
}

/**
 * Frames between the writer's thread and its process (sqlite_writer_relay.ts,
 * sqlite_writer_process.ts), big-endian. To the process: `[u32 length][u32 seq]` and
 * `length` bytes of batches, or `[CLOSE_FRAME][u32 seq]` to close the connection. From it,
 * one per frame done in order: `[u32 seq][u32 text length]` and that many bytes of UTF-8
 * failure text (0: done). After a failure the process applies nothing more.
 */
export const FRAME_HEAD_BYTES = 8;
export const CLOSE_FRAME = 0xffffffff;

/**
 * A page image's bytes, from the writer's thread, posted before its result memory says
 * Finished. An ArrayBuffer, transferred: no copy, and its pages are already faulted in.
 */
export interface ImageMessage {
  seq: number;
  buffer: ArrayBuffer;
  /** checksumOf() each part of the bytes asked for (`partBytes`), in order. */
  partChecksums?: string[];
}

/** Messages to the writer's thread, in order. */
export type WriterMessage =
  /**
   * Batches back to back in the first `length` bytes of one buffer, in order (the buffer goes
   * back on `spent` once they are applied). An ArrayBuffer rather than typed arrays:
   * Deno's worker_threads walks the elements of every typed array in a message (a third of
   * the writer's time).
   */
  | { kind: "batches"; seq: number; buffer: ArrayBuffer; length: number }
  /** A page image of the file, posted on `images` (ImageMessage); the outcome goes to `result`. */
  | { kind: "image"; seq: number; result: SharedArrayBuffer; partBytes?: number }
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
  /**
   * 1 while the thread works on a message (from before its transaction begins until its
   * Committed is stored), else 0: a reader then holds no snapshot across the commit and
   * the WAL checkpoint after it (sqlite_held_read.ts).
   */
  Applying: 4,
  /**
   * The pid of the writer's process while it runs (WriterStart.process), else 0: terminate()
   * kills it, so that no batch still in its pipe is committed after the writer was ended
   * (the next backend of the same subtask may have a new file at the same path by then).
   */
  Process: 5,
} as const;

/** Values of the State slot. */
export const WriterState = {
  Starting: 0,
  Running: 1,
  /** A batch failed: later messages are ignored. */
  Failed: 2,
} as const;

/** Control slots, and the bytes of the failure text at most. */
export const CONTROL_SLOTS = 6;
export const FAILURE_BYTES = 2048;

/**
 * An image's result memory: an Int32 ownership state (ImageState) at byte 0, its rows
 * (Float64, -1 when it failed) at byte 8, the failure text's length (Float64) at byte 16
 * and its bytes from IMAGE_TEXT_OFFSET. The writer's thread fills them before it marks the
 * image finished.
 */
export const IMAGE_TEXT_OFFSET = 24;
export const IMAGE_RESULT_BYTES = IMAGE_TEXT_OFFSET + FAILURE_BYTES;

/**
 * Who owns an image: whichever side moves the state off Pending first. Finished: the
 * snapshot that asked for it (copied, or failed); Abandoned: the writer's thread, which
 * then skips it, so a released snapshot never waits for its image.
 */
export const ImageState = {
  Pending: 0,
  Finished: 1,
  Abandoned: 2,
} as const;

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

/**
 * Records an image's outcome in its result memory: rows, or why it failed; then marks it
 * finished. False when the snapshot abandoned it first.
 */
export function reportImage(result: SharedArrayBuffer, rows: number, failure?: string): boolean {
  const numbers = new Float64Array(result, 8, 2);
  if (failure !== undefined) numbers[1] = new TextEncoder().encodeInto(failure, new Uint8Array(result, IMAGE_TEXT_OFFSET)).written;
  numbers[0] = failure === undefined ? rows : -1;
  return Atomics.compareExchange(new Int32Array(result, 0, 1), 0, ImageState.Pending, ImageState.Finished) === ImageState.Pending;
}

/** An image's state (ImageState). */
export function imageState(result: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(result, 0, 1), 0);
}

/** Gives an image up, if it is still pending; true when it was (its file is the writer's now). */
export function abandonImage(result: SharedArrayBuffer): boolean {
  return Atomics.compareExchange(new Int32Array(result, 0, 1), 0, ImageState.Pending, ImageState.Abandoned) === ImageState.Pending;
}

/** A finished image's rows, or its failure text. */
export function readImage(result: SharedArrayBuffer): { rows: number } | { failure: string } {
  const numbers = new Float64Array(result, 8, 2);
  if (numbers[0] >= 0) return { rows: numbers[0] };
  // A copy: TextDecoder refuses views of shared memory.
  return { failure: new TextDecoder().decode(new Uint8Array(result, IMAGE_TEXT_OFFSET, numbers[1]).slice()) };
}
