/**
 * The changes of a whole chain of changelog files (sqlite_changelog.ts) at once: the last
 * record of each key across every file, in primary-key order (key group, state id, key
 * bytes compared as SQLite compares BLOBs: byte by byte, then the shorter first), which a
 * restore merges with its base in one pass (sqlite_chain_rebuild.ts). Applied file by
 * file, every record was an upsert at a random place of the base's B-tree (809 k records
 * on a 1 M-key base: 5.4 s).
 *
 * No record is decoded into an object: the records are copied, as bytes, into one buffer
 * grouped by (key group, state id), and each group (a few kilobytes to a few hundred) is
 * sorted by radix sorts over its keys' bytes (sqlite_key_sort.ts). Sorting the keys as strings cost
 * 0.4–1.1 s to make the strings and 0.4–0.7 s to sort 809 k of them; sorting indices
 * into the files' own bytes 0.6–1 s, each digit read missing the cache.
 * @module
 */
import { assert } from "../errors.ts";
import type { KeyGroupRange } from "./key_group.ts";
import { RECORD_KEY_OFFSET } from "./sqlite_changelog.ts";
import { scanChangelogParts } from "./sqlite_changelog_parts.ts";
import { CHANGE_KEY_OFFSET, type Keys, groupScratch, sortGroup } from "./sqlite_key_sort.ts";


/** One changelog file's bytes, and how to name it in errors. */
export interface ChangelogBytes {
  bytes: Uint8Array;
  what: string;
}

/** One changelog file as the parts it was stored in (read where they lie, not joined), and how to name it in errors. */
export interface ChangelogParts {
  parts: readonly Uint8Array[];
  what: string;
}

/** Bytes of a changelog record left out of its change: key group, state id, key length. */
const HEAD_DROPPED = RECORD_KEY_OFFSET - CHANGE_KEY_OFFSET;

/**
 * A chain's last record per key, in primary-key order: change j is `bytes[at[j], …)`: at
 * `at[j]` its tag (1 put, 0 tombstone), then its key `bytes[at[j] + CHANGE_KEY_OFFSET, …
 * + keyLength[j])`, and a put's original key and value after it, as sqlite_changelog.ts
 * writes them after a record's key.
 */
export interface SortedChanges {
  count: number;
  bytes: Uint8Array;
  at: Int32Array;
  keyGroup: Int32Array;
  /** Mapped to ours. */
  stateId: Int32Array;
  keyLength: Int32Array;
}

/**
 * The records of a chain's changelogs that fall in a key group range, each state id mapped.
 *
 * @example
 * ```ts
 * import { ChainChanges } from "./sqlite_chain_changes.ts";
 * import { ChangelogWriter } from "./sqlite_changelog.ts";
 * import { sqliteDriver } from "../platforms/sqlite.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-chain-${performance.now()}.log`;
 * const w = new ChangelogWriter(sqliteDriver, path);
 * w.put(2, 0, Uint8Array.of(9), null, Uint8Array.of(1));
 * w.put(1, 0, Uint8Array.of(5), null, Uint8Array.of(1));
 * w.remove(2, 0, Uint8Array.of(9));
 * w.finish();
 * const c = new ChainChanges({ start: 0, end: 7 }, new Map([[0, 0]]));
 * c.add({ bytes: sqliteDriver.readFile(path), what: path });
 * const last = c.lastInKeyOrder();
 * console.assert(last.count === 2 && last.keyGroup[0] === 1 && last.bytes[last.at[1]] === 0);
 * sqliteDriver.removeFiles(path);
 * ```
 */
export class ChainChanges {
  readonly #range: KeyGroupRange;
  readonly #sids: ReadonlyMap<number, number> | undefined;
  /** The buffers records lie in: the files' parts, and copies of records that cross parts. */
  readonly #files: Uint8Array[] = [];
  /** Per record kept, in chain order: its buffer in #files, its bytes [at, end), key group, state id (ours), key length. */
  #file = new Uint16Array(1024);
  #at = new Int32Array(1024);
  #end = new Int32Array(1024);
  #kg = new Int32Array(1024);
  #s = new Int32Array(1024);
  #kLength = new Int32Array(1024);
  #count = 0;
  /** lastInKeyOrder() was called: the arrays above hold its result. */
  #taken = false;

  /**
   * Records of key groups in `range` and of the state ids in `sids` (theirs → ours) are
   * kept; without `sids`, every state id, as it is. `bytes`: of every file to come, when
   * known, so that the per-record arrays are made once (their memory is touched only as
   * far as records come): grown by doubling, each copy touched fresh memory.
   */
  constructor(range: KeyGroupRange, sids: ReadonlyMap<number, number> | undefined, bytes = 0) {
    this.#range = range;
    this.#sids = sids;
    // At most 2^24 records reserved (84 MB of arrays, touched only as records come); more grow.
    if (bytes > RECORD_KEY_OFFSET * this.#at.length) this.#grow(Math.min(2 ** 24, Math.ceil(bytes / RECORD_KEY_OFFSET)));
  }

  /** Records kept so far. */
  get count(): number {
    return this.#count;
  }

  /**
   * Adds the records of the next file of the chain (later files win).
   * @throws {WeirError} `checkpoint_corrupt` for a damaged file
   */
  add(log: ChangelogBytes | ChangelogParts): void {
    assert(!this.#taken, () => "A chain's changes were already taken");
    const { start, end: last } = this.#range;
    const sids = this.#sids;
    let theirsSeen = -1;
    let ours: number | undefined;
    let file = -1;
    const source = (bytes: Uint8Array) => {
      file = this.#files.length;
      if (file > 0xffff) throw new RangeError("A chain's changelogs are held in at most 65 536 buffers");
      this.#files.push(bytes);
    };
    scanChangelogParts("parts" in log ? log.parts : [log.bytes], log.what, source, (at, end, kg, theirs, _kAt, kLength) => {
      // Records of one state come in runs: one map lookup per run.
      if (theirs !== theirsSeen) {
        theirsSeen = theirs;
        ours = sids === undefined ? theirs : sids.get(theirs);
      }
      if (ours === undefined || kg < start || kg > last) return;
      if (this.#count === this.#at.length) this.#grow(this.#at.length * 2);
      const i = this.#count++;
      this.#file[i] = file;
      this.#at[i] = at;
      this.#end[i] = end;
      this.#kg[i] = kg;
      this.#s[i] = ours;
      this.#kLength[i] = kLength;
    });
  }

  #grow(n: number): void {
    const file = new Uint16Array(n);
    file.set(this.#file);
    this.#file = file;
    const grown = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.#at = grown(this.#at);
    this.#end = grown(this.#end);
    this.#kg = grown(this.#kg);
    this.#s = grown(this.#s);
    this.#kLength = grown(this.#kLength);
  }

  /**
   * The records that are the last of their key, in primary-key order. The records are
   * first copied together by (key group, state id), in chain order within a group, so
   * that sorting a group reads a few kilobytes, not bytes scattered over every file.
   */
  lastInKeyOrder(): SortedChanges {
    assert(!this.#taken, () => "A chain's changes were already taken");
    this.#taken = true;
    const n = this.#count;
    const { groupOf, groups, kgOf, sOf } = this.#groups();
    // Fields read into locals: Bun does not hoist private field reads out of these loops.
    const recordAt = this.#at;
    const recordEnd = this.#end;
    const recordFile = this.#file;
    const recordKeyLength = this.#kLength;
    const files = this.#files;
    // Records and bytes per group, then where each group starts.
    const starts = new Int32Array(groups + 1);
    const byteStarts = new Int32Array(groups + 1);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const g = groupOf[i];
      const size = recordEnd[i] - recordAt[i] - HEAD_DROPPED;
      starts[g + 1]++;
      byteStarts[g + 1] += size;
      total += size;
    }
    // Offsets are 32-bit integers: a typed array read as a double index was slower on Bun.
    assert(total < 2 ** 31, () => `A chain's changelog records of ${total} B are too many to merge`);
    for (let g = 1; g <= groups; g++) {
      starts[g] += starts[g - 1];
      byteStarts[g] += byteStarts[g - 1];
    }
    const grouped = new Uint8Array(total);
    // The state ids are read no more (#groups() put them in groupOf): their array holds
    // where each change starts in `grouped`, since fresh memory costs its first touch.
    const at = this.#s;
    const keyLength = new Int32Array(n);
    const next = starts.slice(0, groups);
    const nextByte = byteStarts.slice(0, groups);
    for (let i = 0; i < n; i++) {
      const g = groupOf[i];
      const p = next[g]++;
      const to = nextByte[g];
      const from = recordAt[i] + HEAD_DROPPED;
      const size = recordEnd[i] - from;
      nextByte[g] = to + size;
      at[p] = to;
      keyLength[p] = recordKeyLength[i];
      const src = files[recordFile[i]];
      // The tag, then the key on.
      grouped[to] = src[recordAt[i]];
      if (size > 64) grouped.set(src.subarray(from + 1, from + size), to + 1);
      else for (let x = 1; x < size; x++) grouped[to + x] = src[from + x];
    }
    // The per-record arrays are free now: the sort and the result reuse them. pos is the
    // records' starts' array, and so is the result's `at`: the dedupe below writes entry m
    // after reading pos[j] and pos[j + 1], m ≤ j, so it never overwrites what it reads
    // later. tmp is the ends'.
    const pos = recordAt;
    for (let p = 0; p < n; p++) pos[p] = p;
    const sort: Keys = { bytes: grouped, at, length: keyLength, order: pos, tmp: recordEnd, counts: [] };
    let largest = 0;
    for (let g = 0; g < groups; g++) largest = Math.max(largest, starts[g + 1] - starts[g]);
    const scratch = groupScratch(largest);
    for (let g = 0; g < groups; g++) if (starts[g + 1] - starts[g] > 1) sortGroup(sort, starts[g], starts[g + 1], scratch);
    const out: SortedChanges = { count: 0, bytes: grouped, at: recordAt, keyGroup: groupOf, stateId: recordEnd, keyLength: recordKeyLength };
    let m = 0;
    for (let g = 0; g < groups; g++) {
      const first = m;
      for (let j = starts[g]; j < starts[g + 1]; j++) {
        const p = pos[j];
        if (j + 1 < starts[g + 1]) {
          const q = pos[j + 1];
          if (sameKey(grouped, at[p] + CHANGE_KEY_OFFSET, keyLength[p], at[q] + CHANGE_KEY_OFFSET, keyLength[q])) continue;
        }
        out.at[m] = at[p];
        out.keyLength[m] = keyLength[p];
        m++;
      }
      if (m === first) continue;
      out.keyGroup.fill(kgOf(g), first, m);
      out.stateId.fill(sOf(g), first, m);
    }
    out.count = m;
    return out;
  }

  /**
   * Each record's group, numbered in (key group, state id) order: from the two directly
   * when the product of their ranges is small, else by numbering the pairs present.
   */
  #groups(): { groupOf: Int32Array; groups: number; kgOf: (g: number) => number; sOf: (g: number) => number } {
    const n = this.#count;
    const kg = this.#kg;
    const s = this.#s;
    const start = this.#range.start;
    let sMax = 0;
    for (let i = 0; i < n; i++) if (s[i] > sMax) sMax = s[i];
    // In place: a record's group is all that is read of its key group and state id after this.
    const groupOf = kg;
    const direct = (this.#range.end - start + 1) * (sMax + 1);
    if (direct <= 4 * n + 65536) {
      for (let i = 0; i < n; i++) groupOf[i] = (kg[i] - start) * (sMax + 1) + s[i];
      return { groupOf, groups: direct, kgOf: (g) => start + Math.floor(g / (sMax + 1)), sOf: (g) => g % (sMax + 1) };
    }
    // Key group and state id, both below 2^31, as one number below 2^62: exact in a double
    // only below 2^53, so the pair is ordered as (kg, s) through a sort of distinct pairs.
    const seen = new Map<string, number>();
    const pairs: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const key = `${kg[i]}:${s[i]}`;
      if (!seen.has(key)) {
        seen.set(key, -1);
        pairs.push([kg[i], s[i]]);
      }
    }
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    pairs.forEach(([k, t], g) => seen.set(`${k}:${t}`, g));
    for (let i = 0; i < n; i++) groupOf[i] = seen.get(`${kg[i]}:${s[i]}`)!;
    return { groupOf, groups: pairs.length, kgOf: (g) => pairs[g][0], sOf: (g) => pairs[g][1] };
  }
}

/**
 * True when bytes[a, a + la) and bytes[b, b + lb) are the same key; compared from the end,
 * where neighbours in key order differ (their start is a shared prefix).
 */
function sameKey(bytes: Uint8Array, a: number, la: number, b: number, lb: number): boolean {
  if (la !== lb) return false;
  for (let i = la - 1; i >= 0; i--) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}
