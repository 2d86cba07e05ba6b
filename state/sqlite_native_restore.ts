/**
 * Restoring the SQLite backend's own checkpoints (sqlite_native.ts): a handle's layout,
 * its files downloaded and checked part by part, a base adopted as the working file, and
 * files applied in order.
 * @module
 */
import { checksumOf } from "../checkpoint/checksum.ts";
import { decode } from "../codec/cbor.ts";
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { IncrementalKeyedState, KeyedStateHandle, SharedStateRef } from "./backend.ts";
import type { KeyGroupRange } from "./key_group.ts";
import { pagedFile, tableRootPage } from "./sqlite_btree_cells.ts";
import { ChainChanges, type SortedChanges } from "./sqlite_chain_changes.ts";
import { REBUILD_BASE_BYTES_MAX, rebuildChain, upsertChanges } from "./sqlite_chain_rebuild.ts";
import { applyChangelog } from "./sqlite_changelog.ts";
import type { SqliteDriver } from "./sqlite_driver.ts";
import { type NativeFile, type NativeLayout, type NativeState, SQLITE_NATIVE_VERSION } from "./sqlite_native_format.ts";
import type { SqliteStateStore } from "./sqlite_store.ts";
import { inTransaction, restoreFailure } from "./sqlite_transaction.ts";

/**
 * The layout of a native handle.
 * @throws {WeirError} `state_backend_mismatch` for a newer version; `checkpoint_corrupt`
 *
 * @example
 * ```ts
 * import { readLayout } from "./sqlite_native_restore.ts";
 * import { WeirError } from "../errors.ts";
 * try {
 *   readLayout({ format: "incremental", backend: "sqlite", version: 9, range: { start: 0, end: 7 }, shared: [] });
 * } catch (e) {
 *   console.assert(e instanceof WeirError && e.code === "state_backend_mismatch" && e.message.includes("version 9"));
 * }
 * ```
 */
export function readLayout(handle: IncrementalKeyedState): NativeLayout {
  if (handle.version > SQLITE_NATIVE_VERSION) {
    throw new WeirError("state_backend_mismatch", `Keyed state written by the "sqlite" backend in format version ${handle.version} cannot be restored by this "sqlite" backend (format version ${SQLITE_NATIVE_VERSION}); restore from a savepoint instead`);
  }
  const layout = handle.inline ? decode<NativeLayout>(handle.inline, "the SQLite state layout") : undefined;
  const parts = layout?.files.reduce((n, f) => n + f.parts, 0);
  if (!layout || !Array.isArray(layout.states) || parts !== handle.shared.length) {
    throw new WeirError("checkpoint_corrupt", `The SQLite state handle of range ${handle.range.start}-${handle.range.end} does not describe its ${handle.shared.length} shared files`);
  }
  return layout;
}

/**
 * Downloads one file of a chain into `path`, checking every part.
 * @throws {WeirError} `checkpoint_corrupt` for a missing or damaged part
 */
export async function downloadFile(storage: StorageAdapter, driver: SqliteDriver, refs: SharedStateRef[], path: string): Promise<void> {
  driver.removeFiles(path);
  // A changelog may be empty: no parts, and still a file.
  if (refs.length === 0) driver.writeFile(path, new Uint8Array(0));
  for (let i = 0; i < refs.length; i++) driver.writeFile(path, await downloadPart(storage, refs[i]), i > 0);
}

/** Writes a file given as parts (none: an empty file). */
function writeParts(driver: SqliteDriver, path: string, parts: readonly Uint8Array[]): void {
  driver.writeFile(path, parts[0] ?? new Uint8Array(0));
  for (let i = 1; i < parts.length; i++) driver.writeFile(path, parts[i], true);
}

/**
 * Downloads the parts of one file of a chain into memory, checking each.
 * @throws {WeirError} `checkpoint_corrupt` for a missing or damaged part
 */
async function downloadParts(storage: StorageAdapter, refs: SharedStateRef[]): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for (const ref of refs) parts.push(await downloadPart(storage, ref));
  return parts;
}

async function downloadPart(storage: StorageAdapter, ref: SharedStateRef): Promise<Uint8Array> {
  const bytes = await storage.get(ref.key);
  if (!bytes) throw new WeirError("checkpoint_corrupt", `The SQLite state file part ${ref.key} is missing from ${storage.description}`);
  if (bytes.length !== ref.size || checksumOf(bytes) !== ref.checksum) {
    throw new WeirError("checkpoint_corrupt", `The SQLite state file part ${ref.key} in ${storage.description} does not match its checksum`);
  }
  return bytes;
}

/**
 * Makes a downloaded base the store's working file and drops the rows outside `range`.
 * @throws {WeirError} `invariant_broken` when the store has unwritten values
 */
export function adoptBase(store: SqliteStateStore, path: string, range: KeyGroupRange): void {
  store.adoptFile(path);
  const db = store.db;
  // Two range deletes, each an index seek: "kg < a OR kg > b" would scan every row.
  db.prepare("DELETE FROM kv WHERE kg < ?").run(range.start);
  db.prepare("DELETE FROM kv WHERE kg > ?").run(range.end);
  db.exec("DROP TABLE IF EXISTS gone");
}

/**
 * Copies the rows of `range` from a downloaded file into the store, each state id of the
 * file mapped to the store's (`[theirs, ours]`): a base's rows, or a changelog's records in
 * order (tombstones delete), read as written by format `version`.
 * @throws {WeirError} `checkpoint_corrupt` when SQLite cannot apply the file, `storage_failed`
 *   when the local disk fails (restoreFailure())
 */
export function applyFile(store: SqliteStateStore, path: string, range: KeyGroupRange, changelog: boolean, sids: [theirs: number, ours: number][], version = SQLITE_NATIVE_VERSION): void {
  const db = store.db;
  store.clearCache();
  store.forgetWrittenKeys();
  const records = changelog && version >= 2;
  let bytes: Uint8Array | undefined;
  try {
    if (records) bytes = store.driver.readFile(path);
  } catch (e) {
    // Written to the local disk just before (its checksum checked): reading it back is the disk's business.
    throw new WeirError("storage_failed", `Cannot read the SQLite changelog file ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!records) db.exec(`ATTACH '${path.replace(/'/g, "''")}' AS f`);
  // A restore runs before any record and no snapshot reads the file yet: without the WAL
  // each changed page is written once, not to the log and then to the file.
  db.exec("PRAGMA main.journal_mode = OFF");
  try {
    inTransaction(db, () => {
      if (bytes) return applyChangelog(db, bytes, path, range, new Map(sids));
      for (const [theirs, ours] of sids) {
        db.prepare("INSERT OR REPLACE INTO main.kv SELECT kg, ?, k, ok, v FROM f.kv WHERE s = ? AND kg BETWEEN ? AND ?").run(ours, theirs, range.start, range.end);
        if (changelog) {
          // The whole primary key in the IN list: one index seek per deleted key.
          db.prepare("DELETE FROM main.kv WHERE (kg, s, k) IN (SELECT kg, ?, k FROM f.gone WHERE s = ? AND kg BETWEEN ? AND ?)").run(ours, theirs, range.start, range.end);
        }
      }
    }, (err) => restoreFailure(`apply the SQLite state file ${path}`, err));
  } finally {
    if (!records) db.exec("DETACH f");
    db.exec("PRAGMA main.journal_mode = WAL");
  }
}

/**
 * The handles of this backend's own format among `states` whose key groups meet `range`,
 * every native handle's layout checked.
 * @throws {WeirError} `state_backend_mismatch` for another backend's own format or a newer
 *   version of this one's; `checkpoint_corrupt`
 */
export function nativeHandles(states: KeyedStateHandle[], range: KeyGroupRange): IncrementalKeyedState[] {
  const native: IncrementalKeyedState[] = [];
  for (const state of states) {
    if (state.format === "canonical") continue;
    if (state.backend !== "sqlite") {
      throw new WeirError("state_backend_mismatch", `Keyed state written by the "${state.backend}" backend in its own format cannot be restored by the "sqlite" backend; restore from a savepoint instead`);
    }
    readLayout(state);
    if (state.range.end >= range.start && state.range.start <= range.end) native.push(state);
  }
  return native;
}

/**
 * Downloads every file of `handle`'s chain (its `layout`) in order to a path `pathOf()`
 * gives, hands it to `take`, and removes it after.
 * @throws {WeirError} `checkpoint_corrupt` for a missing or damaged part
 */
export async function forEachChainFile(
  storage: StorageAdapter,
  driver: SqliteDriver,
  handle: IncrementalKeyedState,
  layout: NativeLayout,
  pathOf: () => string,
  take: (path: string, file: NativeFile) => void,
): Promise<void> {
  let at = 0;
  for (const file of layout.files) {
    const path = pathOf();
    await downloadFile(storage, driver, handle.shared.slice(at, at + file.parts), path);
    at += file.parts;
    try {
      take(path, file);
    } finally {
      driver.removeFiles(path);
    }
  }
}

/** A file of a chain downloaded into memory: what it is, and its bytes in the parts they were stored in. */
export interface ChainFile {
  file: NativeFile;
  parts: Uint8Array[];
}

/**
 * Downloads every file of `handle`'s chain (its `layout`) into memory, in order (a merge
 * reads them together, and writing them to disk first only to read them back cost a pass
 * over each).
 * @throws {WeirError} `checkpoint_corrupt` for a missing or damaged part
 */
export async function downloadChain(storage: StorageAdapter, handle: IncrementalKeyedState, layout: NativeLayout): Promise<ChainFile[]> {
  const files: ChainFile[] = [];
  let at = 0;
  for (const file of layout.files) {
    files.push({ file, parts: await downloadParts(storage, handle.shared.slice(at, at + file.parts)) });
    at += file.parts;
  }
  return files;
}

/**
 * Base rows per key a chain changes above which the restore adopts the base as it is and
 * upserts the changes in key order; with more changes it merges the two into a new file in
 * one pass over the base (mergeChainFiles()). Measured at 1 M keys on a 2-core VM (Bun,
 * 2026-12-02): 122 k changed keys upserted in 347–400 ms and merged in 362–369 ms; 743 k
 * upserted in 1 101–1 270 ms and merged in 353–371 ms. Fewer changes cost an upsert each,
 * the merge its whole pass.
 */
const MERGE_ROWS_PER_CHANGE = 8;

/**
 * True when `handle`'s chain (its `layout`, format version 2: a base and changelogs) is
 * restored into an empty backend in memory: its changelogs' last records per key found and
 * sorted at once (sqlite_chain_changes.ts), then merged with the base or upserted into it.
 * False for a base too large to hold in memory, which is applied file by file.
 */
export function restoresInMemory(handle: IncrementalKeyedState, layout: NativeLayout): boolean {
  const [base, ...changelogs] = layout.files;
  if (handle.version < 2 || base?.kind !== "base" || !changelogs.every((f) => f.kind === "changelog")) return false;
  const baseBytes = handle.shared.slice(0, base.parts).reduce((n, r) => n + r.size, 0);
  return baseBytes <= REBUILD_BASE_BYTES_MAX;
}

/** The last record of each key across a downloaded chain's changelogs, in key order, each state id kept. */
export function chainChanges(files: ChainFile[], layout: NativeLayout, range: KeyGroupRange, what: string): SortedChanges {
  const bytes = files.reduce((n, f) => (f.file.kind === "changelog" ? n + f.parts.reduce((m, p) => m + p.length, 0) : n), 0);
  const changes = new ChainChanges(range, new Map(layout.states.map(([, sid]) => [sid, sid])), bytes);
  files.forEach(({ file, parts }, i) => {
    // In the parts as downloaded: joining them was a copy of every changelog into fresh memory.
    if (file.kind === "changelog") changes.add({ parts, what: `file ${i + 1} of ${what}` });
  });
  return changes.lastInKeyOrder();
}

/**
 * Restores a chain of format version 2 into an empty `store` as one merge of its base and
 * its changelogs' last records (`changes`, chainChanges()), each state id kept. Returns
 * false, having changed nothing, when the chain does not suit it: a base too large to read
 * into memory, or a record that needs an overflow page.
 * @throws {WeirError} `checkpoint_corrupt` for a damaged file; `storage_failed`
 */
export function mergeChainFiles(store: SqliteStateStore, base: ChainFile, changes: SortedChanges, range: KeyGroupRange, what: string): boolean {
  const file = pagedFile(base.parts);
  if (base.file.kind !== "base" || file.length > REBUILD_BASE_BYTES_MAX) return false;
  const baseWhat = `the base of ${what}`;
  const kvRoot = tableRootPage(file.parts[0], "kv") ?? rootPageBySqlite(store, file.parts, baseWhat);
  return rebuildChain(store, { file, kvRoot, what: baseWhat }, changes, range);
}

/**
 * The root page of a base's `kv` table as SQLite reads it, for a schema tableRootPage()
 * cannot read alone (never written by this backend, but a file may hold one); the bytes
 * are written beside the store's working file for SQLite to open.
 * @throws {WeirError} `storage_failed` when the file cannot be written; `checkpoint_corrupt`
 *   when SQLite cannot read it or it has no `kv` table
 */
function rootPageBySqlite(store: SqliteStateStore, parts: readonly Uint8Array[], what: string): number {
  const { driver } = store;
  const path = `${store.path}.schema.db`;
  try {
    writeParts(driver, path, parts);
  } catch (e) {
    driver.removeFiles(path);
    throw new WeirError("storage_failed", `Cannot write ${what} to ${path} to read its schema: ${(e as Error).message}`, { cause: e });
  }
  try {
    const db = driver.open(path);
    try {
      const root = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'kv'").get()?.rootpage;
      if (typeof root === "number") return root;
    } finally {
      db.close();
    }
  } catch (e) {
    throw restoreFailure(`read the schema of ${what}`, e);
  } finally {
    driver.removeFiles(path);
  }
  throw new WeirError("checkpoint_corrupt", `${what[0].toUpperCase()}${what.slice(1)} has no kv table`);
}

/** What restoring native chains asks of the backend they restore into. */
export interface ChainTarget {
  store: SqliteStateStore;
  range: KeyGroupRange;
  /** Where to download the next file. */
  pathOf(): string;
  /** True while the backend holds no state: a base is adopted (or a chain merged), not copied. */
  empty(): boolean;
  /** Makes a downloaded base the working file and declares its states. */
  adopt(path: string, states: NativeState[]): void;
  /** Copies a downloaded file's rows into the working file, its states mapped to the backend's. */
  apply(path: string, states: NativeState[], changelog: boolean, version: number): void;
  /** The working file was made whole from a chain (mergeChainFiles()): declares its states. */
  merged(states: NativeState[]): void;
}

/**
 * Restores each handle's chain into `target`: into an empty backend in memory when
 * restoresInMemory() says so (the base adopted and the changes upserted in key order, or
 * both merged in one pass when the changes are many), else file by file, one downloaded at
 * a time. `storageOf` says where a handle's files are.
 * @throws {WeirError} `checkpoint_corrupt`, `storage_failed`; what `storageOf` throws
 */
export async function restoreChains(storageOf: (h: IncrementalKeyedState) => StorageAdapter, handles: IncrementalKeyedState[], target: ChainTarget): Promise<void> {
  const driver = target.store.driver;
  for (const h of handles) {
    const storage = storageOf(h);
    const layout = readLayout(h);
    const take = (path: string, file: NativeFile) => {
      if (file.kind === "base" && target.empty()) target.adopt(path, layout.states);
      else target.apply(path, layout.states, file.kind === "changelog", h.version);
    };
    const takeParts = (parts: readonly Uint8Array[], file: NativeFile) => {
      const path = target.pathOf();
      try {
        writeParts(driver, path, parts);
        take(path, file);
      } finally {
        driver.removeFiles(path);
      }
    };
    if (!(target.empty() && restoresInMemory(h, layout))) {
      await forEachChainFile(storage, driver, h, layout, target.pathOf, take);
      continue;
    }
    const files = await downloadChain(storage, h, layout);
    const what = `the chain of key groups ${h.range.start}-${h.range.end} from ${h.shared[0]?.key ?? "no file"} in ${storage.description}`;
    const changes = chainChanges(files, layout, target.range, what);
    const [base] = files;
    if (changes.count * MERGE_ROWS_PER_CHANGE < base.file.rows) {
      takeParts(base.parts, base.file);
      upsertChanges(target.store, changes, what);
      continue;
    }
    if (mergeChainFiles(target.store, base, changes, target.range, what)) {
      target.merged(layout.states);
      continue;
    }
    // A record too large for the merge: file by file after all.
    for (const { file, parts } of files) takeParts(parts, file);
  }
}
