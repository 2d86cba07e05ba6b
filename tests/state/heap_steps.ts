/** Helpers the heap backend's incremental tests share: stepping a snapshot to its handle, and reading a restored handle back. */
import assert from "node:assert/strict";
import { decode, encodePartsList } from "../../codec/cbor.ts";
import type { EncodedTable, IncrementalKeyedState, KeyedStateSnapshot } from "../../state/backend.ts";
import { joinParts } from "../../storage/adapter.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import type { MemoryStorage } from "../../storage/memory.ts";

/**
 * Steps a keyed snapshot `budget` units at a time until it is done, calling `between` after
 * each unfinished step (records racing the snapshot), then takes its result and releases it.
 */
export async function finishSnapshot(snap: KeyedStateSnapshot, between: () => void = () => {}, budget = 100): Promise<IncrementalKeyedState> {
  for (;;) {
    let done = snap.step(budget);
    if (done instanceof Promise) done = await done;
    if (done) break;
    between();
  }
  const r = snap.result() as IncrementalKeyedState;
  snap.release();
  return r;
}

/** What `handle` restores into a fresh heap backend: the value state "sum" of every key in [0, keys). */
export async function restoredSums(storage: MemoryStorage, handle: IncrementalKeyedState, keys: number): Promise<Map<number, number>> {
  const r = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "restored", subtaskIndex: 0, jobId: "other" });
  await r.restore([handle]);
  const got = new Map<number, number>();
  for (let k = 0; k < keys; k++) {
    r.setCurrentKey(k);
    const v = r.valueState<number>("sum").value();
    if (v !== undefined) got.set(k, v);
  }
  r.dispose();
  return got;
}

/** A canonical table's entries by key, decoded from its encoded groups (each group's count checked). */
export function encodedEntries(t: EncodedTable): Map<unknown, unknown> {
  const out = new Map<unknown, unknown>();
  for (const g of t.groups) {
    const items = decode<[unknown, unknown][]>(joinParts(encodePartsList([{ array: g.entries }, ...g.chunks])));
    assert.equal(items.length, g.entries);
    for (const [k, v] of items) out.set(k, v);
  }
  return out;
}
