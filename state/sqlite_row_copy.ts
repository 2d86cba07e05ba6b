/**
 * A native base copied row by row inside SQLite (sqlite_native.ts), where a page image
 * cannot serve: a working file over the image limit, a base of TTL states (it leaves their
 * expired rows out, Flink's cleanup in full snapshot), a store without a background writer
 * or a driver that cannot serialize. A second connection pins the working file in a WAL read
 * transaction at the snapshot point, and the rows go into the base file a slice at a time.
 * @module
 */
import { decode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import type { StateKind } from "./keyed_state.ts";
import type { SqliteDatabase, SqliteDriver } from "./sqlite_driver.ts";
import { liveStored } from "./sqlite_forms.ts";

const KV_SCHEMA = "(kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID";

/** What leaves a row copy: the TTL (ms) per state id, the state kinds, and the snapshot point's processing time. */
export interface RowCopyExpiry {
  ttls: ReadonlyMap<number, number>;
  kinds: ReadonlyMap<number, StateKind>;
  now: number;
}

/**
 * The rows of the working file at `workingPath`, as of construction (the snapshot point),
 * copied into a new database at `basePath`.
 *
 * @example
 * ```ts
 * import { RowCopyBase } from "./sqlite_row_copy.ts";
 * import { SCHEMA } from "./sqlite_store.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const working = `${sqliteDriver.tempDirectory()}/weir-doc-copy-${performance.now()}.db`;
 * const db = sqliteDriver.open(working);
 * db.exec(`PRAGMA journal_mode = WAL; ${SCHEMA} INSERT INTO kv VALUES (1, 0, x'01', NULL, x'02');`);
 * const copy = new RowCopyBase(sqliteDriver, working, `${working}.base`, undefined);
 * db.exec("INSERT INTO kv VALUES (2, 0, x'01', NULL, x'02')"); // after the snapshot point
 * while (!copy.step(100)) { }
 * console.assert(copy.rows === 1);
 * db.close();
 * sqliteDriver.removeFiles(working);
 * sqliteDriver.removeFiles(`${working}.base`);
 * ```
 */
export class RowCopyBase {
  /** Rows in the base so far. */
  rows = 0;
  #db: SqliteDatabase | undefined;
  readonly #expiry: RowCopyExpiry | undefined;
  /** The primary key of the last row copied. */
  #after: [number, number, Uint8Array] = [-1, 0, new Uint8Array(0)];

  /**
   * Pins the working file (the snapshot point) and creates the base's table.
   * @throws {WeirError} `storage_failed` when SQLite cannot
   */
  constructor(driver: SqliteDriver, workingPath: string, basePath: string, expiry: RowCopyExpiry | undefined) {
    this.#expiry = expiry && expiry.ttls.size > 0 ? expiry : undefined;
    try {
      const db = (this.#db = driver.open(workingPath));
      db.exec(`ATTACH '${basePath.replace(/'/g, "''")}' AS out`);
      // A base of TTL states gives back the pages of the expired rows it drops (auto_vacuum, set before its first table).
      db.exec(`${this.#expiry ? "PRAGMA out.auto_vacuum = FULL; " : ""}PRAGMA out.journal_mode = OFF; PRAGMA out.synchronous = OFF; CREATE TABLE out.kv ${KV_SCHEMA};`);
      db.exec("BEGIN");
      // A WAL read transaction takes its snapshot at its first read: this is the snapshot point.
      db.prepare("SELECT count(*) AS n FROM main.meta").get();
    } catch (e) {
      this.close();
      throw new WeirError("storage_failed", `Cannot start a snapshot of ${workingPath} (a copy into ${basePath}): ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Copies about `budget` rows (at least 256; Infinity: all); true once every row is, and
   * the pin on the working file ended.
   * @throws the SQLite error (a full disk): the caller fails its checkpoint
   */
  step(budget: number): boolean {
    const r = this.#db!;
    const limit = budget === Infinity ? -1 : Math.max(256, Math.floor(budget));
    const n = r.prepare("INSERT INTO out.kv SELECT * FROM main.kv WHERE (kg, s, k) > (?, ?, ?) ORDER BY kg, s, k LIMIT ?").run(...this.#after, limit).changes;
    this.rows += n;
    // The slice's last row is taken before expired rows leave it, so the next slice starts after it.
    const last = limit > 0 && n === limit ? r.prepare("SELECT kg, s, k FROM out.kv ORDER BY kg DESC, s DESC, k DESC LIMIT 1").get()! : undefined;
    this.rows -= this.#dropExpired(r);
    if (last) {
      this.#after = [last.kg as number, last.s as number, last.k as Uint8Array];
      return false;
    }
    r.exec("COMMIT");
    this.close();
    return true;
  }

  /**
   * Deletes from the base the rows of this slice (after `#after`) of TTL states whose value,
   * or every element or entry, expired; returns how many. Expired parts of a row that is
   * partly alive stay: a read never returns them.
   */
  #dropExpired(r: SqliteDatabase): number {
    const expiry = this.#expiry;
    if (!expiry) return 0;
    const { ttls, kinds, now } = expiry;
    const del = r.prepare("DELETE FROM out.kv WHERE kg = ? AND s = ? AND k = ?");
    let dropped = 0;
    for (const row of r.prepare("SELECT kg, s, k, v FROM out.kv WHERE (kg, s, k) > (?, ?, ?)").all(...this.#after)) {
      const ttl = ttls.get(row.s as number);
      const kind = kinds.get(row.s as number);
      if (ttl === undefined || kind === undefined) continue;
      if (liveStored(kind, decode(row.v as Uint8Array, "a value in the SQLite state database"), ttl, now) === undefined) {
        dropped += del.run(row.kg as number, row.s as number, row.k as Uint8Array).changes;
      }
    }
    return dropped;
  }

  /** Ends the pin (idempotent); the base file is the caller's. */
  close(): void {
    const r = this.#db;
    this.#db = undefined;
    if (!r) return;
    try {
      r.exec("ROLLBACK");
    } catch {
      // Not in a transaction (committed already).
    }
    r.close();
  }
}
