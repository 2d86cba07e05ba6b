/**
 * The SQLite driver on Bun: `bun:sqlite`'s Database behind the SqliteDatabase contract of
 * state/sqlite_driver.ts. Bun also offers node:sqlite; bun:sqlite is its native driver.
 * `bun:sqlite` is imported by a specifier Deno does not analyse, so that Deno (which
 * type-checks and doc-tests every file under platforms/) never tries to load it.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { SqliteDatabase, SqliteRow, SqliteStatement, SqliteValue } from "../state/sqlite_driver.ts";

/** The slice of bun:sqlite this file uses. */
interface BunDatabase {
  run(sql: string): unknown;
  prepare(sql: string): {
    run(...p: SqliteValue[]): { changes: number };
    get(...p: SqliteValue[]): unknown;
    all(...p: SqliteValue[]): unknown[];
  };
  close(): void;
  serialize(): Uint8Array;
}
type BunDatabaseClass = new (path: string, options: { create: boolean; strict: boolean }) => BunDatabase;

const BUN_SQLITE = "bun:sqlite";
let Database: BunDatabaseClass | undefined;

/** Loads bun:sqlite; call (and await) once before openSqlite. */
export async function loadBunSqlite(): Promise<void> {
  Database ??= ((await import(BUN_SQLITE)) as { Database: BunDatabaseClass }).Database;
}

/**
 * Opens a database file with bun:sqlite.
 * @throws {WeirError} `storage_failed` naming the path when it cannot be opened
 *
 * @example Runs under Bun only, so Deno's doc tests skip it.
 * ```ts ignore
 * import { loadBunSqlite, openSqlite } from "./sqlite_bun.ts";
 * await loadBunSqlite();
 * const db = openSqlite(":memory:");
 * console.assert(db.prepare("SELECT 1 AS one").get()?.one === 1);
 * db.close();
 * ```
 */
export function openSqlite(path: string): SqliteDatabase {
  if (!Database) throw new WeirError("invariant_broken", "bun:sqlite was used before loadBunSqlite()");
  let db: BunDatabase;
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
    serialize: () => db.serialize(),
  };
}
