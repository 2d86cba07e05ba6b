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
import { WeirError, assert } from "../errors.ts";
import { type KvRecords, varintLength } from "./sqlite_records.ts";
import { SCHEMA, type SqliteStateStore } from "./sqlite_store.ts";

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
  // A cell grows with its record: a record fits when its cell is no larger than the largest fitting record's.
  const cellMax = varintLength(maxLocal) + maxLocal;
  for (let i = 0; i < n; i++) {
    if (records.end(i) - records.start(i) > cellMax) {
      throw new WeirError("invariant_broken", `A kv record of ${records.size(i)} B needs an overflow page (at most ${maxLocal} B fit)`);
    }
  }
  const total = n === 0 ? 0 : records.end(n - 1) + 2 * n;
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

/** Copies cell `i` (record `i` behind its size as a varint) to `at` in `b`; returns the position after. */
function putCell(b: Uint8Array, at: number, records: KvRecords, i: number): number {
  const from = records.start(i);
  const size = records.end(i) - from;
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
      const cell = 2 + records.end(i) - records.start(i);
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
  // The page's cells are one run in records.bytes: copied at once to the end of the page,
  // in key order upwards (SQLite asks no order of the content area, only the pointers').
  const from = records.start(a);
  const bytes = records.end(b - 1) - from;
  const top = file.pageSize - bytes;
  const ptrEnd = LEAF_HEADER + 2 * (b - a);
  assert(ptrEnd <= top, () => `Leaf page cells overlap its pointers (${ptrEnd} > ${top})`);
  page.set(records.bytes.subarray(from, from + bytes), base + top);
  let ptr = base + LEAF_HEADER;
  const shift = top - from;
  setUint16(page, ptr, top);
  for (let i = a + 1; i < b; i++) setUint16(page, (ptr += 2), records.start(i) + shift);
  setUint16(page, base + 5, top === 65536 ? 0 : top);
  return number;
}

/** Packs a level's pages under interior pages: cells (left child, divider), then a right-most child. */
function interiors(records: KvRecords, below: Level, file: PageFile): Level {
  const m = below.pages.length - 1;
  const pageSize = file.pageSize;
  const cellSize = (d: number) => 4 + records.end(d) - records.start(d);
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
    top -= 4 + records.end(d) - records.start(d);
    setUint32(page, base + top, below.pages[c]);
    putCell(page, base + top + 4, records, d);
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

/**
 * A new file beside `store`'s, with its schema and empty tables, written by SQLite: what a
 * restore written whole starts from (see adoptRecords()).
 * @throws {WeirError} `storage_failed`
 */
export function kvTemplate(store: SqliteStateStore): KvTemplate & { path: string } {
  const { driver } = store;
  const path = `${store.path}.load`;
  driver.removeFiles(path);
  try {
    const db = driver.open(path);
    let rootPage: number;
    try {
      // A scratch file read back at once: one transaction and no fsync (three synced
      // commits took 60 ms of a 1 M-key restore's 0.6 s).
      db.exec(`PRAGMA synchronous = OFF; BEGIN; ${SCHEMA} COMMIT;`);
      rootPage = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'kv'").get()!.rootpage as number;
    } finally {
      db.close();
    }
    return { path, bytes: driver.readFile(path), rootPage };
  } catch (e) {
    driver.removeFiles(path);
    if (e instanceof WeirError) throw e;
    throw new WeirError("storage_failed", `Cannot write the SQLite template file ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Writes `template`'s file with `records` (in primary-key order) in its kv table and makes
 * it `store`'s file: a restore into an empty store without a statement per row.
 * @throws {WeirError} `storage_failed` when the file cannot be written;
 *   `invariant_broken` when the store holds unwritten values
 */
export function adoptRecords(store: SqliteStateStore, template: KvTemplate & { path: string }, records: KvRecords): number {
  try {
    store.driver.writeFile(template.path, buildKvFile(template, records));
  } catch (e) {
    store.driver.removeFiles(template.path);
    if (e instanceof WeirError) throw e;
    throw new WeirError("storage_failed", `Cannot write the restored SQLite state file ${template.path}: ${(e as Error).message}`, { cause: e });
  }
  store.adoptFile(template.path);
  return records.count;
}
