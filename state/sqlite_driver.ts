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
  /**
   * The database's pages as one file image (sqlite3_serialize), as of this connection's
   * read transaction if one is open; absent where the runtime's driver has no such call.
   */
  serialize?(): Uint8Array;
}

/**
 * A connection to one database file on a thread of its own, which applies write-back
 * batches (sqlite_write_batch.ts) in the order they were sent, each in one transaction,
 * while the sending thread goes on; the RocksDB backend's background flush plays this role
 * in Flink. Sequence numbers start at 1.
 */
export interface SqliteBackgroundWriter {
  /**
   * The thread is up. Until it is, batches are the sender's to apply: a thread may need
   * the sender's event loop to start, so waiting for it then would never end.
   */
  ready(): boolean;
  /** Resolves true once the thread is up, false if it is not within `timeoutMs`. */
  whenReady(timeoutMs: number): Promise<boolean>;
  /**
   * Blocks the calling thread until the thread is up (true), or `timeoutMs` passed
   * (false). A node:worker_threads thread on Bun 1.4, Deno 2 and Node 20 comes up while
   * its sender blocks (measured: 50–180 ms on a loaded 2-core VM), but a runtime where it
   * needs the sender's event loop would wait out the timeout.
   */
  waitReady(timeoutMs: number): boolean;
  /**
   * Queues batches (copied before it returns: the caller reuses the array and its batches'
   * place), to be applied in order in one transaction; returns the sequence number.
   */
  send(batches: Uint8Array[]): number;
  /** Buffers made for sends so far; the other sends reused buffers the thread gave back (for tests and benchmarks). */
  readonly buffersMade: number;
  /** The sequence number of the last batch committed (0: none yet). */
  committed(): number;
  /**
   * True while the thread works on a message: its transaction, the WAL checkpoint after
   * it, until committed() moves. A snapshot held meanwhile would keep the checkpoint from
   * copying the whole WAL into the file, and the WAL would then never start over.
   */
  applying(): boolean;
  /**
   * Blocks the calling thread until batch `seq` is committed.
   * @throws {WeirError} `storage_failed` naming the file when a batch failed (every later
   *   call throws it too), or when the thread gave no sign for 60 s
   */
  waitFor(seq: number): void;
  /**
   * Blocks the calling thread until batch `seq` is committed (true) or `timeoutMs` passed
   * (false): a subtask paces itself to the writer in waits short enough to let records
   * through between them.
   * @throws {WeirError} `storage_failed` as waitFor()
   */
  waitForAtMost(seq: number, timeoutMs: number): boolean;
  /** Why a batch failed (a full disk), or undefined while none has. */
  failure(): string | undefined;
  /**
   * Waits for every batch sent, then closes the thread's connection, so that another may
   * replace or change the file; the next batch opens it again.
   * @throws {WeirError} `storage_failed` as waitFor()
   */
  closeConnection(): void;
  /**
   * Queues a copy of the file's pages, as the thread's connection sees the file after every
   * batch sent before it: a database file of its own (a base: a page image, which SQLite
   * reads as it is, so no row is copied one by one), handed to this thread in memory.
   * Done once `committed()` reaches the returned image's `seq`. With `partBytes`, the
   * writer's thread also checksums the image in parts of that many bytes (the parts an
   * upload puts), off the subtask's thread. A failure (out of memory) is the image's, named
   * `what` in its error, not the writer's: later batches go on.
   */
  pageImage(what: string, partBytes?: number): WriterImage;
  /** Ends the thread at once (batches not yet applied are dropped). Idempotent. */
  terminate(): void;
}

/** A page image a background writer was asked for (SqliteBackgroundWriter.pageImage). */
export interface WriterImage {
  /** Done once the writer's `committed()` reaches this. */
  readonly seq: number;
  /** True once the writer is done with it (copied, failed, or the writer failed or its thread ended first). */
  done(): boolean;
  /** Resolves once done() is true; never rejects (take() tells how it ended). */
  whenDone(): Promise<void>;
  /**
   * Once done, and once only: the image's bytes (a database file, in memory the writer's
   * thread filled, so this thread reads it without faulting fresh pages in), the rows of
   * its `kv` table, and with `partBytes` the checksums (checksumOf()) of its parts in order.
   * @throws {WeirError} `storage_failed` naming the image when it could not be made, or when
   *   the writer failed or its thread ended before it; `invariant_broken` when taken twice
   */
  take(): { bytes: Uint8Array; rows: number; partChecksums?: string[] };
  /**
   * Gives the image up (its snapshot was released): true when it was not finished yet
   * (the writer then skips it, or drops it once copied); false when it was. Its bytes are
   * dropped either way.
   */
  abandon(): boolean;
}

/** How a background writer runs (SqliteDriver.openWriter). */
export interface WriterOptions {
  /**
   * Its transactions run in a child process of their own rather than on its thread
   * (SqliteBackendOptions.writerProcess); Bun and Deno only.
   */
  process?: boolean;
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
  /** Writes `bytes` over an existing file's from `offset` on (a file written in order, its first pages last). */
  writeFileAt(path: string, offset: number, bytes: Uint8Array): void;
  /** Size of a file in bytes. */
  fileSize(path: string): number;
  /** `length` bytes of a file from `offset` (fewer at its end): a part of a database to upload. */
  readFileRange(path: string, offset: number, length: number): Uint8Array;
  /** Moves a file over another (same file system). */
  renameFile(from: string, to: string): void;
  /** The names in a directory (not recursive). */
  listDirectory(path: string): string[];
  /** Removes one file; an absent file is no error. */
  removeFile(path: string): void;
  /**
   * The running process, which working files are named after, so that a later process can
   * tell files whose owner was killed (sqlite_working_files.ts). `isAlive()` answers true
   * when it cannot tell (no permission to ask): a file is only removed when its owner is
   * known to be gone.
   */
  readonly process: {
    readonly pid: number;
    readonly host: string;
    /** The pid namespace the pid belongs to (Linux: /proc/self/ns/pid's link; "" where there is none). */
    readonly pidNamespace: string;
    isAlive(pid: number): boolean;
  };
  /**
   * A background writer to the database file at `path` (opened when the first batch comes),
   * whose key groups are below `keyGroups`, where the runtime has threads; absent
   * elsewhere, where write-backs run inline.
   */
  openWriter?(path: string, keyGroups: number, options?: WriterOptions): SqliteBackgroundWriter;
}
