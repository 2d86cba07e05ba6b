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
