/**
 * Bulk writes into the SQLite backend's `kv` table (a restore from canonical tables):
 * {@link BULK_ROWS} rows go to SQLite in one multi-row `INSERT`. A statement call per row
 * costs more in crossing into SQLite than SQLite spends on the row (1 M rows: 2.2–4.1 s
 * row by row, 0.6–1.2 s in batches of 128, in the same runs). Cutting keys and values out
 * of two packed blobs with `substr()` instead was measured too: slower on Bun and up to
 * 8 times slower on Deno's node:sqlite.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { SqliteDatabase, SqliteStatement, SqliteValue } from "./sqlite_driver.ts";
import { inTransaction } from "./sqlite_transaction.ts";

/**
 * Rows per statement: 5 parameters each, 640 in all, under the 999 of SQLite builds
 * before 3.32 (at 1 M rows, batches of 32 to 512 rows measured alike).
 */
export const BULK_ROWS = 128;

const PER_ROW = 5;

function insert(table: string, rows: number): string {
  return `INSERT OR REPLACE INTO ${table} (kg, s, k, ok, v) VALUES ${Array(rows).fill("(?, ?, ?, ?, ?)").join(", ")}`;
}

/**
 * Writes rows in batches on an open transaction of `db`, into `table` (default `kv`);
 * `finish()` writes the last, partial batch.
 *
 * @example
 * ```ts
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { BulkRowWriter } from "./sqlite_bulk.ts";
 * const db = sqliteDriver.open(":memory:");
 * db.exec("CREATE TABLE kv (kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID");
 * const w = new BulkRowWriter(db);
 * w.row(3, 0, Uint8Array.of(0x73, 0x61), null, Uint8Array.of(9));
 * w.finish();
 * console.assert((db.prepare("SELECT v FROM kv WHERE kg = 3").get()?.v as Uint8Array)[0] === 9);
 * db.close();
 * ```
 */
export class BulkRowWriter {
  readonly #db: SqliteDatabase;
  readonly #table: string;
  #full: SqliteStatement | undefined;
  readonly #params: SqliteValue[] = new Array(BULK_ROWS * PER_ROW);
  #at = 0;
  /** Rows written so far. */
  written = 0;

  constructor(db: SqliteDatabase, table = "kv") {
    this.#db = db;
    this.#table = table;
  }

  /** Adds a row: key group, state id, key bytes, original key (objects only), encoded value. */
  row(kg: number, sid: number, k: Uint8Array, ok: Uint8Array | null, v: Uint8Array): void {
    const p = this.#params;
    const at = this.#at;
    p[at] = kg;
    p[at + 1] = sid;
    p[at + 2] = k;
    p[at + 3] = ok;
    p[at + 4] = v;
    this.#at = at + PER_ROW;
    if (this.#at === p.length) {
      this.#full ??= this.#db.prepare(insert(this.#table, BULK_ROWS));
      this.#full.run(...p);
      this.written += BULK_ROWS;
      this.#at = 0;
    }
  }

  /** Writes the rows of the last, partial batch. */
  finish(): void {
    const rows = this.#at / PER_ROW;
    if (rows === 0) return;
    this.#db.prepare(insert(this.#table, rows)).run(...this.#params.slice(0, this.#at));
    this.written += rows;
    this.#at = 0;
  }
}

/**
 * Writes rows into the `kv` table of `db` (the working file `path`, named in errors) in one
 * transaction: `fill` packs them into a {@link BulkRowWriter}. Returns the rows written.
 * The WAL is off meanwhile: a restore runs before any record and no snapshot reads the file
 * yet, so each page is written once, not to the log and then to the file.
 * @throws {WeirError} `storage_failed` when SQLite refuses them; nothing of them is written
 *
 * @example
 * ```ts
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { loadInBulk } from "./sqlite_bulk.ts";
 * const db = sqliteDriver.open(":memory:");
 * db.exec("CREATE TABLE kv (kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID");
 * const n = loadInBulk(db, ":memory:", (w) => { for (let i = 0; i < 300; i++) w.row(i % 128, 0, Uint8Array.of(i & 255, i >> 8), null, Uint8Array.of(1)); });
 * console.assert(n === 300);
 * db.close();
 * ```
 */
export function loadInBulk(db: SqliteDatabase, path: string, fill: (w: BulkRowWriter) => void): number {
  const w = new BulkRowWriter(db);
  db.exec("PRAGMA main.journal_mode = OFF");
  try {
    inTransaction(db, () => {
      fill(w);
      w.finish();
    }, (err) => new WeirError("storage_failed", `Cannot restore keyed state into ${path}: ${err.message}`, { cause: err }));
  } finally {
    db.exec("PRAGMA main.journal_mode = WAL");
  }
  return w.written;
}
