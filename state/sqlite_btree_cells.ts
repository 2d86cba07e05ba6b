/**
 * Reads the cells of an index B-tree (a WITHOUT ROWID table such as `kv`) straight from a
 * SQLite database file's bytes (https://www.sqlite.org/fileformat2.html), in key order:
 * what a restore merges a chain's changes into (sqlite_chain_rebuild.ts) without asking
 * SQLite for each row. Only what the tree's pages say is read: freelist, pointer-map and
 * other tables' pages are never visited. A cell whose record spills to an overflow page is
 * not read: the walk stops and says so, and the caller takes SQLite's path.
 * @module
 */
import { WeirError } from "../errors.ts";
import { joinParts } from "../storage/adapter.ts";
import { maxLocalPayload } from "./sqlite_btree_file.ts";

const LEAF_INDEX = 0x0a;
const INTERIOR_INDEX = 0x02;
const LEAF_TABLE = 0x0d;
/** Deeper than any B-tree of 2^32 pages: a deeper walk is a loop in a damaged file. */
const DEPTH_MAX = 40;

/**
 * A database file's bytes as the parts it was stored in, each but the last `partBytes`
 * long, a whole number of pages: a file downloaded in parts is read where it lies, since
 * joining them is a second copy of the file in fresh memory (on a 2-core VM the first
 * touch of it costs more than the copy).
 */
export interface PagedFile {
  readonly parts: readonly Uint8Array[];
  readonly partBytes: number;
  readonly length: number;
}

/** `parts` as a PagedFile: as they are when each holds whole pages, else joined. */
export function pagedFile(parts: readonly Uint8Array[]): PagedFile {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const first = parts[0] ?? new Uint8Array(0);
  const pageSize = filePageSize(first);
  const whole = pageSize > 0 && first.length % pageSize === 0 && parts.every((p, i) => (i === parts.length - 1 ? p.length <= first.length : p.length === first.length));
  if (parts.length === 1 || whole) return { parts, partBytes: Math.max(1, first.length), length };
  return { parts: [joinParts(parts, length)], partBytes: Math.max(1, length), length };
}

/** The page size (bytes) of a database file's header. */
export function filePageSize(file: Uint8Array): number {
  const raw = file.length >= 100 ? (file[16] << 8) | file[17] : 0;
  return raw === 1 ? 65536 : raw;
}

/**
 * Calls `cell(start, end, bytes)` for each cell of the index B-tree rooted at page
 * `rootPage` of `file`, in key order: `bytes[start, end)` (`bytes` being `file` or the part
 * of it the cell's page is in) is the record's size as a varint, then the record (as a leaf
 * cell of sqlite_records.ts's KvRecords holds it). Returns false, having stopped, at a
 * record that spills to an overflow page.
 * @throws {WeirError} `checkpoint_corrupt` naming `what` for a page that is not an index
 *   B-tree page or a cell outside its page
 *
 * @example
 * ```ts
 * import { forEachIndexCell } from "./sqlite_btree_cells.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-cells-${performance.now()}.db`;
 * const db = sqliteDriver.open(path);
 * db.exec("CREATE TABLE t (a INTEGER PRIMARY KEY, b) WITHOUT ROWID; INSERT INTO t VALUES (2, 'x'), (1, 'y');");
 * const root = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 't'").get()!.rootpage as number;
 * db.close();
 * let cells = 0;
 * console.assert(forEachIndexCell(sqliteDriver.readFile(path), root, "t", () => cells++) && cells === 2);
 * sqliteDriver.removeFiles(path);
 * ```
 */
export function forEachIndexCell(file: Uint8Array | PagedFile, rootPage: number, what: string, cell: (start: number, end: number, bytes: Uint8Array) => void): boolean {
  const { parts, partBytes, length } = file instanceof Uint8Array ? pagedFile([file]) : file;
  const pageSize = filePageSize(parts[0] ?? new Uint8Array(0));
  const pages = Math.floor(length / pageSize);
  const corrupt = (why: string) => new WeirError("checkpoint_corrupt", `The SQLite file ${what} is damaged: ${why}`);
  if (!(pageSize >= 512 && (pageSize & (pageSize - 1)) === 0)) throw corrupt(`page size ${pageSize}`);
  const maxLocal = maxLocalPayload(pageSize - parts[0][20]);

  /** The end of the cell whose size varint starts at `at` in `b`, below `limit`, or -1 when it spills. */
  const cellEnd = (b: Uint8Array, at: number, limit: number): number => {
    let size = 0;
    let i = 0;
    for (; i < 9; i++) {
      const x = b[at + i];
      size = size * 128 + (x & 0x7f);
      if (x < 0x80) break;
    }
    if (size > maxLocal) return -1;
    const end = at + i + 1 + size;
    if (end > limit) throw corrupt(`a cell at byte ${at} of its part ends past its page`);
    return end;
  };

  const walk = (page: number, depth: number): boolean => {
    if (!(page >= 1 && page <= pages) || depth > DEPTH_MAX) throw corrupt(`page ${page} at depth ${depth} is not in the file of ${pages} pages`);
    const offset = (page - 1) * pageSize;
    const part = Math.floor(offset / partBytes);
    const b = parts[part];
    const base = offset - part * partBytes;
    const head = page === 1 ? base + 100 : base;
    const type = b[head];
    const count = (b[head + 3] << 8) | b[head + 4];
    const limit = base + pageSize;
    if (type === LEAF_INDEX) {
      for (let c = 0; c < count; c++) {
        const at = base + ((b[head + 8 + 2 * c] << 8) | b[head + 9 + 2 * c]);
        const end = cellEnd(b, at, limit);
        if (end < 0) return false;
        cell(at, end, b);
      }
      return true;
    }
    if (type !== INTERIOR_INDEX) throw corrupt(`page ${page} has type ${type}, not an index B-tree page`);
    // Each cell: its left child's keys, then its own record; the right-most child's keys last.
    for (let c = 0; c < count; c++) {
      const at = base + ((b[head + 12 + 2 * c] << 8) | b[head + 13 + 2 * c]);
      if (at + 4 >= limit) throw corrupt(`a cell of page ${page} lies past it`);
      if (!walk(((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3], depth + 1)) return false;
      const end = cellEnd(b, at + 4, limit);
      if (end < 0) return false;
      cell(at + 4, end, b);
    }
    return walk(((b[head + 8] << 24) >>> 0) + (b[head + 9] << 16) + (b[head + 10] << 8) + b[head + 11], depth + 1);
  };
  return walk(rootPage, 0);
}

/**
 * The root page of table `name` as the schema table (page 1) of the database `file` names
 * it: what SQLite's `SELECT rootpage FROM sqlite_schema` answers, without opening the file.
 * Undefined when the schema is not one leaf page of cells that fit in it (a schema of
 * many tables; the caller asks SQLite), or names no such table.
 *
 * @example
 * ```ts
 * import { tableRootPage } from "./sqlite_btree_cells.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-root-${performance.now()}.db`;
 * const db = sqliteDriver.open(path);
 * db.exec("CREATE TABLE a (x); CREATE TABLE kv (k PRIMARY KEY) WITHOUT ROWID;");
 * const root = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'kv'").get()!.rootpage;
 * db.close();
 * console.assert(tableRootPage(sqliteDriver.readFile(path), "kv") === root);
 * sqliteDriver.removeFiles(path);
 * ```
 */
export function tableRootPage(file: Uint8Array, name: string): number | undefined {
  const pageSize = filePageSize(file);
  if (pageSize < 512 || file.length < pageSize || file[100] !== LEAF_TABLE) return undefined;
  const usable = pageSize - file[20];
  const count = (file[103] << 8) | file[104];
  const want = new TextEncoder().encode(name);
  let at = 0;
  const varint = (): number => {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      const b = file[at++];
      v = v * 128 + (b & 0x7f);
      if (b < 0x80) break;
    }
    return v;
  };
  for (let c = 0; c < count; c++) {
    at = (file[108 + 2 * c] << 8) | file[109 + 2 * c];
    const payload = varint();
    varint(); // the rowid
    // A cell that spills to an overflow page (a long CREATE statement): SQLite's to read.
    if (payload > usable - 35 || at + payload > usable) return undefined;
    const headerStart = at;
    const headerEnd = headerStart + varint();
    const types: number[] = [];
    while (at < headerEnd && types.length < 4) types.push(varint());
    // Columns: type, name, tbl_name, rootpage (an integer of 1–4 bytes).
    const [typeT, nameT, tableT, rootT] = types;
    if (types.length < 4 || ![typeT, nameT, tableT].every((t) => t >= 13 && t % 2 === 1) || !(rootT >= 1 && rootT <= 4)) continue;
    let body = headerEnd + (typeT - 13) / 2;
    const nameLength = (nameT - 13) / 2;
    const matches = nameLength === want.length && want.every((b, i) => file[body + i] === b);
    body += nameLength + (tableT - 13) / 2;
    if (!matches) continue;
    let root = 0;
    for (let i = 0; i < rootT; i++) root = root * 256 + file[body + i];
    return root;
  }
  return undefined;
}
