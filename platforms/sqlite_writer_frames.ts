/**
 * What a SQLite background writer's thread and its process share: reading the frames of
 * the pipe between them (sqlite_writer_protocol.ts) and opening the writer's connection.
 * @module
 */
import type { SqliteDatabase, SqliteDriver } from "../state/sqlite_driver.ts";
import { FRAME_HEAD_BYTES } from "./sqlite_writer_protocol.ts";

/** Opens the writer's own connection to the working file, with its settings. */
export function openWriterConnection(driver: SqliteDriver, path: string): SqliteDatabase {
  const d = driver.open(path);
  // Per connection: the file's own connection sets WAL mode, which every connection shares.
  d.exec("PRAGMA synchronous = OFF; PRAGMA cache_size = -65536; PRAGMA busy_timeout = 10000;");
  return d;
}

/** A frame's head: `first` and `second` as two big-endian u32 (its body follows it on the pipe). */
export function frameHead(first: number, second: number): Uint8Array {
  const head = new Uint8Array(FRAME_HEAD_BYTES);
  const view = new DataView(head.buffer);
  view.setUint32(0, first);
  view.setUint32(4, second);
  return head;
}

/** The reader's first buffer, bytes (it doubles as a frame needs). */
const FIRST_BYTES = 64 * 1024;

/**
 * Frames out of a byte stream's chunks, however the stream cut them: a head of two u32
 * (big-endian) and a body of `bodyLength(first, second)` bytes, handed to `onFrame` in
 * order. A body is a view of the reader's buffer, valid during `onFrame` only. Each byte is
 * copied once into a buffer that grows by doubling (a 2 MB batch arrives in 64 KiB chunks).
 *
 * @example
 * ```ts
 * import { FrameReader } from "./sqlite_writer_frames.ts";
 * const got: string[] = [];
 * const r = new FrameReader((a, b, body) => got.push(`${a}/${b}/${body.join(",")}`), (a) => a);
 * r.push(Uint8Array.of(0, 0, 0, 2, 0, 0));
 * r.push(Uint8Array.of(0, 7, 9, 8, 0, 0, 0, 0));
 * r.push(Uint8Array.of(0, 0, 0, 1));
 * console.assert(got.join(" ") === "2/7/9,8 0/1/");
 * ```
 */
export class FrameReader {
  readonly #onFrame: (first: number, second: number, body: Uint8Array) => void;
  readonly #bodyLength: (first: number, second: number) => number;
  #buffer = new Uint8Array(FIRST_BYTES);
  #view = new DataView(this.#buffer.buffer);
  /** Bytes of #buffer received and not yet made frames: [#start, #end). */
  #start = 0;
  #end = 0;

  constructor(onFrame: (first: number, second: number, body: Uint8Array) => void, bodyLength: (first: number, second: number) => number) {
    this.#onFrame = onFrame;
    this.#bodyLength = bodyLength;
  }

  /** Takes a chunk of the stream and hands out every frame it completes. */
  push(chunk: Uint8Array): void {
    this.#append(chunk);
    while (this.#end - this.#start >= FRAME_HEAD_BYTES) {
      const first = this.#view.getUint32(this.#start);
      const second = this.#view.getUint32(this.#start + 4);
      const at = this.#start + FRAME_HEAD_BYTES;
      const end = at + this.#bodyLength(first, second);
      if (end > this.#end) break;
      this.#start = end;
      this.#onFrame(first, second, this.#buffer.subarray(at, end));
    }
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Copies `chunk` behind the bytes held, moving them to the front or doubling the buffer first if it must. */
  #append(chunk: Uint8Array): void {
    if (this.#end + chunk.length > this.#buffer.length) {
      const held = this.#end - this.#start;
      let size = this.#buffer.length;
      while (held + chunk.length > size) size *= 2;
      if (size === this.#buffer.length) this.#buffer.copyWithin(0, this.#start, this.#end);
      else {
        const next = new Uint8Array(size);
        next.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = next;
        this.#view = new DataView(next.buffer);
      }
      this.#start = 0;
      this.#end = held;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }
}
