/**
 * Rows of the SQLite backend's `kv` table (kg, s, k, ok, v) as SQLite records
 * (https://www.sqlite.org/fileformat2.html#record_format), each behind its size as a
 * varint (an index B-tree leaf cell), back to back in one buffer: what
 * sqlite_btree_file.ts packs into pages, a page's run of cells copied at once. Keys that are ASCII strings and values that
 * are numbers, ASCII strings, booleans or null are written here byte by byte, as
 * keyBytes() and encode() would write them; any other comes as bytes.
 * @module
 */
import { FORMAT_VERSION, cborHeadLength, writeHead } from "../codec/cbor.ts";
import { WeirError, assert } from "../errors.ts";
import { KEY_TAG_UTF8 } from "./sqlite_keys.ts";

/** The record bytes of a cell of `cell` bytes: the cell less its size varint. */
function payloadOfCell(cell: number): number {
  for (let n = 1; n <= 5; n++) if (varintLength(cell - n) === n) return cell - n;
  throw new WeirError("invariant_broken", `No record fits a cell of ${cell} B`);
}

/** Bytes of a SQLite varint for n (0 ≤ n < 2^32). */
export function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes a SQLite varint (big-endian, 7 bits a byte) for 0 ≤ n < 2^32 at `at`; returns the position after. */
export function writeVarint(b: Uint8Array, at: number, n: number): number {
  if (n < 0x80) {
    b[at] = n;
    return at + 1;
  }
  const len = varintLength(n);
  for (let i = len - 1; i >= 0; i--) {
    b[at + i] = (n & 0x7f) | (i === len - 1 ? 0 : 0x80);
    n = Math.floor(n / 128);
  }
  return at + len;
}

/**
 * Records of the `kv` table (kg, s, k, ok, v) encoded back to back as leaf cells (the
 * record's size as a varint, then the record), in the order they are added, which must
 * be primary-key order. `sizeHint` (records, bytes of all cells) sizes the buffers once
 * instead of growing them by copies.
 *
 * @example
 * ```ts
 * import { KvRecords } from "./sqlite_records.ts";
 * const r = new KvRecords();
 * r.add(3, 0, Uint8Array.of(0x73, 0x61), null, Uint8Array.of(1, 7));
 * console.assert(r.count === 1 && r.size(0) === 11 && r.end(0) - r.start(0) === 12);
 * ```
 */
export class KvRecords {
  /** The cells back to back. */
  bytes: Uint8Array;
  /** Where cell i ends (it starts where i - 1 ends). */
  #ends: Int32Array;
  #count = 0;
  #at = 0;
  /** The size of the record #beginTextKeyRow started. */
  #rowSize = 0;

  constructor(sizeHint?: { records: number; bytes: number }) {
    this.bytes = new Uint8Array(Math.max(1 << 16, sizeHint?.bytes ?? 1 << 20));
    this.#ends = new Int32Array(Math.max(1 << 10, sizeHint?.records ?? 1 << 16));
  }

  /** Records added. */
  get count(): number {
    return this.#count;
  }

  /** Bytes of the cells added. */
  get byteLength(): number {
    return this.#at;
  }

  /**
   * Forgets the first `n` cells (written out), moving the rest to the front: a window over
   * records written a page at a time (sqlite_btree_file.ts's KvFileWriter).
   */
  dropFirst(n: number): void {
    if (n === 0) return;
    const shift = this.start(n);
    const rest = this.#count - n;
    this.bytes.copyWithin(0, shift, this.#at);
    const ends = this.#ends;
    for (let i = 0; i < rest; i++) ends[i] = ends[n + i] - shift;
    this.#count = rest;
    this.#at -= shift;
  }

  /** Where cell `i` (its size varint, then record `i`) starts in `bytes`. */
  start(i: number): number {
    return i === 0 ? 0 : this.#ends[i - 1];
  }

  /** Where cell `i` ends in `bytes`. */
  end(i: number): number {
    return this.#ends[i];
  }

  /** Bytes of record `i` (without its size varint). */
  size(i: number): number {
    return payloadOfCell(this.#ends[i] - (i === 0 ? 0 : this.#ends[i - 1]));
  }

  #room(size: number): void {
    if (this.#at + size > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.#at + size));
      grown.set(this.bytes.subarray(0, this.#at));
      this.bytes = grown;
    }
    if (this.#count === this.#ends.length) {
      const ends = new Int32Array(this.#ends.length * 2);
      ends.set(this.#ends);
      this.#ends = ends;
    }
  }

  /**
   * Appends one row's record; returns its size in bytes.
   * @throws {WeirError} `invariant_broken` for a key group or state id beyond 32 bits
   */
  add(kg: number, s: number, k: Uint8Array, ok: Uint8Array | null, v: Uint8Array): number {
    return this.addFrom(kg, s, k, 0, k.length, ok ?? k, ok === null ? -1 : 0, ok?.length ?? 0, v, 0, v.length);
  }

  /**
   * Appends one row's record from ranges of buffers (a changelog file's, without a view per
   * row): key `kSrc[kAt, kAt + kLength)`, original key likewise (`okAt` -1: none), value
   * likewise. Returns its size in bytes.
   * @throws {WeirError} `invariant_broken` for a key group or state id beyond 32 bits
   */
  addFrom(kg: number, s: number, kSrc: Uint8Array, kAt: number, kLength: number, okSrc: Uint8Array, okAt: number, okLength: number, vSrc: Uint8Array, vAt: number, vLength: number): number {
    if (!(kg >= 0 && s >= 0 && kg < 0x80000000 && s < 0x80000000 && Number.isInteger(kg) && Number.isInteger(s))) {
      throw new WeirError("invariant_broken", `Row (${kg}, ${s}) has a key group or state id outside 0..2^31`);
    }
    const hasOk = okAt >= 0;
    const kgBytes = intBytes(kg);
    const sBytes = intBytes(s);
    const kType = 12 + 2 * kLength;
    const okType = hasOk ? 12 + 2 * okLength : 0;
    const vType = 12 + 2 * vLength;
    let header = 1 + 1 + varintLength(kType) + varintLength(okType) + varintLength(vType) + 1;
    if (header > 0x7f) header++;
    const size = header + kgBytes + sBytes + kLength + (hasOk ? okLength : 0) + vLength;
    this.#room(varintLength(size) + size);
    const b = this.bytes;
    let at = writeVarint(b, writeVarint(b, this.#at, size), header);
    b[at++] = intType(kg, kgBytes);
    b[at++] = intType(s, sBytes);
    at = writeVarint(b, at, kType);
    at = writeVarint(b, at, okType);
    at = writeVarint(b, at, vType);
    at = writeInt(b, at, kg, kgBytes);
    at = writeInt(b, at, s, sBytes);
    at = copyRange(b, at, kSrc, kAt, kAt + kLength);
    if (hasOk) at = copyRange(b, at, okSrc, okAt, okAt + okLength);
    at = copyRange(b, at, vSrc, vAt, vAt + vLength);
    this.#at = at;
    this.#ends[this.#count++] = at;
    return size;
  }

  /**
   * Appends a cell as it is: `src[start, end)`, a record behind its size as a varint (a leaf
   * cell read from a file of the same format, sqlite_btree_cells.ts).
   */
  addCell(src: Uint8Array, start: number, end: number): void {
    this.#room(end - start);
    this.#at = copyRange(this.bytes, this.#at, src, start, end);
    this.#ends[this.#count++] = this.#at;
  }

  /**
   * Appends the record of a row whose key and value come as CBOR bytes of `src` (a
   * savepoint's): the key a text string's content [keyStart, keyStart + keyLength), stored
   * as its tag and its bytes, the value the whole item [valueStart, valueEnd), stored behind
   * the format version as encode() would. Returns the record's size, or -2 (nothing added)
   * for a key that is not ASCII.
   * @throws {WeirError} `invariant_broken` for a key group or state id beyond 32 bits
   */
  addEncoded(kg: number, s: number, src: Uint8Array, keyStart: number, keyLength: number, valueStart: number, valueEnd: number): number {
    let at = this.#beginTextKeyRow(kg, s, 1 + keyLength, 1 + valueEnd - valueStart);
    const b = this.bytes;
    const size = this.#rowSize;
    let all = 0;
    for (let i = 0; i < keyLength; i++) {
      const c = src[keyStart + i];
      all |= c;
      b[at + i] = c;
    }
    if (all > 0x7f) return -2;
    at += keyLength;
    b[at++] = FORMAT_VERSION;
    at = copyRange(b, at, src, valueStart, valueEnd);
    this.#at = at;
    this.#ends[this.#count++] = at;
    return size;
  }

  /**
   * Starts the record of a row whose key is text (`kLength` bytes with its tag) and whose
   * value takes `vLength` bytes (with the format version): size, header, key group, state id
   * and the key's tag. Returns where the key's bytes go and leaves the record's size in
   * `#rowSize` (per row on a restore's path, so no object is returned).
   * @throws {WeirError} `invariant_broken` for a key group or state id beyond 32 bits
   */
  #beginTextKeyRow(kg: number, s: number, kLength: number, vLength: number): number {
    if (!(kg >= 0 && s >= 0 && kg < 0x80000000 && s < 0x80000000 && Number.isInteger(kg) && Number.isInteger(s))) {
      throw new WeirError("invariant_broken", `Row (${kg}, ${s}) has a key group or state id outside 0..2^31`);
    }
    const kgBytes = intBytes(kg);
    const sBytes = intBytes(s);
    const kType = 12 + 2 * kLength;
    const vType = 12 + 2 * vLength;
    let header = 1 + 1 + varintLength(kType) + 1 + varintLength(vType) + 1;
    if (header > 0x7f) header++;
    const size = header + kgBytes + sBytes + kLength + vLength;
    const cell = varintLength(size) + size;
    if (this.#at + cell > this.bytes.length || this.#count === this.#ends.length) this.#room(cell);
    const b = this.bytes;
    let at = writeVarint(b, writeVarint(b, this.#at, size), header);
    b[at++] = intType(kg, kgBytes);
    b[at++] = intType(s, sBytes);
    at = writeVarint(b, at, kType);
    b[at++] = 0;
    at = writeVarint(b, at, vType);
    at = writeInt(b, at, kg, kgBytes);
    at = writeInt(b, at, s, sBytes);
    b[at++] = KEY_TAG_UTF8;
    this.#rowSize = size;
    return at;
  }

  /** Drops the records from `count` on (a key group that goes another way after all). */
  truncate(count: number): void {
    assert(count >= 0 && count <= this.#count, () => `Cannot truncate ${this.#count} records to ${count}`);
    this.#count = count;
    this.#at = count === 0 ? 0 : this.#ends[count - 1];
  }

  /**
   * Appends the record of a row whose key is a string (stored as its tag and its bytes)
   * and whose value is a number, ASCII string, boolean or null, written here without an
   * intermediate array; returns its size, or (nothing added) -1 for a value of any other
   * kind, which goes through add(), and -2 for a key that is not ASCII.
   */
  addAscii(kg: number, s: number, key: string, v: unknown): number {
    let vLength: number;
    let vInt = 0;
    if (typeof v === "number") {
      if (Number.isInteger(v) && v >= -0x100000000 && v <= 0xffffffff && !Object.is(v, -0)) {
        vInt = v >= 0 ? v : -1 - v;
        vLength = 1 + cborHeadLength(vInt);
      } else vLength = 10;
    } else if (typeof v === "string") {
      if (!isAscii(v)) return -1;
      vLength = 1 + cborHeadLength(v.length) + v.length;
    } else if (typeof v === "boolean" || v === null) vLength = 2;
    else return -1;
    let at = this.#beginTextKeyRow(kg, s, 1 + key.length, vLength);
    const b = this.bytes;
    const size = this.#rowSize;
    // The key is checked while it is copied: one pass over its characters, not two.
    at = writeAsciiChecked(b, at, key);
    if (at < 0) return -2;
    b[at++] = FORMAT_VERSION;
    if (typeof v === "number") {
      if (vLength === 10) {
        b[at++] = 0xfb;
        F64.setFloat64(0, v);
        for (let i = 0; i < 8; i++) b[at++] = F64_BYTES[i];
      } else at = writeHead(b, at, v >= 0 ? 0 : 1, vInt);
    } else if (typeof v === "string") at = writeAscii(b, writeHead(b, at, 3, v.length), v);
    else b[at++] = v === null ? 0xf6 : v ? 0xf5 : 0xf4;
    this.#at = at;
    this.#ends[this.#count++] = at;
    return size;
  }
}

const NOT_ASCII = /[\u0080-\uffff]/;

/** True for a string of ASCII characters only (its UTF-8 bytes are its characters). */
export function isAscii(s: string): boolean {
  return !NOT_ASCII.test(s);
}
const F64 = new DataView(new ArrayBuffer(8));
const F64_BYTES = new Uint8Array(F64.buffer);

function writeAscii(b: Uint8Array, at: number, text: string): number {
  const n = text.length;
  for (let i = 0; i < n; i++) b[at + i] = text.charCodeAt(i);
  return at + n;
}

/** writeAscii(), or -1 when a character is not ASCII (the bytes written are then garbage). */
function writeAsciiChecked(b: Uint8Array, at: number, text: string): number {
  const n = text.length;
  let all = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    all |= c;
    b[at + i] = c;
  }
  return all > 0x7f ? -1 : at + n;
}

/** Copies src[from, to) to `at` in `b`, small ranges a byte at a time; returns the position after. */
function copyRange(b: Uint8Array, at: number, src: Uint8Array, from: number, to: number): number {
  const n = to - from;
  if (n > 32) b.set(src.subarray(from, to), at);
  else for (let i = 0; i < n; i++) b[at + i] = src[from + i];
  return at + n;
}

/** Body bytes of a non-negative integer column, as SQLite picks them (schema format 4: 0 and 1 take none). */
function intBytes(n: number): number {
  return n <= 1 ? 0 : n < 0x80 ? 1 : n < 0x8000 ? 2 : n < 0x800000 ? 3 : 4;
}

/** The serial type of a non-negative integer column of `bytes` body bytes. */
function intType(n: number, bytes: number): number {
  return bytes === 0 ? 8 + n : bytes;
}

/** Writes a big-endian two's-complement integer of `bytes` bytes. */
function writeInt(b: Uint8Array, at: number, n: number, bytes: number): number {
  for (let i = bytes - 1; i >= 0; i--) {
    b[at + i] = n & 0xff;
    n >>= 8;
  }
  return at + bytes;
}
