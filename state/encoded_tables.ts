/**
 * Canonical tables read from a state file whose key groups stay encoded until something
 * reads them: a table's `groups` decode on first access (the heap backend, timers), and
 * a backend that can use the bytes as they are (the SQLite backend copies keys and values
 * into its records, state/sqlite_restore_file.ts) asks {@link encodedSource} for where
 * each key group lies. Decoding 1 M entries into values only to encode them again took
 * 50–450 ms of a 0.3–0.6 s restore.
 * @module
 */
import { type CborScanner, MAJOR_ARRAY, MAJOR_MAP, MAJOR_TEXT, MAJOR_UINT } from "../codec/cbor_scan.ts";
import { decodeItem } from "../codec/cbor.ts";
import type { KeyedTableSnapshot } from "./keyed_state.ts";

/** One key group of an encoded table: its entries array item in the source bytes. */
export interface EncodedGroupRange {
  keyGroup: number;
  /** How many `[key, value]` entries the array holds. */
  entries: number;
  /** Where the entries array item starts (its head) and ends. */
  start: number;
  end: number;
  /** Where its first entry starts. */
  first: number;
}

/** Where a restored table's key groups lie in the bytes it was read from. */
export interface EncodedTableSource {
  bytes: Uint8Array;
  groups: EncodedGroupRange[];
  /** Names the data in errors. */
  what: string;
}

const sources = new WeakMap<object, EncodedTableSource>();

/**
 * The encoded form of a table read by {@link readLazyTables} whose groups nobody has
 * replaced, else undefined.
 */
export function encodedSource(table: unknown): EncodedTableSource | undefined {
  return typeof table === "object" && table !== null ? sources.get(table) : undefined;
}

/**
 * Reads the map of canonical tables at the scanner's position (a state file's `keyed`
 * part) and leaves the scanner after it. A table of the usual shape (`{kind, ttl?,
 * groups}` with `[keyGroup, entries]` groups) comes back with `groups` decoded on first
 * access; any other is decoded at once, as decode() would.
 * @throws {WeirError} `storage_corrupt` for bytes that end early or are not CBOR decode() reads
 *
 * @example
 * ```ts
 * import { CborScanner } from "../codec/cbor_scan.ts";
 * import { encode } from "../codec/cbor.ts";
 * import { encodedSource, readLazyTables } from "./encoded_tables.ts";
 * const bytes = encode({ n: { kind: "value", groups: [[3, [["a", 1], ["b", 2]]]] } });
 * const tables = readLazyTables(new CborScanner(bytes, 1, "doc"), "doc");
 * console.assert(encodedSource(tables.n)?.groups[0].entries === 2);
 * console.assert(tables.n.groups[0][1][1][0] === "b");
 * ```
 */
export function readLazyTables(s: CborScanner, what: string): Record<string, KeyedTableSnapshot> {
  const bytes = s.bytes;
  const start = s.at;
  s.head();
  if (s.major !== MAJOR_MAP) {
    s.at = start;
    s.skip();
    return decodeItem(bytes, start, s.at, what);
  }
  const out: Record<string, KeyedTableSnapshot> = {};
  for (let n = s.argument; n > 0; n--) {
    const keyAt = s.at;
    s.head();
    s.at = keyAt;
    if (s.major !== MAJOR_TEXT) {
      // Not a table name decode() would give as a string key: decode the whole map.
      s.at = start;
      s.skip();
      return decodeItem(bytes, start, s.at, what);
    }
    const name = s.propertyName();
    out[name] = lazyTable(s, what);
  }
  return out;
}

/** The table item at the scanner: lazily decoded groups when its shape allows, else decoded. */
function lazyTable(s: CborScanner, what: string): KeyedTableSnapshot {
  const bytes = s.bytes;
  const start = s.at;
  const eager = (): KeyedTableSnapshot => {
    s.at = start;
    s.skip();
    return decodeItem(bytes, start, s.at, what);
  };
  s.head();
  if (s.major !== MAJOR_MAP) return eager();
  const table: Record<string, unknown> = {};
  let groups: EncodedGroupRange[] | undefined;
  let groupsStart = 0;
  let groupsEnd = 0;
  for (let n = s.argument; n > 0; n--) {
    const keyAt = s.at;
    s.head();
    s.at = keyAt;
    if (s.major !== MAJOR_TEXT) return eager();
    const field = s.propertyName();
    const valueAt = s.at;
    if (field === "groups") {
      groupsStart = valueAt;
      groups = groupRanges(s);
      if (groups === undefined) return eager();
      groupsEnd = s.at;
      table.groups = undefined;
    } else {
      s.skip();
      table[field] = decodeItem(bytes, valueAt, s.at, what);
    }
  }
  const kind = table.kind;
  if (groups === undefined || (kind !== "value" && kind !== "list" && kind !== "map")) return eager();
  const set = (value: unknown) => {
    sources.delete(table);
    Object.defineProperty(table, "groups", { value, writable: true, enumerable: true, configurable: true });
  };
  Object.defineProperty(table, "groups", {
    enumerable: true,
    configurable: true,
    get: () => {
      const value = decodeItem(bytes, groupsStart, groupsEnd, what);
      set(value);
      return value;
    },
    set,
  });
  sources.set(table, { bytes, groups, what });
  return table as unknown as KeyedTableSnapshot;
}

/** The ranges of a groups array's `[keyGroup, entries]` items, the scanner left after it; undefined for another shape. */
function groupRanges(s: CborScanner): EncodedGroupRange[] | undefined {
  s.head();
  if (s.major !== MAJOR_ARRAY) return undefined;
  const out: EncodedGroupRange[] = [];
  for (let n = s.argument; n > 0; n--) {
    s.head();
    if (s.major !== MAJOR_ARRAY || s.argument !== 2) return undefined;
    s.head();
    if (s.major !== MAJOR_UINT) return undefined;
    const keyGroup = s.argument;
    const start = s.at;
    s.head();
    if (s.major !== MAJOR_ARRAY) return undefined;
    const entries = s.argument;
    const first = s.at;
    for (let i = entries; i > 0; i--) s.skip();
    out.push({ keyGroup, entries, start, end: s.at, first });
  }
  return out;
}
