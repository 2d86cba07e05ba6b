/**
 * Reading the SQLite backend's working file as it was at a snapshot point: a second
 * connection whose read transaction pins a WAL snapshot, read in primary-key order a page
 * at a time (canonical checkpoints and savepoints, sqlite_canonical.ts).
 * @module
 */
import { assert } from "../errors.ts";
import type { SqliteDatabase, SqliteStatement } from "./sqlite_driver.ts";

/** One row as stored: key group, state id, key bytes, original key (objects only), value. */
export interface StoredRow {
  kg: number;
  s: number;
  k: Uint8Array;
  ok: Uint8Array | null;
  v: Uint8Array;
}

/** Rows in (key group, state, key) order from a pinned read transaction, a page at a time. */
export class SqliteSnapshotReader {
  readonly #db: SqliteDatabase;
  readonly #page: SqliteStatement;
  #after: [number, number, Uint8Array] = [-1, 0, new Uint8Array(0)];
  #done = false;
  #closed = false;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    db.exec("BEGIN");
    // A WAL read transaction takes its snapshot at its first read, not at BEGIN.
    db.prepare("SELECT count(*) AS n FROM meta").get();
    this.#page = db.prepare("SELECT kg, s, k, ok, v FROM kv WHERE (kg, s, k) > (?, ?, ?) ORDER BY kg, s, k LIMIT ?");
  }

  /** True once every row was returned. */
  get done(): boolean {
    return this.#done;
  }

  /** The next `limit` rows (fewer at the end). */
  next(limit: number): StoredRow[] {
    if (this.#done) return [];
    const rows = this.#page.all(this.#after[0], this.#after[1], this.#after[2], limit) as unknown as StoredRow[];
    if (limit < 0 || rows.length < limit) this.#done = true;
    const last = rows[rows.length - 1];
    if (last) this.#after = [last.kg, last.s, last.k];
    return rows;
  }

  /** Starts again at the first row, in the same read transaction (the same snapshot). */
  rewind(): void {
    assert(!this.#closed, () => "A closed SQLite snapshot reader was rewound");
    this.#after = [-1, 0, new Uint8Array(0)];
    this.#done = false;
  }

  /** Ends the read transaction and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.exec("COMMIT");
    } finally {
      this.#db.close();
    }
  }
}
