/**
 * One SQLite transaction around a piece of work, as the SQLite backend writes its files
 * (write-back batches, bulk loads, changelog applies): committed when the work returns,
 * rolled back when it throws, and the error named by its cause.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { SqliteDatabase } from "./sqlite_driver.ts";

/**
 * Runs `work` in one transaction of `db` and returns what it returns. When `work` or the
 * COMMIT throws, the transaction is rolled back; a WeirError passes as it is, any other
 * error becomes `wrap(error)` (which should keep it as its cause). A ROLLBACK that fails
 * (SQLite may have rolled back already, after a failed COMMIT) never hides that error.
 *
 * @example
 * ```ts
 * import { inTransaction } from "./sqlite_transaction.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { WeirError } from "../errors.ts";
 * const db = sqliteDriver.open(":memory:");
 * db.exec("CREATE TABLE t (a INTEGER PRIMARY KEY)");
 * const wrap = (e: Error) => new WeirError("storage_failed", `Cannot write t: ${e.message}`, { cause: e });
 * try {
 *   inTransaction(db, () => db.exec("INSERT INTO t VALUES (1), (1)"), wrap);
 * } catch (e) {
 *   console.assert(e instanceof WeirError && e.code === "storage_failed");
 * }
 * console.assert(db.prepare("SELECT count(*) AS n FROM t").get()?.n === 0);
 * db.close();
 * ```
 */
export function inTransaction<T>(db: SqliteDatabase, work: () => T, wrap: (error: Error) => WeirError): T {
  db.exec("BEGIN");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    try {
      db.exec("ROLLBACK");
    } catch {
      // No transaction left to roll back: SQLite ended it with the failure.
    }
    if (err instanceof WeirError) throw err;
    throw wrap(err instanceof Error ? err : new Error(String(err)));
  }
}

/** What SQLite and the file system say when the local disk, not the data, failed. */
const LOCAL_FAILURE = /SQLITE_(FULL|IOERR|CANTOPEN|READONLY|NOMEM|BUSY|LOCKED)|database or disk is full|disk I\/O error|unable to open database file|readonly database|out of memory|database is locked|ENOSPC|EIO\b|EROFS|EACCES|EMFILE|ENFILE/i;

/**
 * The error for restored state SQLite could not read or apply (`doing` says which, as in
 * "apply the SQLite state file f"): `storage_failed` when the local disk failed (full, an
 * I/O error, read-only), which a later attempt may get past, else `checkpoint_corrupt`
 * (the file is not what it should be; every attempt would meet it, so the job fails
 * without restarts).
 *
 * @example
 * ```ts
 * import { restoreFailure } from "./sqlite_transaction.ts";
 * console.assert(restoreFailure("apply f", new Error("database or disk is full")).code === "storage_failed");
 * console.assert(restoreFailure("apply f", new Error("file is not a database")).code === "checkpoint_corrupt");
 * ```
 */
export function restoreFailure(doing: string, err: unknown): WeirError {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  const local = LOCAL_FAILURE.test(`${typeof code === "string" ? code : ""} ${e.message}`);
  return new WeirError(local ? "storage_failed" : "checkpoint_corrupt", `Cannot ${doing}: ${e.message}`, { cause: e });
}
