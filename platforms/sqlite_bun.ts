/**
 * The SQLite driver on Bun: `bun:sqlite`'s Database behind the SqliteDatabase contract of
 * state/sqlite_driver.ts. Bun also offers node:sqlite; bun:sqlite is its native driver.
 * @module
 */
import { Database } from "bun:sqlite";
import { WeirError } from "../errors.ts";
import type { SqliteDatabase, SqliteRow, SqliteStatement, SqliteValue } from "../state/sqlite_driver.ts";

/**
 * Opens a database file with bun:sqlite.
 * @throws {WeirError} `storage_failed` naming the path when it cannot be opened
 *
 * @example Runs under Bun only, so Deno's doc tests skip it.
 * ```ts ignore
 * import { openSqlite } from "./sqlite_bun.ts";
 * const db = openSqlite(":memory:");
 * console.assert(db.prepare("SELECT 1 AS one").get()?.one === 1);
 * db.close();
 * ```
 */
export function openSqlite(path: string): SqliteDatabase {
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
  } catch (e) {
    throw new WeirError("storage_failed", `Cannot open the SQLite database ${path}: ${(e as Error).message}`, { cause: e });
  }
  return {
    path,
    exec: (sql) => void db.run(sql),
    prepare: (sql): SqliteStatement => {
      const s = db.prepare(sql);
      return {
        run: (...p: SqliteValue[]) => ({ changes: s.run(...p).changes }),
        get: (...p: SqliteValue[]) => (s.get(...p) ?? undefined) as SqliteRow | undefined,
        all: (...p: SqliteValue[]) => s.all(...p) as SqliteRow[],
      };
    },
    close: () => db.close(),
  };
}
