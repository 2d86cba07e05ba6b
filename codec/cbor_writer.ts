/**
 * A CBOR writer into a list of chunks, for large states written entry by entry (heap
 * keyed state at a million keys): numbers, strings, booleans, null and undefined are
 * written here directly, any other value through encodeBody() (cbor-x, with its checks).
 * What it writes is plain CBOR (RFC 8949) that decode() reads back as the same values;
 * it is not always byte-for-byte what cbor-x would write (a non-integer is always a
 * float64, where cbor-x may pick a float32), which no reader depends on.
 * @module
 */
import { WeirError } from "../errors.ts";
import { FORMAT_VERSION, encodeBody } from "./cbor.ts";
import { writeHead } from "./cbor_head.ts";
import type { ChunkPool } from "./chunk_pool.ts";

/** A chunk grows to this size at most: a writer never copies what it wrote to grow. */
export const CBOR_CHUNK_BYTES_MAX = 1 << 20;

/**
 * Appends CBOR items into chunks of at most {@link CBOR_CHUNK_BYTES_MAX} bytes (one larger
 * item gets a chunk of its own size); `bytes()` returns them joined behind the format
 * version byte, as encode() would have written the whole value, and `takeParts()` hands
 * the chunks over without joining them. Chunks rather than one doubling buffer: at 10 MB a
 * doubling copied 8 MB into a fresh 16 MB buffer in one step, a 15–60 ms pause of the
 * subtask's records at a million keys.
 *
 * @example
 * ```ts
 * import { CborWriter } from "./cbor_writer.ts";
 * import { decode } from "./cbor.ts";
 * const w = new CborWriter();
 * w.head(4, 3);
 * w.value(1.5);
 * w.value("key");
 * w.value({ a: [1] });
 * const [x, k, o] = decode<[number, string, { a: number[] }]>(w.bytes());
 * console.assert(x === 1.5 && k === "key" && o.a[0] === 1);
 * ```
 */
export class CborWriter {
  #buf: Uint8Array;
  #view: DataView;
  #at = 1;
  /** Full chunks before the current one, each cut to what was written into it. */
  #chunks: Uint8Array[] = [];
  /** Bytes in #chunks. */
  #chunked = 0;
  readonly #what: string;
  readonly #pool: ChunkPool | undefined;

  /**
   * `what` names the data in errors; `capacity` is the first chunk's size in bytes. Without
   * `versionByte` the items start at once: a part of a file that has its version byte
   * elsewhere (heap snapshot entries encoded as they are collected). With `pool`, chunks
   * come from it (sizes rounded up to its own).
   */
  constructor(what = "value", capacity = 1 << 16, versionByte = true, pool?: ChunkPool) {
    this.#what = what;
    this.#pool = pool;
    const first = Math.max(16, Math.min(capacity, CBOR_CHUNK_BYTES_MAX));
    this.#buf = pool ? pool.take(first) : new Uint8Array(first);
    this.#view = new DataView(this.#buf.buffer);
    if (versionByte) this.#buf[0] = FORMAT_VERSION;
    else this.#at = 0;
  }

  /** Bytes written so far, the version byte (if any) included. */
  get length(): number {
    return this.#chunked + this.#at;
  }

  /** Room for n more bytes in the current chunk: a new chunk (twice the last, up to the cap) when full. */
  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    if (this.#at > 0) {
      this.#chunks.push(this.#buf.subarray(0, this.#at));
      this.#chunked += this.#at;
    }
    const cap = this.#pool ? Math.min(CBOR_CHUNK_BYTES_MAX, this.#pool.maxChunkBytes) : CBOR_CHUNK_BYTES_MAX;
    const size = Math.max(n, Math.min(cap, Math.max(16, this.#buf.length * 2)));
    const next = this.#pool ? this.#pool.take(size) : new Uint8Array(size);
    this.#buf = next;
    this.#view = new DataView(next.buffer);
    this.#at = 0;
  }

  /** The head of an item of major type `major` (4 array, 5 map…) with argument `n` (0 ≤ n < 2^32). */
  head(major: number, n: number): void {
    if (!(n >= 0 && n <= 0xffffffff)) throw new WeirError("value_not_persistable", `Cannot persist ${this.#what}: a CBOR item of ${n} parts or bytes`);
    this.#room(5);
    this.#at = writeHead(this.#buf, this.#at, major, n);
  }

  /**
   * A `[key, value]` pair, the bytes head(4, 2) and value() twice write; two integers in
   * 0 … 2^32 - 1 (the keys and counts of a rolling count) are written inline, which halves
   * the cost of encoding a heap snapshot of such pairs.
   * @throws {WeirError} `value_not_persistable` as value() does
   */
  pair(k: unknown, v: unknown): void {
    if (typeof k === "number" && typeof v === "number" && k >>> 0 === k && v >>> 0 === v && (k !== 0 || 1 / k > 0) && (v !== 0 || 1 / v > 0)) {
      this.#room(11);
      const b = this.#buf;
      b[this.#at++] = 0x82;
      this.#at = writeHead(b, this.#at, 0, k);
      this.#at = writeHead(b, this.#at, 0, v);
      return;
    }
    this.head(4, 2);
    this.value(k);
    this.value(v);
  }

  /**
   * Bytes of whole items (encoded elsewhere) as the next ones, kept as a chunk of their own,
   * not copied: the caller must not change them afterwards.
   */
  chunk(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#at > 0) {
      this.#chunks.push(this.#buf.subarray(0, this.#at));
      this.#chunked += this.#at;
    }
    this.#chunks.push(bytes);
    this.#chunked += bytes.length;
    // Writing goes on in a new chunk; the rest of the current one stays unused.
    const size = Math.max(16, Math.min(this.#buf.length, 1 << 16));
    this.#buf = this.#pool ? this.#pool.take(size) : new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
    this.#at = 0;
  }

  /** Encoded bytes (an encodeBody() result) as the next item. */
  raw(body: Uint8Array): void {
    this.#room(body.length);
    this.#buf.set(body, this.#at);
    this.#at += body.length;
  }

  /**
   * One value.
   * @throws {WeirError} `value_not_persistable` (from encodeBody) for a value that would not
   *   read back as itself
   */
  value(v: unknown): void {
    switch (typeof v) {
      case "number":
        return this.#number(v);
      case "string":
        return this.#string(v);
      case "boolean":
        this.#room(1);
        this.#buf[this.#at++] = v ? 0xf5 : 0xf4;
        return;
      case "undefined":
        this.#room(1);
        this.#buf[this.#at++] = 0xf7;
        return;
      default:
        if (v === null) {
          this.#room(1);
          this.#buf[this.#at++] = 0xf6;
          return;
        }
        this.raw(encodeBody(v, this.#what));
    }
  }

  #number(v: number): void {
    if (Number.isInteger(v) && v >= -0x100000000 && v <= 0xffffffff && !Object.is(v, -0)) {
      if (v >= 0) this.head(0, v);
      else this.head(1, -1 - v);
      return;
    }
    this.#room(9);
    this.#buf[this.#at++] = 0xfb;
    this.#view.setFloat64(this.#at, v);
    this.#at += 8;
  }

  #string(s: string): void {
    const n = s.length;
    for (let i = 0; i < n; i++) {
      // Anything beyond ASCII goes through cbor-x, which keeps a lone surrogate as it is
      // (TextEncoder would turn it into U+FFFD: another key).
      if (s.charCodeAt(i) > 0x7f) return this.raw(encodeBody(s, this.#what));
    }
    this.head(3, n);
    this.#room(n);
    const b = this.#buf;
    for (let i = 0; i < n; i++) b[this.#at++] = s.charCodeAt(i);
  }

  /** Everything written, behind the version byte, in one buffer (a copy the size of what was written). */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    out.set(this.#buf.subarray(0, this.#at), at);
    return out;
  }

  /**
   * Everything written as the writer's own chunks (no copy; concatenated they are
   * bytes()); the writer holds nothing afterwards and must not be written to again.
   */
  takeParts(): Uint8Array[] {
    const out = this.#chunks;
    if (this.#at > 0) out.push(this.#buf.subarray(0, this.#at));
    this.#chunks = [];
    this.#chunked = 0;
    this.#buf = new Uint8Array(0);
    this.#view = new DataView(this.#buf.buffer);
    this.#at = 0;
    return out;
  }

  /**
   * Everything written in one buffer: a view of the writer's own chunk when it is the only
   * one (no copy), the chunks joined otherwise; the writer holds nothing afterwards.
   */
  take(): Uint8Array {
    const parts = this.takeParts();
    if (parts.length === 1) return parts[0];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
