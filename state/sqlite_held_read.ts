/**
 * A read transaction held across a subtask's point reads, so that each read does not begin
 * and end one of its own (in WAL mode each such pair takes the file's and the WAL index's
 * locks: fcntl calls and, with a background writer on another connection of the process,
 * contended mutexes). Held, the connection reads the file as of the transaction's start
 * (SQLite's WAL snapshot isolation), so it is started again as soon as the background
 * writer has committed anything since: a key whose pending write-back was forgotten once
 * committed must be read from a snapshot that has that commit. The store holds none while
 * the writer works on a batch (SqliteBackgroundWriter.applying()): the WAL checkpoint after
 * a commit copies frames only up to the oldest snapshot, and a WAL never copied whole is
 * never started over (it grew by some 30 MB a second in bench/sqlite_reads.ts).
 * @module
 */
import type { SqliteDatabase } from "./sqlite_driver.ts";

/** No transaction held. */
const NONE = -1;

/**
 * One connection's held read transaction, keyed by the writer's commit count it began
 * after.
 *
 * ```ts
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * import { HeldRead } from "./sqlite_held_read.ts";
 * const db = sqliteDriver.open(":memory:");
 * const held = new HeldRead(db);
 * held.holdAfter(0); // BEGIN
 * held.holdAfter(0); // still held: nothing committed since
 * held.holdAfter(1); // COMMIT, BEGIN: a snapshot that has commit 1
 * held.end();
 * db.close();
 * ```
 */
export class HeldRead {
  #db: SqliteDatabase;
  /** The writer's commit count when the transaction held began; NONE when none is. */
  #after = NONE;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  /** True while a transaction is held. */
  get held(): boolean {
    return this.#after !== NONE;
  }

  /**
   * Makes sure a read transaction is held that began once `committed` (the writer's commit
   * count, read before this call) was reached: the one held if it began at that count, or
   * else a new one.
   */
  holdAfter(committed: number): void {
    if (this.#after === committed) return;
    this.end();
    this.#db.exec("BEGIN");
    this.#after = committed;
  }

  /** Ends the transaction held, if any: before any other use of the connection. */
  end(): void {
    if (this.#after === NONE) return;
    this.#after = NONE;
    try {
      this.#db.exec("COMMIT");
    } catch (e) {
      // A read that failed with an I/O error or out of memory made SQLite roll the
      // transaction back itself: there is nothing to end.
      if (!/no transaction is active/.test((e as Error).message)) throw e;
    }
  }
}
