/**
 * The restore and incremental-size measurements of bench/state.ts (issue 10), at the
 * backend level, without a job: heap restore time from a full checkpoint file (decode +
 * load), from an incremental base and from a base with changelogs (read + decode + load),
 * each with the first pass of one update per key after it and the next pass; and an
 * incremental base beside the changelogs written after 1 % and 10 % of the keys changed.
 * @module
 */
import { decode } from "../codec/cbor.ts";
import { KeyedStateCapture } from "../dataflow/operators/keyed_capture.ts";
import { MemoryStorage } from "../mod.ts";
import { HeapKeyedStateBackend } from "../state/heap_backend.ts";
import type { IncrementalKeyedState, KeyedStateBackendInit } from "../state/backend.ts";
import type { KeyedTableSnapshot } from "../state/keyed_state.ts";
import { bytes, nowMs } from "./stats.ts";

/** A backend holding `keys` counts, as the reduce keeps them (state "reduce"), with more of its init. */
export function filled(keys: number, init: Partial<KeyedStateBackendInit> = {}): HeapKeyedStateBackend {
  const b = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, ...init });
  const sum = b.reducingState<number>("reduce", (a, v) => a + v);
  for (let k = 0; k < keys; k++) sum.addFor(k, k);
  return b;
}

/** Snapshots a backend into the bytes a checkpoint stores for its operator. */
async function capture(b: HeapKeyedStateBackend, id: number): Promise<Uint8Array> {
  const c = new KeyedStateCapture(b.snapshot(id), "bench state");
  // A step returns a promise while a large table's pairs are encoded off the thread (number_pairs.ts).
  while (!(await c.step(50_000)));
  const out = c.bytes();
  c.release();
  return out;
}

/** A restore's time and what the first passes over its keys cost after it. */
interface Restored {
  ms: number;
  size: number;
  /** One update of every key right after the restore: it puts the keys into the tables' Maps (heap_table.ts). */
  firstPassMs: number;
  /** The same pass again, on indexed tables. */
  nextPassMs: number;
}

/** Times two passes of one update per key over a restored backend and checks a count. */
function passes(r: HeapKeyedStateBackend, keys: number, expectLast: number): { firstPassMs: number; nextPassMs: number } {
  const sum = r.reducingState<number>("reduce", (a, v) => a + v);
  let start = nowMs();
  for (let k = 0; k < keys; k++) sum.addFor(k, 1);
  const firstPassMs = nowMs() - start;
  start = nowMs();
  for (let k = 0; k < keys; k++) sum.addFor(k, 1);
  const nextPassMs = nowMs() - start;
  r.setCurrentKey(keys - 1);
  if (r.valueState<number>("reduce").value() !== expectLast + 2) throw new Error("restore lost a key");
  return { firstPassMs, nextPassMs };
}

/**
 * Read + decode + restore of an incremental chain of `keys` counts, in ms: a base alone, or
 * (`changelogs`) a base and that many changelogs of 1 % of the keys each.
 */
export async function restoreChainMs(keys: number, changelogs: number): Promise<Restored> {
  const storage = new MemoryStorage();
  const init = { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "sum", subtaskIndex: 0, jobId: "bench" };
  const b = new HeapKeyedStateBackend(init);
  const sum = b.reducingState<number>("reduce", (a, v) => a + v);
  for (let k = 0; k < keys; k++) sum.addFor(k, k);
  let h: IncrementalKeyedState | undefined;
  for (let id = 1; id <= changelogs + 1; id++) {
    // The last key changes in every changelog, the others in turn (1 % each time).
    if (id > 1) for (let k = id; k < keys; k += 100) sum.addFor(k === keys - 1 ? k - 1 : k, 0);
    const snap = b.snapshot(id);
    while (!(await snap.step(50_000)));
    h = snap.result() as IncrementalKeyedState;
    snap.release();
  }
  b.dispose();
  if (h!.shared.length !== changelogs + 1) throw new Error(`chain of ${h!.shared.length} files, expected ${changelogs + 1}`);
  const start = nowMs();
  const r = new HeapKeyedStateBackend(init);
  await r.restore([h!]);
  const ms = nowMs() - start;
  return { ms, size: h!.shared.reduce((n, f) => n + f.size, 0), ...passes(r, keys, keys - 1) };
}

/** Decode + restore of one operator's checkpointed state, in ms. */
export async function restoreMs(keys: number): Promise<Restored> {
  const bytesOut = await capture(filled(keys), 1);
  const start = nowMs();
  const state = decode<{ keyed: Record<string, KeyedTableSnapshot> }>(bytesOut, "bench state");
  const r = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 } });
  r.restore([{ format: "canonical", tables: state.keyed }]);
  const ms = nowMs() - start;
  return { ms, size: bytesOut.length, ...passes(r, keys, keys - 1) };
}

/** Bytes and time of an incremental base and of changelogs after 1 % and 10 % of keys changed. */
export async function incremental(keys: number): Promise<string[]> {
  const storage = new MemoryStorage();
  const b = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "sum", subtaskIndex: 0, jobId: "bench" });
  const sum = b.reducingState<number>("reduce", (a, v) => a + v);
  for (let k = 0; k < keys; k++) sum.addFor(k, k);
  const take = async (id: number): Promise<{ bytes: number; ms: number }> => {
    const start = nowMs();
    const snap = b.snapshot(id);
    while (!(await snap.step(50_000)));
    const h = snap.result() as IncrementalKeyedState;
    snap.release();
    return { bytes: h.shared[h.shared.length - 1].size, ms: nowMs() - start };
  };
  const base = await take(1);
  const out = [String(keys), `${bytes(base.bytes)} in ${base.ms.toFixed(0)} ms`];
  for (const share of [0.01, 0.1]) {
    const step = Math.round(1 / share);
    for (let k = 0; k < keys; k += step) sum.addFor(k, 1);
    const log = await take(share === 0.01 ? 2 : 3);
    out.push(`${bytes(log.bytes)} (${((100 * log.bytes) / base.bytes).toFixed(1)} %) in ${log.ms.toFixed(0)} ms`);
  }
  return out;
}
