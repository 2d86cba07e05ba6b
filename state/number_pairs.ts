/**
 * A heap snapshot's `[key, value]` entries whose key and value are both numbers (a rolling
 * count, a sum per id: the common keyed state of a stream job), collected flat as the
 * snapshot visits them (three typed arrays, a few stores an entry) and encoded afterwards,
 * by key group, into the canonical CBOR pairs every backend reads — off the subtask's
 * thread when the platform gives an encoder (platforms/pair_encoder.ts: a worker thread,
 * as Flink's asynchronous snapshot threads write a heap snapshot while the task thread
 * goes on), on it otherwise. The bytes are those `CborWriter.pair()` writes for the same
 * entries, in the same order within a key group; or, for the heap's own checkpoint files
 * (changelogs and bases, heap_changelog.ts), each key group as the `[keyGroup, keys,
 * values]` item with typed columns that `ColumnsEncoder` writes (heap_encode.ts,
 * heap_columns.ts).
 * @module
 */
import { writeHead } from "../codec/cbor_head.ts";
import { WeirError } from "../errors.ts";
import type { EncodedGroup } from "./backend.ts";

/** Entries collected flat: `keys[i]`, `values[i]` in key group `groups[i]`, for i < length. */
export interface NumberPairBatch {
  keys: Float64Array;
  values: Float64Array;
  groups: Int32Array;
  length: number;
}

/** How a batch is encoded: canonical pairs, or the heap files' key group items with columns. */
export type NumberPairsLayout = "pairs" | "columns";

/** A batch's pairs encoded: one buffer, and per key group (ascending) its entries' range in it. */
export interface EncodedNumberPairs {
  bytes: Uint8Array;
  /** Per key group present: [keyGroup, entries, from, to] (byte offsets into `bytes`). */
  groups: Int32Array;
}

/**
 * Encodes the pairs of a batch by key group (stable: within a group, in the batch's order).
 * Two passes and no index: the first sizes each group, the second writes each entry at its
 * group's cursor.
 *
 * @example
 * ```ts
 * import { encodeNumberPairs } from "./number_pairs.ts";
 * import { FORMAT_VERSION, decode } from "../codec/cbor.ts";
 * const batch = { keys: Float64Array.of(7, 1.5), values: Float64Array.of(3, -2), groups: Int32Array.of(9, 2), length: 2 };
 * const { bytes, groups } = encodeNumberPairs(batch);
 * console.assert(groups[0] === 2 && groups[4] === 9);
 * const [k, v] = decode<[number, number]>(Uint8Array.of(FORMAT_VERSION, ...bytes.subarray(groups[2], groups[3])));
 * console.assert(k === 1.5 && v === -2);
 * ```
 */
export function encodeNumberPairs(batch: NumberPairBatch): EncodedNumberPairs {
  const { keys, values, groups, length } = batch;
  const top = topKeyGroup(groups, length);
  const sizes = new Float64Array(top + 1);
  const counts = new Int32Array(top + 1);
  for (let i = 0; i < length; i++) {
    const g = groups[i];
    sizes[g] += pairBytes(keys[i], values[i]);
    counts[g]++;
  }
  let present = 0;
  let total = 0;
  const cursor = new Float64Array(top + 1);
  for (let g = 0; g <= top; g++) {
    cursor[g] = total;
    total += sizes[g];
    if (counts[g] > 0) present++;
  }
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  const out = new Int32Array(present * 4);
  for (let g = 0, j = 0; g <= top; g++) {
    if (counts[g] === 0) continue;
    out[j++] = g;
    out[j++] = counts[g];
    out[j++] = cursor[g];
    out[j++] = cursor[g] + sizes[g];
  }
  for (let i = 0; i < length; i++) {
    const g = groups[i];
    cursor[g] = writePair(bytes, view, cursor[g], keys[i], values[i]);
  }
  return { bytes, groups: out };
}

/**
 * Encodes a batch as the key group items of the heap's checkpoint files (ascending key
 * group, entries in the batch's order): `[keyGroup, keys, values]`, each column in the
 * form heap_columns.ts picks for its items (an array under 16 items, else int32 when every
 * item is an int32 and not -0, else float64, little-endian). `groups` holds per key group
 * [keyGroup, entries, from, to] as encodeNumberPairs() gives.
 *
 * @example
 * ```ts
 * import { encodeNumberColumns } from "./number_pairs.ts";
 * import { FORMAT_VERSION, decode } from "../codec/cbor.ts";
 * const batch = { keys: Float64Array.of(1, 2), values: Float64Array.of(0.5, 7), groups: Int32Array.of(4, 4), length: 2 };
 * const { bytes } = encodeNumberColumns(batch);
 * const [g, keys, values] = decode<[number, number[], number[]]>(Uint8Array.of(FORMAT_VERSION, ...bytes));
 * console.assert(g === 4 && keys[1] === 2 && values[0] === 0.5);
 * ```
 */
export function encodeNumberColumns(batch: NumberPairBatch): EncodedNumberPairs {
  const { keys, values, groups, length } = batch;
  const top = topKeyGroup(groups, length);
  // Counting sort by key group, stable: the entries of a group in the batch's order.
  const starts = new Int32Array(top + 2);
  for (let i = 0; i < length; i++) starts[groups[i] + 1]++;
  for (let g = 0; g <= top; g++) starts[g + 1] += starts[g];
  const fill = starts.slice(0, top + 1);
  const k = new Float64Array(length);
  const v = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const at = fill[groups[i]]++;
    k[at] = keys[i];
    v[at] = values[i];
  }
  let present = 0;
  let total = 0;
  const keyForms = new Uint8Array(top + 1);
  const valueForms = new Uint8Array(top + 1);
  for (let g = 0; g <= top; g++) {
    const from = starts[g];
    const to = starts[g + 1];
    if (from === to) continue;
    present++;
    keyForms[g] = formOf(k, from, to);
    valueForms[g] = formOf(v, from, to);
    total += 1 + numberBytes(g) + columnBytes(k, from, to, keyForms[g]) + columnBytes(v, from, to, valueForms[g]);
  }
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  const out = new Int32Array(present * 4);
  let at = 0;
  for (let g = 0, j = 0; g <= top; g++) {
    const from = starts[g];
    const to = starts[g + 1];
    if (from === to) continue;
    out[j++] = g;
    out[j++] = to - from;
    out[j++] = at;
    bytes[at++] = 0x83;
    at = writeNumber(bytes, view, at, g);
    at = writeColumn(bytes, view, at, k, from, to, keyForms[g]);
    at = writeColumn(bytes, view, at, v, from, to, valueForms[g]);
    out[j++] = at;
  }
  return { bytes, groups: out };
}

/** Column forms, as heap_columns.ts names them. */
const ARRAY = 0;
const I32 = 1;
const F64 = 2;
/** heap_columns.ts TYPED_COLUMN_ITEMS_MIN: shorter columns are arrays. */
const TYPED_ITEMS_MIN = 16;

function formOf(items: Float64Array, from: number, to: number): number {
  if (to - from < TYPED_ITEMS_MIN) return ARRAY;
  for (let i = from; i < to; i++) {
    const x = items[i];
    if ((x | 0) !== x || (x === 0 && 1 / x < 0)) return F64;
  }
  return I32;
}

function columnBytes(items: Float64Array, from: number, to: number, form: number): number {
  const n = to - from;
  if (form === ARRAY) {
    let size = headBytes(n);
    for (let i = from; i < to; i++) size += numberBytes(items[i]);
    return size;
  }
  // {"i32"|"f64": bytes}: a map head, a 3-letter text and a byte string.
  const data = (form === I32 ? 4 : 8) * n;
  return 1 + 4 + headBytes(data) + data;
}

function writeColumn(b: Uint8Array, view: DataView, at: number, items: Float64Array, from: number, to: number, form: number): number {
  const n = to - from;
  if (form === ARRAY) {
    at = writeHead(b, at, 4, n);
    for (let i = from; i < to; i++) at = writeNumber(b, view, at, items[i]);
    return at;
  }
  b[at++] = 0xa1;
  b[at++] = 0x63;
  b[at++] = 0x69 + (form === I32 ? 0 : 0x66 - 0x69); // "i" or "f"
  b[at++] = form === I32 ? 0x33 : 0x36; // "3" or "6"
  b[at++] = form === I32 ? 0x32 : 0x34; // "2" or "4"
  at = writeHead(b, at, 2, (form === I32 ? 4 : 8) * n);
  if (form === I32) {
    for (let i = from; i < to; i++, at += 4) view.setInt32(at, items[i], true);
  } else {
    for (let i = from; i < to; i++, at += 8) view.setFloat64(at, items[i], true);
  }
  return at;
}

/** The encoded pairs as {@link EncodedGroup}s, each a view of `encoded.bytes`. */
export function encodedGroupsOf(encoded: EncodedNumberPairs): EncodedGroup[] {
  const out: EncodedGroup[] = [];
  const g = encoded.groups;
  for (let j = 0; j < g.length; j += 4) out.push({ keyGroup: g[j], entries: g[j + 1], chunks: [encoded.bytes.subarray(g[j + 2], g[j + 3])] });
  return out;
}

/** Encodes a batch in a layout (what an encoder's thread runs). */
export function encodeNumbersAs(batch: NumberPairBatch, layout: NumberPairsLayout): EncodedNumberPairs {
  return layout === "columns" ? encodeNumberColumns(batch) : encodeNumberPairs(batch);
}

/**
 * The highest key group of a batch, -1 for none.
 * @throws {WeirError} `invariant_broken` for a key group below 0
 */
function topKeyGroup(groups: Int32Array, length: number): number {
  let top = -1;
  for (let i = 0; i < length; i++) {
    const g = groups[i];
    if (!(g >= 0)) throw new WeirError("invariant_broken", `A number pair's key group is ${g}`);
    if (g > top) top = g;
  }
  return top;
}

/** An unsigned integer CborWriter.pair() writes inline (not -0). */
function isUint32(n: number): boolean {
  return n >>> 0 === n && (n !== 0 || 1 / n > 0);
}

/** An integer CborWriter writes as a CBOR integer (major 0 or 1): not -0, -2^32 … 2^32 - 1. */
function isCborInteger(n: number): boolean {
  return Number.isInteger(n) && n >= -0x100000000 && n <= 0xffffffff && (n !== 0 || 1 / n > 0);
}

function headBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function numberBytes(n: number): number {
  if (!isCborInteger(n)) return 9;
  return headBytes(n >= 0 ? n : -1 - n);
}

function pairBytes(k: number, v: number): number {
  return 1 + numberBytes(k) + numberBytes(v);
}

function writeNumber(b: Uint8Array, view: DataView, at: number, n: number): number {
  if (isCborInteger(n)) return n >= 0 ? writeHead(b, at, 0, n) : writeHead(b, at, 1, -1 - n);
  b[at] = 0xfb;
  view.setFloat64(at + 1, n);
  return at + 9;
}

function writePair(b: Uint8Array, view: DataView, at: number, k: number, v: number): number {
  b[at++] = 0x82;
  if (isUint32(k) && isUint32(v)) return writeHead(b, writeHead(b, at, 0, k), 0, v);
  return writeNumber(b, view, writeNumber(b, view, at, k), v);
}

/** One batch handed to an encoder: poll() until it gives the pairs. */
export interface PairEncoding {
  /**
   * The encoded pairs once ready, undefined before; the batch's arrays come back to the
   * pool (numberPairBatch) with them.
   * @throws {WeirError} `storage_failed` when the encoder's thread failed or ended
   */
  poll(): EncodedNumberPairs | undefined;
  /** Settles once poll() has an answer (pairs or error); never rejects. */
  ready(): Promise<void>;
  /** The pairs are not wanted any more (the snapshot was released). */
  abandon(): void;
}

/** Encodes batches away from the calling thread (a platform's worker thread). */
export interface PairEncoder {
  /** Hands the batch over (its arrays are transferred: the caller must not touch them); `layout` "pairs" unless given. */
  encode(batch: NumberPairBatch, layout?: NumberPairsLayout): PairEncoding;
  /**
   * Gets ready for a first batch now (a thread's start: 50 ms on Deno, which would
   * otherwise fall on the first large checkpoint's step); a heap backend calls it when made.
   */
  prepare?(): void;
  /** False once the encoder found it cannot run here (no threads: an edge runtime); snapshots then encode in place. */
  readonly available?: boolean;
}

/** A batch this large or larger goes to the platform's encoder; a smaller one is encoded in place. */
export const OFF_THREAD_MIN_ENTRIES = 32768;

let encoder: PairEncoder | undefined;
let offThreadMinEntries = OFF_THREAD_MIN_ENTRIES;

/**
 * Sets the process's off-thread encoder (a platform module does, on import), or none;
 * `minEntries` is the least batch it is handed (tests lower it).
 */
export function usePairEncoder(e: PairEncoder | undefined, minEntries = OFF_THREAD_MIN_ENTRIES): void {
  encoder = e;
  offThreadMinEntries = minEntries;
}

/** The process's off-thread encoder and the least batch for it, if the platform gave one. */
export function pairEncoder(): { encoder: PairEncoder; minEntries: number } | undefined {
  return encoder && encoder.available !== false ? { encoder, minEntries: offThreadMinEntries } : undefined;
}

/** Batches whose arrays came back, for the next snapshot: fresh memory costs page faults. */
const spare: NumberPairBatch[] = [];
const SPARE_MAX = 2;

/** A batch with room for `capacity` entries, empty: a spare one if large enough. */
export function numberPairBatch(capacity: number): NumberPairBatch {
  const i = spare.findIndex((b) => b.keys.length >= capacity);
  if (i >= 0) {
    const b = spare.splice(i, 1)[0];
    b.length = 0;
    return b;
  }
  const size = Math.max(1024, capacity);
  return { keys: new Float64Array(size), values: new Float64Array(size), groups: new Int32Array(size), length: 0 };
}

/** A batch's arrays are free again (they came back from the encoder, or were never sent). */
export function giveBackBatch(b: NumberPairBatch): void {
  if (b.keys.length === 0) return;
  if (spare.length >= SPARE_MAX) spare.shift();
  spare.push(b);
}
