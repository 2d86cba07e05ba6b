/**
 * The SQLite backend's own checkpoint format (sqlite_native.ts writes it,
 * sqlite_native_restore.ts reads it): what a native handle's chain of files is, and when a
 * chain wants a new base.
 * @module
 */
import type { SharedStateRef } from "./backend.ts";
import type { StateKind } from "./keyed_state.ts";

/** The version of this format; restoring a newer one is refused. Version 1's changelogs are SQLite files. */
export const SQLITE_NATIVE_VERSION = 2;
/** Changelogs after which a chain wants a new base. */
const CHANGELOGS_MAX = 8;

/** A state as a native file records it. */
export type NativeState = [name: string, sid: number, kind: StateKind, ttl: boolean];

/** One file of a chain: a base or a changelog, stored in `parts` shared refs. */
export interface NativeFile {
  kind: "base" | "changelog";
  parts: number;
  rows: number;
}

/** What a native handle's `inline` bytes hold. */
export interface NativeLayout {
  states: NativeState[];
  files: NativeFile[];
}

/** The chain the next checkpoint extends: the previous handle's files and refs. */
export interface NativeChain {
  files: NativeFile[];
  shared: SharedStateRef[];
}

/**
 * True when the chain wants a new base: no chain yet, 8 changelogs after the base already,
 * or changelogs holding more records than the state at the base had rows, which bounds what
 * a restore replays to about the size of the state (`factor` times those bounds: the
 * chain a checkpoint still extends while materializations fail). A base is two files: its
 * rows, and the values captured at its snapshot point.
 *
 * @example
 * ```ts
 * import { needsBase } from "./sqlite_native_format.ts";
 * const base = { kind: "base" as const, parts: 1, rows: 900 };
 * const captured = { kind: "changelog" as const, parts: 1, rows: 100 };
 * const log = (rows: number) => ({ kind: "changelog" as const, parts: 1, rows });
 * console.assert(needsBase(undefined));
 * console.assert(!needsBase({ files: [base, captured, log(10)], shared: [] }));
 * console.assert(!needsBase({ files: [base, captured, log(600), log(400)], shared: [] }));
 * console.assert(needsBase({ files: [base, captured, log(600), log(401)], shared: [] }));
 * // Every key was captured (none written back): the base is its own changelog.
 * console.assert(!needsBase({ files: [{ kind: "base", parts: 1, rows: 0 }, { kind: "changelog", parts: 1, rows: 10_000 }, log(100)], shared: [] }));
 * ```
 */
export function needsBase(previous: NativeChain | undefined, factor = 1): boolean {
  if (!previous) return true;
  const [base, captured, ...changelogs] = previous.files;
  if (base?.kind !== "base" || captured?.kind !== "changelog") return true;
  const logRows = changelogs.reduce((n, f) => n + f.rows, 0);
  return changelogs.length >= CHANGELOGS_MAX * factor || logRows > (base.rows + captured.rows) * factor;
}
