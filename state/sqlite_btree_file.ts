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
import { KvRecords, varintLength } from "./sqlite_records.ts";
import type { SqliteDriver } from "./sqlite_driver.ts";
import { PageSink } from "./sqlite_page_sink.ts";
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

/** Bytes of records a KvFileWriter gathers before it packs them into pages. */
const WINDOW_BYTES = 1 << 20;

/**
 * Writes the database file at `path`, the template with a `kv` B-tree of the records
 * appended to `records` in primary-key order: full leaf pages are packed and written
 * whenever the records gathered reach a megabyte (written()), the rest and the interior
 * pages by finish(). Records are at most {@link KvFileWriter.recordBytesMax} bytes.
 *
 * @example
 * ```ts
 * import { KvFileWriter, kvTemplate } from "./sqlite_btree_file.ts";
 * import { SqliteStateStore } from "./sqlite_store.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-kv-${performance.now()}.db`;
 * const store = new SqliteStateStore(sqliteDriver, { path, maxParallelism: 8, cacheEntriesMax: 4 });
 * const template = kvTemplate(store);
 * const w = new KvFileWriter(sqliteDriver, template.path, template);
 * w.records.add(1, 0, Uint8Array.of(0x73, 0x61), null, Uint8Array.of(1, 7));
 * w.written();
 * w.finish();
 * store.adoptFile(template.path);
 * console.assert(store.db.prepare("SELECT count(*) AS n FROM kv").get()?.n === 1);
 * store.dispose();
 * ```
 */
export class KvFileWriter {
  /** Where the next records go, in primary-key order; written() after each. */
  readonly records: KvRecords;
  /** The largest record a page holds without an overflow page. */
  readonly recordBytesMax: number;
  /** The leaf pages written and the records between them (in #dividers). */
  readonly #leaves: Level = { pages: [], dividers: [] };
  readonly #dividers = new KvRecords({ records: 1024, bytes: 1 << 16 });
  readonly #file: PageSink;
  readonly #cellMax: number;

  /**
   * `records`: those to write, when they are all at hand (else a window of a few megabytes).
   * @throws {WeirError} `storage_failed` when the file cannot be written
   */
  constructor(driver: SqliteDriver, path: string, template: KvTemplate, records?: KvRecords) {
    const pageSize = templatePageSize(template);
    this.recordBytesMax = maxLocalPayload(pageSize);
    // A cell grows with its record: a record fits when its cell is no larger than the largest fitting record's.
    this.#cellMax = varintLength(this.recordBytesMax) + this.recordBytesMax;
    this.records = records ?? new KvRecords({ records: 1 << 16, bytes: 2 * WINDOW_BYTES });
    this.#file = new PageSink(driver, path, template, pageSize);
  }

  /** Packs the full leaf pages of the records gathered once they are many. */
  written(): void {
    if (this.records.byteLength >= WINDOW_BYTES) this.#pack(false);
  }

  /**
   * Packs the rest and the interior pages, and writes the file's first pages last.
   * @throws {WeirError} `invariant_broken` for a record larger than a page holds;
   *   `storage_failed`
   */
  finish(): void {
    this.#pack(true);
    let level = this.#leaves;
    while (level.pages.length > 1) level = interiors(this.#dividers, level, this.#file);
    this.#file.finish();
  }

  /**
   * Packs the records gathered into full leaf pages, each next record going up a level;
   * before the last (`final`), a page is packed only when a record follows the one that
   * goes up. The records packed are dropped.
   */
  #pack(final: boolean): void {
    const records = this.records;
    const n = records.count;
    const file = this.#file;
    const pageSize = file.pageSize;
    const { pages, dividers } = this.#leaves;
    let i = 0;
    while (i < n) {
      const start = i;
      let used = LEAF_HEADER;
      for (; i < n; i++) {
        const cell = records.end(i) - records.start(i);
        if (cell > this.#cellMax) throw new WeirError("invariant_broken", `A kv record of ${records.size(i)} B needs an overflow page (at most ${this.recordBytesMax} B fit)`);
        if (used + 2 + cell > pageSize) break;
        used += 2 + cell;
      }
      assert(i - start >= 2 || i === n, () => `A leaf page of ${pageSize} B took ${i - start} records`);
      if (!final && i >= n - 1) {
        i = start;
        break;
      }
      if (i === n) {
        pages.push(leafPage(records, start, n, file, pages.length === 0));
      } else if (i === n - 1) {
        // The last record alone is left: this page's last record goes up instead, so that
        // no page is empty.
        pages.push(leafPage(records, start, i - 1, file, false));
        dividers.push(this.#divider(i - 1));
        pages.push(leafPage(records, n - 1, n, file, false));
        i = n;
      } else {
        pages.push(leafPage(records, start, i, file, false));
        dividers.push(this.#divider(i++));
      }
    }
    records.dropFirst(i);
  }

  /** Keeps record `i` as a divider; returns its index in #dividers. */
  #divider(i: number): number {
    this.#dividers.addCell(this.records.bytes, this.records.start(i), this.records.end(i));
    return this.#dividers.count - 1;
  }
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

function leafPage(records: KvRecords, a: number, b: number, file: PageSink, root: boolean): number {
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
function interiors(records: KvRecords, below: Level, file: PageSink): Level {
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

function interiorPage(records: KvRecords, below: Level, a: number, b: number, file: PageSink, root: boolean): number {
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
 * it `store`'s file: a restore into an empty store without a statement per row. Returns
 * the rows written; `records` is emptied (written pages are dropped from it).
 * @throws {WeirError} `storage_failed` when the file cannot be written;
 *   `invariant_broken` when the store holds unwritten values or a record needs an
 *   overflow page
 */
export function adoptRecords(store: SqliteStateStore, template: KvTemplate & { path: string }, records: KvRecords): number {
  const rows = records.count;
  try {
    new KvFileWriter(store.driver, template.path, template, records).finish();
  } catch (e) {
    store.driver.removeFiles(template.path);
    throw e;
  }
  store.adoptFile(template.path);
  return rows;
}
