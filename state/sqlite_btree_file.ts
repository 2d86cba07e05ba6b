/**
 * Writes the SQLite backend's `kv` table straight into a database file, as pages of
 * SQLite's file format (https://www.sqlite.org/fileformat2.html), from rows already in
 * primary-key order: a restore from canonical tables. Inserting 1 M rows through
 * statements costs a bind per column and a B-tree descent per row (0.8–2.3 s measured;
 * SQLite alone, copying rows from another table, 0.3–0.5 s); laying out sorted rows as
 * full pages bottom-up is the bulk load of a B-tree, as RocksDB ingests sorted SST files
 * rather than putting keys one by one. The rest of the file (schema, other tables) is a
 * template SQLite itself wrote, so only the `kv` index B-tree is written here.
 *
 * Limits, checked by the caller: every record fits in a page without overflow pages
 * ({@link maxLocalPayload}); integers fit in 32 bits; no reserved bytes per page.
 * @module
 */
import { FORMAT_VERSION } from "../codec/cbor.ts";
import { WeirError, assert } from "../errors.ts";
import { KEY_TAG_UTF8 } from "./sqlite_keys.ts";

const LEAF_INDEX = 0x0a;
const INTERIOR_INDEX = 0x02;
const LEAF_HEADER = 8;
const INTERIOR_HEADER = 12;

/**
 * The largest record an index B-tree page of `usable` bytes holds without an overflow
 * page (X in the file format's "Cell Payload Overflow Pages").
 */
export function maxLocalPayload(usable: number): number {
  return Math.floor(((usable - 12) * 64) / 255) - 23;
}

/** Bytes of a SQLite varint for n (0 ≤ n < 2^32). */
function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Writes a SQLite varint (big-endian, 7 bits a byte) for 0 ≤ n < 2^32 at `at`; returns the position after. */
function writeVarint(b: Uint8Array, at: number, n: number): number {
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
 * Records of the `kv` table (kg, s, k, ok, v) encoded back to back, in the order they are
 * added, which must be primary-key order.
 *
 * @example
 * ```ts
 * import { KvRecords } from "./sqlite_btree_file.ts";
 * const r = new KvRecords();
 * r.add(3, 0, Uint8Array.of(0x73, 0x61), null, Uint8Array.of(1, 7));
 * console.assert(r.count === 1 && r.size(0) === 11);
 * ```
 */
export class KvRecords {
  /** The records back to back. */
  bytes: Uint8Array = new Uint8Array(1 << 20);
  /** Where record i ends (it starts where i - 1 ends). */
  #ends = new Int32Array(1 << 16);
  #count = 0;
  #at = 0;

  /** Records added. */
  get count(): number {
    return this.#count;
  }

  /** Where record `i` starts in `bytes`. */
  start(i: number): number {
    return i === 0 ? 0 : this.#ends[i - 1];
  }

  /** Bytes of record `i`. */
  size(i: number): number {
    return this.#ends[i] - (i === 0 ? 0 : this.#ends[i - 1]);
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
    if (!(kg >= 0 && s >= 0 && kg < 0x80000000 && s < 0x80000000 && Number.isInteger(kg) && Number.isInteger(s))) {
      throw new WeirError("invariant_broken", `Row (${kg}, ${s}) has a key group or state id outside 0..2^31`);
    }
    const kgBytes = intBytes(kg);
    const sBytes = intBytes(s);
    const kType = 12 + 2 * k.length;
    const okType = ok === null ? 0 : 12 + 2 * ok.length;
    const vType = 12 + 2 * v.length;
    let header = 1 + 1 + varintLength(kType) + varintLength(okType) + varintLength(vType) + 1;
    if (header > 0x7f) header++;
    const size = header + kgBytes + sBytes + k.length + (ok === null ? 0 : ok.length) + v.length;
    this.#room(size);
    const b = this.bytes;
    let at = writeVarint(b, this.#at, header);
    b[at++] = intType(kg, kgBytes);
    b[at++] = intType(s, sBytes);
    at = writeVarint(b, at, kType);
    at = writeVarint(b, at, okType);
    at = writeVarint(b, at, vType);
    at = writeInt(b, at, kg, kgBytes);
    at = writeInt(b, at, s, sBytes);
    at = copy(b, at, k);
    if (ok !== null) at = copy(b, at, ok);
    at = copy(b, at, v);
    this.#at = at;
    this.#ends[this.#count++] = at;
    return size;
  }

  /**
   * Appends the record of a row whose key is an ASCII string (stored as its tag and its
   * bytes) and whose value is a number, ASCII string, boolean or null, written here
   * without an intermediate array; returns its size, or -1 (nothing added) for a value
   * of any other kind, which goes through add().
   */
  addAscii(kg: number, s: number, key: string, v: unknown): number {
    let vLength: number;
    let vInt = 0;
    if (typeof v === "number") {
      if (Number.isInteger(v) && v >= -0x100000000 && v <= 0xffffffff && !Object.is(v, -0)) {
        vInt = v >= 0 ? v : -1 - v;
        vLength = 1 + headLength(vInt);
      } else vLength = 10;
    } else if (typeof v === "string") {
      if (!isAscii(v)) return -1;
      vLength = 1 + headLength(v.length) + v.length;
    } else if (typeof v === "boolean" || v === null) vLength = 2;
    else return -1;
    if (!(kg >= 0 && s >= 0 && kg < 0x80000000 && s < 0x80000000 && Number.isInteger(kg) && Number.isInteger(s))) {
      throw new WeirError("invariant_broken", `Row (${kg}, ${s}) has a key group or state id outside 0..2^31`);
    }
    const kLength = 1 + key.length;
    const kgBytes = intBytes(kg);
    const sBytes = intBytes(s);
    const kType = 12 + 2 * kLength;
    const vType = 12 + 2 * vLength;
    let header = 1 + 1 + varintLength(kType) + 1 + varintLength(vType) + 1;
    if (header > 0x7f) header++;
    const size = header + kgBytes + sBytes + kLength + vLength;
    if (this.#at + size > this.bytes.length || this.#count === this.#ends.length) this.#room(size);
    const b = this.bytes;
    let at = writeVarint(b, this.#at, header);
    b[at++] = intType(kg, kgBytes);
    b[at++] = intType(s, sBytes);
    at = writeVarint(b, at, kType);
    b[at++] = 0;
    at = writeVarint(b, at, vType);
    at = writeInt(b, at, kg, kgBytes);
    at = writeInt(b, at, s, sBytes);
    b[at++] = KEY_TAG_UTF8;
    at = writeAscii(b, at, key);
    b[at++] = FORMAT_VERSION;
    if (typeof v === "number") {
      if (vLength === 10) {
        b[at++] = 0xfb;
        F64.setFloat64(0, v);
        for (let i = 0; i < 8; i++) b[at++] = F64_BYTES[i];
      } else at = writeCborHead(b, at, v >= 0 ? 0 : 1, vInt);
    } else if (typeof v === "string") at = writeAscii(b, writeCborHead(b, at, 3, v.length), v);
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

/** Bytes of a CBOR head with argument n (0 ≤ n < 2^32). */
function headLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function writeCborHead(b: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) b[at++] = m | n;
  else if (n < 0x100) {
    b[at++] = m | 24;
    b[at++] = n;
  } else if (n < 0x10000) {
    b[at++] = m | 25;
    b[at++] = n >>> 8;
    b[at++] = n & 0xff;
  } else {
    b[at++] = m | 26;
    b[at++] = n >>> 24;
    b[at++] = (n >>> 16) & 0xff;
    b[at++] = (n >>> 8) & 0xff;
    b[at++] = n & 0xff;
  }
  return at;
}

function writeAscii(b: Uint8Array, at: number, text: string): number {
  const n = text.length;
  for (let i = 0; i < n; i++) b[at + i] = text.charCodeAt(i);
  return at + n;
}

/** Copies small arrays a byte at a time: cheaper than set() below a few dozen bytes. */
function copy(b: Uint8Array, at: number, from: Uint8Array): number {
  const n = from.length;
  if (n > 32) b.set(from, at);
  else for (let i = 0; i < n; i++) b[at + i] = from[i];
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

/** What {@link buildKvFile} needs of the template file SQLite wrote. */
export interface KvTemplate {
  /** The whole file: the schema and empty tables, in rollback-journal mode. */
  bytes: Uint8Array;
  /** The page number of the `kv` table's root (`sqlite_schema.rootpage`). */
  rootPage: number;
}

/**
 * The template's page size, checked to be a file this writer can extend.
 * @throws {WeirError} `invariant_broken` for reserved bytes, an old schema format or a WAL-mode header
 */
export function templatePageSize(t: KvTemplate): number {
  const h = t.bytes;
  const raw = (h[16] << 8) | h[17];
  const pageSize = raw === 1 ? 65536 : raw;
  assert(h[20] === 0, () => `The SQLite template reserves ${h[20]} bytes per page`);
  const schemaFormat = new DataView(h.buffer, h.byteOffset, h.byteLength).getUint32(44);
  assert(schemaFormat === 4, () => `The SQLite template has schema format ${schemaFormat}, 4 was expected`);
  assert(h[18] === 1 && h[19] === 1, () => "The SQLite template is not in rollback-journal mode");
  assert(t.bytes.length % pageSize === 0 && t.rootPage >= 2 && t.rootPage <= t.bytes.length / pageSize, () => `The SQLite template (${t.bytes.length} B, root ${t.rootPage}) is not whole pages of ${pageSize} B`);
  return pageSize;
}

/** A level of the tree being built. */
interface Level {
  /** Page numbers of this level's pages, in key order. */
  pages: number[];
  /** The record between each two neighbouring pages (one fewer than pages). */
  dividers: number[];
}

/** The file being written: the template's pages, then new ones; the root goes in the template's slot. */
class PageFile {
  bytes: Uint8Array;
  pages: number;
  readonly pageSize: number;
  readonly rootPage: number;

  constructor(template: KvTemplate, pageSize: number, estimatedPages: number) {
    this.pageSize = pageSize;
    this.rootPage = template.rootPage;
    this.pages = template.bytes.length / pageSize;
    this.bytes = new Uint8Array((this.pages + estimatedPages) * pageSize);
    this.bytes.set(template.bytes);
  }

  /** A zeroed page to write: the root's slot, or a new page at the end. Returns [page number, offset]. */
  page(root: boolean): [number, number] {
    const size = this.pageSize;
    if (root) {
      const at = (this.rootPage - 1) * size;
      this.bytes.fill(0, at, at + size);
      return [this.rootPage, at];
    }
    if ((this.pages + 1) * size > this.bytes.length) {
      const grown = new Uint8Array(Math.ceil(this.bytes.length * 1.5 / size + 1) * size);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    return [++this.pages, (this.pages - 1) * size];
  }
}

/**
 * The database file: the template with the `kv` B-tree holding `records` (in primary-key
 * order, each at most {@link maxLocalPayload} bytes).
 * @throws {WeirError} `invariant_broken` when a record is larger than a page holds
 */
export function buildKvFile(template: KvTemplate, records: KvRecords): Uint8Array {
  const pageSize = templatePageSize(template);
  const maxLocal = maxLocalPayload(pageSize);
  const n = records.count;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = records.size(i);
    if (s > maxLocal) throw new WeirError("invariant_broken", `A kv record of ${s} B needs an overflow page (at most ${maxLocal} B fit)`);
    total += s + 5;
  }
  const file = new PageFile(template, pageSize, Math.ceil((total * 1.05) / (pageSize - LEAF_HEADER)) + 8);
  if (n > 0) {
    let level = leaves(records, file);
    while (level.pages.length > 1) level = interiors(records, level, file);
  }
  const out = file.bytes.subarray(0, file.pages * pageSize);
  // The header's database size (offset 28) is trusted when its change counter (24) equals
  // the version-valid-for number (92), as it does in a file SQLite closed.
  new DataView(out.buffer, out.byteOffset).setUint32(28, file.pages);
  return out;
}

/** Copies record `i` to `at` in `b`, behind its size as a varint; returns the position after. */
function putRecord(b: Uint8Array, at: number, records: KvRecords, i: number): number {
  const from = records.start(i);
  const size = records.size(i);
  at = writeVarint(b, at, size);
  const src = records.bytes;
  if (size > 48) b.set(src.subarray(from, from + size), at);
  else for (let j = 0; j < size; j++) b[at + j] = src[from + j];
  return at + size;
}

/** Packs records into full leaf pages; a record between two leaves goes up a level. */
function leaves(records: KvRecords, file: PageFile): Level {
  const n = records.count;
  const pageSize = file.pageSize;
  const ranges: number[] = [];
  const dividers: number[] = [];
  let i = 0;
  while (i < n) {
    const start = i;
    let used = LEAF_HEADER;
    for (; i < n; i++) {
      const size = records.size(i);
      const cell = 2 + varintLength(size) + size;
      if (used + cell > pageSize) break;
      used += cell;
    }
    assert(i - start >= 2 || i === n, () => `A leaf page of ${pageSize} B took ${i - start} records`);
    if (i === n) ranges.push(start, i);
    else if (i === n - 1) {
      // The last record alone is left: this page's last record goes up instead, so that
      // no page is empty.
      ranges.push(start, i - 1, n - 1, n);
      dividers.push(i - 1);
      i = n;
    } else {
      ranges.push(start, i);
      dividers.push(i++);
    }
  }
  const root = ranges.length === 2;
  const pages: number[] = [];
  for (let r = 0; r < ranges.length; r += 2) pages.push(leafPage(records, ranges[r], ranges[r + 1], file, root));
  return { pages, dividers };
}

function leafPage(records: KvRecords, a: number, b: number, file: PageFile, root: boolean): number {
  const [number, base] = file.page(root);
  const page = file.bytes;
  page[base] = LEAF_INDEX;
  setUint16(page, base + 3, b - a);
  let top = file.pageSize;
  let ptr = LEAF_HEADER;
  for (let i = a; i < b; i++) {
    const size = records.size(i);
    top -= varintLength(size) + size;
    putRecord(page, base + top, records, i);
    setUint16(page, base + ptr, top);
    ptr += 2;
  }
  assert(ptr <= top, () => `Leaf page cells overlap its pointers (${ptr} > ${top})`);
  setUint16(page, base + 5, top === 65536 ? 0 : top);
  return number;
}

/** Packs a level's pages under interior pages: cells (left child, divider), then a right-most child. */
function interiors(records: KvRecords, below: Level, file: PageFile): Level {
  const m = below.pages.length - 1;
  const pageSize = file.pageSize;
  const cellSize = (d: number) => 4 + varintLength(records.size(d)) + records.size(d);
  const ranges: number[] = [];
  const dividers: number[] = [];
  let j = 0;
  while (j <= m) {
    const a = j;
    let b = a;
    let used = INTERIOR_HEADER;
    while (b < m && used + 2 + cellSize(below.dividers[b]) <= pageSize) used += 2 + cellSize(below.dividers[b++]);
    if (b === m) {
      ranges.push(a, b);
      break;
    }
    assert(b - a >= 2, () => `An interior page of ${pageSize} B took ${b - a} cells`);
    if (b + 1 === m) {
      // Only the last child would be left for the next page: move one cell over to it.
      ranges.push(a, b - 1, b, m);
      dividers.push(below.dividers[b - 1]);
      break;
    }
    ranges.push(a, b);
    dividers.push(below.dividers[b]);
    j = b + 1;
  }
  const root = ranges.length === 2;
  const pages: number[] = [];
  for (let r = 0; r < ranges.length; r += 2) pages.push(interiorPage(records, below, ranges[r], ranges[r + 1], file, root));
  return { pages, dividers };
}

function interiorPage(records: KvRecords, below: Level, a: number, b: number, file: PageFile, root: boolean): number {
  assert(b > a, () => `Interior page of children ${a}-${b} has no cell`);
  const [number, base] = file.page(root);
  const page = file.bytes;
  page[base] = INTERIOR_INDEX;
  setUint16(page, base + 3, b - a);
  setUint32(page, base + 8, below.pages[b]);
  let top = file.pageSize;
  let ptr = INTERIOR_HEADER;
  for (let c = a; c < b; c++) {
    const d = below.dividers[c];
    const size = records.size(d);
    top -= 4 + varintLength(size) + size;
    setUint32(page, base + top, below.pages[c]);
    putRecord(page, base + top + 4, records, d);
    setUint16(page, base + ptr, top);
    ptr += 2;
  }
  assert(ptr <= top, () => `Interior page cells overlap its pointers (${ptr} > ${top})`);
  setUint16(page, base + 5, top);
  return number;
}

function setUint16(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 8;
  b[at + 1] = n & 0xff;
}

function setUint32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = (n >>> 16) & 0xff;
  b[at + 2] = (n >>> 8) & 0xff;
  b[at + 3] = n & 0xff;
}
