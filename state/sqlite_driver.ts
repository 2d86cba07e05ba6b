/**
 * The slice of an embedded SQLite driver that the SQLite keyed state backend uses. The
 * contract lives in the core; `platforms/sqlite.ts` picks the implementation of the
 * runtime (`bun:sqlite` on Bun, `node:sqlite` on Deno and Node), so no core file imports a
 * runtime's module. Values bound and read are numbers, strings, `Uint8Array` and null.
 * @module
 */

/** A value bound to or read from a statement. */
export type SqliteValue = number | string | Uint8Array | null;

/** One row, by column name. */
export type SqliteRow = Record<string, SqliteValue>;

/** A prepared statement (node:sqlite's StatementSync, bun:sqlite's Statement). */
export interface SqliteStatement {
  /** Runs the statement; the changes count is what SQLite reports. */
  run(...params: SqliteValue[]): { changes: number };
  /** The first row, or undefined. */
  get(...params: SqliteValue[]): SqliteRow | undefined;
  /** Every row. */
  all(...params: SqliteValue[]): SqliteRow[];
}

/** An open database connection. */
export interface SqliteDatabase {
  /** The file path it was opened with. */
  readonly path: string;
  /** Runs one or more statements without results. */
  exec(sql: string): void;
  /** Prepares (and caches nowhere) a statement. */
  prepare(sql: string): SqliteStatement;
  /** Closes the connection; nothing may be called on it or its statements after. */
  close(): void;
}

/** A runtime's SQLite driver and the few file operations its working files need. */
export interface SqliteDriver {
  /** "bun:sqlite" or "node:sqlite", for messages and benchmarks. */
  readonly name: string;
  /**
   * Opens (creating if needed) the database file at `path`.
   * @throws {WeirError} `storage_failed` naming the path when SQLite cannot open it
   */
  open(path: string): SqliteDatabase;
  /** Removes a database file and its `-wal`/`-shm` companions; absent files are no error. */
  removeFiles(path: string): void;
  /** Creates the directory (and parents) if needed. */
  ensureDirectory(path: string): void;
  /** The operating system's temporary directory: the default home of working files. */
  tempDirectory(): string;
  /** Reads a whole file (a database to upload to checkpoint storage). */
  readFile(path: string): Uint8Array;
  /** Writes a whole file, or appends to it (a database downloaded from checkpoint storage in parts). */
  writeFile(path: string, bytes: Uint8Array, append?: boolean): void;
  /** Size of a file in bytes. */
  fileSize(path: string): number;
  /** `length` bytes of a file from `offset` (fewer at its end): a part of a database to upload. */
  readFileRange(path: string, offset: number, length: number): Uint8Array;
  /** Moves a file over another (same file system). */
  renameFile(from: string, to: string): void;
}
