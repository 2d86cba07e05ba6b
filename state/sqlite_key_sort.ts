/**
 * Sorting a chain's changes by key (sqlite_chain_changes.ts): indices of keys that lie in
 * one buffer, stably, in the order SQLite gives BLOBs (byte by byte, then the shorter
 * first). A group of changes (one key group and state) is first sorted by the four bytes
 * after the prefix its keys share, packed into a number and sorted by an LSD radix sort
 * over arrays read in order; only keys whose four bytes tie are compared further. An MSD
 * radix sort alone read each key through two indirections at every byte (50 ms for the
 * 913 k changes of the longest chain at 1 M keys, on a 2-core VM).
 * @module
 */

/**
 * A change's key starts this far into its bytes in SortedChanges (sqlite_chain_changes.ts):
 * its record's tag, then its key. The key group, state id and key length its changelog
 * record holds between the two are in the per-change arrays, so they are not copied (12
 * of the 28 bytes of a record of the longest chain at 1 M keys).
 */
export const CHANGE_KEY_OFFSET = 1;

/** Ranges this short are sorted by insertion: a counting pass costs more. */
const INSERTION_MAX = 24;

/** What the key sort reads and writes. */
export interface Keys {
  /** Changes, each with its key CHANGE_KEY_OFFSET bytes in. */
  bytes: Uint8Array;
  /** Where each record starts in bytes. */
  at: Int32Array;
  length: Int32Array;
  order: Int32Array;
  tmp: Int32Array;
  /** Count arrays, one per level of the recursion at a time, reused. */
  counts: Int32Array[];
}

/**
 * Sorts order[lo, hi) stably by key bytes from depth `d` on: an MSD radix sort, digit 0
 * being a key's end (so a shorter key sorts first), byte b digit b + 1. Only the digits
 * seen are visited (keys of digits span 10 of 257), and the count array is left zeroed.
 */
function sortByKey(keys: Keys, lo: number, hi: number, d: number): void {
  const { bytes, at, length, order, tmp } = keys;
  // Each level of the recursion takes a count array from the pool and gives it back zeroed.
  const counts = keys.counts.pop() ?? new Int32Array(258);
  while (hi - lo > INSERTION_MAX) {
    let min = 257;
    let max = 0;
    for (let j = lo; j < hi; j++) {
      const r = order[j];
      const digit = d < length[r] ? bytes[at[r] + CHANGE_KEY_OFFSET + d] + 1 : 0;
      counts[digit + 1]++;
      if (digit < min) min = digit;
      if (digit > max) max = digit;
    }
    if (min === max) {
      counts[min + 1] = 0;
      // Every key ended: equal keys, left in chain order.
      if (min === 0) break;
      // Every key has the same digit here: one deeper, none moved.
      d++;
      continue;
    }
    counts[min] = 0;
    for (let c = min + 1; c <= max + 1; c++) counts[c] += counts[c - 1];
    for (let j = lo; j < hi; j++) {
      const r = order[j];
      tmp[lo + counts[d < length[r] ? bytes[at[r] + CHANGE_KEY_OFFSET + d] + 1 : 0]++] = r;
    }
    order.set(tmp.subarray(lo, hi), lo);
    // counts[c] is now where digit c's run ends; digit 0 (ended keys) needs no sort.
    for (let c = Math.max(min, 1); c <= max; c++) {
      const a = c === min ? 0 : counts[c - 1];
      if (counts[c] - a > 1) sortByKey(keys, lo + a, lo + counts[c], d + 1);
    }
    counts.fill(0, min, max + 2);
    keys.counts.push(counts);
    return;
  }
  keys.counts.push(counts);
  if (hi - lo <= INSERTION_MAX) insertionSort(keys, lo, hi, d);
}

/** Sorts order[lo, hi) stably by key bytes, the first `d` of which every key there shares. */
function insertionSort(keys: Keys, lo: number, hi: number, d: number): void {
  const { bytes, at, length, order } = keys;
  const from = CHANGE_KEY_OFFSET + d;
  for (let j = lo + 1; j < hi; j++) {
    const r = order[j];
    let i = j - 1;
    while (i >= lo && compareBlobs(bytes, at[order[i]] + from, length[order[i]] - d, bytes, at[r] + from, length[r] - d) > 0) {
      order[i + 1] = order[i];
      i--;
    }
    order[i + 1] = r;
  }
}

/**
 * x[a, a + la) against y[b, b + lb) as SQLite compares BLOBs: negative, 0 or positive.
 *
 * @example
 * ```ts
 * import { compareBlobs } from "./sqlite_key_sort.ts";
 * const k = Uint8Array.of(1, 0, 2);
 * console.assert(compareBlobs(k, 0, 1, k, 0, 2) < 0 && compareBlobs(k, 2, 1, k, 0, 2) > 0);
 * ```
 */
export function compareBlobs(x: Uint8Array, a: number, la: number, y: Uint8Array, b: number, lb: number): number {
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) if (x[a + i] !== y[b + i]) return x[a + i] - y[b + i];
  return la - lb;
}

/** Reused buffers of sortGroup(), as large as the largest group sorted. */
export interface GroupScratch {
  prefix: Uint32Array;
  prefixTmp: Uint32Array;
  order: Int32Array;
}

/** Buffers for sortGroup() of groups of at most `n` keys. */
export function groupScratch(n: number): GroupScratch {
  return { prefix: new Uint32Array(n), prefixTmp: new Uint32Array(n), order: new Int32Array(n) };
}

/**
 * Sorts order[lo, hi) stably by key (a group of changes): by the four bytes after the
 * prefix every key shares (a key's tag, a state's prefix), then ties as sortByKey() does.
 */
export function sortGroup(keys: Keys, lo: number, hi: number, scratch: GroupScratch): void {
  const n = hi - lo;
  if (n <= INSERTION_MAX) return insertionSort(keys, lo, hi, 0);
  const { bytes, at, length, order } = keys;
  const d = commonPrefix(keys, lo, hi);
  // The four bytes from d of each key, 0 past its end: a key sorts no later than any key
  // its packed bytes are below (a key that ends is below one that goes on), so only keys
  // of equal packed bytes need a closer look.
  let prefix = scratch.prefix;
  let ord = scratch.order;
  for (let j = 0; j < n; j++) {
    const r = order[lo + j];
    const a = at[r] + CHANGE_KEY_OFFSET + d;
    const left = length[r] - d;
    ord[j] = r;
    prefix[j] = left >= 4
      ? ((bytes[a] << 24) | (bytes[a + 1] << 16) | (bytes[a + 2] << 8) | bytes[a + 3]) >>> 0
      : ((left > 0 ? bytes[a] << 24 : 0) | (left > 1 ? bytes[a + 1] << 16 : 0) | (left > 2 ? bytes[a + 2] << 8 : 0)) >>> 0;
  }
  // LSD radix sort of (prefix, index) pairs a byte at a time, a byte all share skipped.
  let prefixTo = scratch.prefixTmp;
  let ordTo = keys.tmp.subarray(lo, hi);
  const counts = new Int32Array(256);
  for (let shift = 0; shift < 32; shift += 8) {
    counts.fill(0);
    for (let j = 0; j < n; j++) counts[(prefix[j] >>> shift) & 0xff]++;
    if (counts[(prefix[0] >>> shift) & 0xff] === n) continue;
    let sum = 0;
    for (let c = 0; c < 256; c++) {
      const k = counts[c];
      counts[c] = sum;
      sum += k;
    }
    for (let j = 0; j < n; j++) {
      const p = counts[(prefix[j] >>> shift) & 0xff]++;
      prefixTo[p] = prefix[j];
      ordTo[p] = ord[j];
    }
    [prefix, prefixTo] = [prefixTo, prefix];
    [ord, ordTo] = [ordTo, ord];
  }
  order.set(ord.subarray(0, n), lo);
  // Keys whose four bytes tie, in their order so far (chain order): sorted from d on.
  for (let j = 0; j < n; ) {
    let e = j + 1;
    while (e < n && prefix[e] === prefix[j]) e++;
    if (e - j > 1) sortByKey(keys, lo + j, lo + e, d);
    j = e;
  }
}

/** How many bytes every key of order[lo, hi) shares from its start, found in one pass. */
function commonPrefix(keys: Keys, lo: number, hi: number): number {
  const { bytes, at, length, order } = keys;
  const first = order[lo];
  const a = at[first] + CHANGE_KEY_OFFSET;
  let common = length[first];
  for (let j = lo + 1; j < hi && common > 0; j++) {
    const r = order[j];
    const b = at[r] + CHANGE_KEY_OFFSET;
    const m = common < length[r] ? common : length[r];
    let x = 0;
    while (x < m && bytes[a + x] === bytes[b + x]) x++;
    common = x;
  }
  return common;
}
