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

/**
 * Frames out of a byte stream's chunks, however the stream cut them: a head of two u32
 * (big-endian) and a body of `bodyLength(first, second)` bytes, handed to `onFrame` in
 * order. A body is a view of the chunk: valid during `onFrame` only.
 *
 * @example
 * ```ts
 * import { FrameReader } from "./sqlite_writer_frames.ts";
 * const got: string[] = [];
 * const r = new FrameReader((a, b, body) => got.push(`${a}/${b}/${body?.join(",")}`), (a) => a);
 * r.push(Uint8Array.of(0, 0, 0, 2, 0, 0));
 * r.push(Uint8Array.of(0, 7, 9, 8, 0, 0, 0, 0));
 * r.push(Uint8Array.of(0, 0, 0, 1));
 * console.assert(got.join(" ") === "2/7/9,8 0/1/");
 * ```
 */
export class FrameReader {
  readonly #onFrame: (first: number, second: number, body: Uint8Array | undefined) => void;
  readonly #bodyLength: (first: number, second: number) => number;
  /** Bytes received and not yet made frames. */
  #held = new Uint8Array(0);

  constructor(onFrame: (first: number, second: number, body: Uint8Array | undefined) => void, bodyLength: (first: number, second: number) => number) {
    this.#onFrame = onFrame;
    this.#bodyLength = bodyLength;
  }

  /** Takes a chunk of the stream and hands out every frame it completes. */
  push(chunk: Uint8Array): void {
    let bytes = chunk;
    if (this.#held.length > 0) {
      bytes = new Uint8Array(this.#held.length + chunk.length);
      bytes.set(this.#held);
      bytes.set(chunk, this.#held.length);
    }
    let at = 0;
    while (bytes.length - at >= FRAME_HEAD_BYTES) {
      const head = new DataView(bytes.buffer, bytes.byteOffset + at, FRAME_HEAD_BYTES);
      const first = head.getUint32(0);
      const second = head.getUint32(4);
      const length = this.#bodyLength(first, second);
      if (bytes.length - at - FRAME_HEAD_BYTES < length) break;
      const body = length > 0 ? bytes.subarray(at + FRAME_HEAD_BYTES, at + FRAME_HEAD_BYTES + length) : undefined;
      at += FRAME_HEAD_BYTES + length;
      this.#onFrame(first, second, body);
    }
    // A copy: a body handed out before is a view of this memory.
    this.#held = bytes.slice(at);
  }
}
