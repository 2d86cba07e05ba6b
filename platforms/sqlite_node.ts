/**
 * The SQLite driver on Deno and Node (22.5 and later): `node:sqlite`'s DatabaseSync behind
 * the SqliteDatabase contract of state/sqlite_driver.ts.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { WeirError } from "../errors.ts";
import type { SqliteDatabase, SqliteRow, SqliteStatement, SqliteValue } from "../state/sqlite_driver.ts";

/**
 * Opens a database file with node:sqlite.
 * @throws {WeirError} `storage_failed` naming the path when it cannot be opened
 *
 * @example
 * ```ts
 * import { openSqlite } from "./sqlite_node.ts";
 * const db = openSqlite(":memory:");
 * console.assert(db.prepare("SELECT 1 AS one").get()?.one === 1);
 * db.close();
 * ```
 */
export function openSqlite(path: string): SqliteDatabase {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (e) {
    throw new WeirError("storage_failed", `Cannot open the SQLite database ${path}: ${(e as Error).message}`, { cause: e });
  }
  return {
    path,
    exec: (sql) => db.exec(sql),
    prepare: (sql): SqliteStatement => {
      const s = db.prepare(sql);
      return {
        run: (...p: SqliteValue[]) => ({ changes: Number(s.run(...p).changes) }),
        get: (...p: SqliteValue[]) => s.get(...p) as SqliteRow | undefined,
        all: (...p: SqliteValue[]) => s.all(...p) as SqliteRow[],
      };
    },
    close: () => db.close(),
    // Deno's node:sqlite copies a database's pages; Node's (to 24 at least) cannot.
    ...(typeof (db as { serialize?: unknown }).serialize === "function" ? { serialize: () => (db as unknown as { serialize(): Uint8Array }).serialize() } : {}),
  };
}
