/**
 * The heap snapshots' pair encoder on a worker thread (platforms/pair_encoder.ts): number
 * pairs collected on the subtask's thread and encoded on another give the bytes the
 * subtask's thread would have written, whatever writes race the snapshot; a thread that
 * ends fails the checkpoint, not the job; and a job whose every snapshot goes through it
 * restores to count each record exactly once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode } from "../../codec/cbor.ts";
import { WeirError } from "../../errors.ts";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, WorkerPairEncoder } from "../../mod.ts";
import type { EncodedTable, IncrementalKeyedState, KeyedStateSnapshot } from "../../state/backend.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { KeyedStateCapture } from "../../dataflow/operators/keyed_capture.ts";
import { type NumberPairBatch, type NumberPairsLayout, type PairEncoder, encodeNumberPairs, numberPairBatch, pairEncoder, usePairEncoder } from "../../state/number_pairs.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { MemoryStorage as Memory } from "../../storage/memory.ts";
import { runBackendConformance } from "../state/backend_conformance.ts";
import { encodedEntries, finishSnapshot } from "../state/heap_steps.ts";

const original = pairEncoder();
after(() => usePairEncoder(original?.encoder, original?.minEntries));

/** The real encoder, counting the batches and entries it was handed. */
function counted(inner: PairEncoder): PairEncoder & { batches: number; entries: number; layouts: NumberPairsLayout[] } {
  const c = {
    batches: 0,
    entries: 0,
    layouts: [] as NumberPairsLayout[],
    encode(b: NumberPairBatch, layout: NumberPairsLayout = "pairs") {
      c.batches++;
      c.entries += b.length;
      c.layouts.push(layout);
      return inner.encode(b, layout);
    },
  };
  return c;
}

/** 400 keys: numbers, strings, objects, a number key with a string value. */
function filled(): HeapKeyedStateBackend {
  const b = new HeapKeyedStateBackend({ maxParallelism: 16, range: { start: 0, end: 15 } });
  const v = b.valueState<unknown>("v");
  for (let k = 0; k < 400; k++) {
    b.setCurrentKey(k % 5 === 0 ? `s${k}` : k);
    v.update(k % 7 === 0 ? { n: k } : k % 11 === 0 ? `t${k}` : k + 0.5);
  }
  return b;
}

/** Steps the snapshot (awaiting a promise), with writes, deletes and new keys between steps. */
async function race(b: HeapKeyedStateBackend, snap: KeyedStateSnapshot): Promise<void> {
  const v = b.valueState<unknown>("v");
  for (let i = 0; ; i++) {
    const r = snap.step(9);
    if (r === true || (r !== false && (await r))) return;
    for (const k of [i, 399 - i, `s${i * 5}`]) {
      b.setCurrentKey(k);
      const old = v.value();
      if (old && typeof old === "object") (old as { n: number }).n = -1;
      else v.update(-7);
    }
    b.setCurrentKey((i * 13) % 400);
    v.clear();
    b.setCurrentKey(1000 + i);
    v.update(i);
  }
}


async function encodedSnapshot(): Promise<Record<string, EncodedTable>> {
  const b = filled();
  const snap = b.snapshot(1);
  assert.equal(snap.encodeAsCollected?.("the state of operator \"t\""), true);
  await race(b, snap);
  const encoded = snap.encodedTables!()!;
  snap.release();
  return encoded;
}

describe("WorkerPairEncoder", () => {
  test("encodes a batch on its thread as encodeNumberPairs does here", async () => {
    const encoder = new WorkerPairEncoder();
    const b = numberPairBatch(3000);
    for (let i = 0; i < 3000; i++) {
      b.keys[i] = i * 3 - 1000.25;
      b.values[i] = i % 2 ? -i : i * 1e9;
      b.groups[i] = (i * 7) % 31;
    }
    b.length = 3000;
    const here = encodeNumberPairs(b);
    const encoding = encoder.encode(b);
    assert.equal(b.keys.length, 0, "the arrays went to the thread");
    await encoding.ready();
    const there = encoding.poll()!;
    assert.deepEqual(there.bytes, here.bytes);
    assert.deepEqual(there.groups, here.groups);
    encoder.close();
  });

  test("a heap snapshot encoded off the thread holds what one encoded here holds, writes racing both", async () => {
    usePairEncoder(undefined);
    const here = await encodedSnapshot();
    const encoder = counted(new WorkerPairEncoder());
    usePairEncoder(encoder, 1);
    const there = await encodedSnapshot();
    assert.equal(encoder.batches, 1);
    assert.ok(encoder.entries > 200, `number pairs sent: ${encoder.entries}`);
    const expected = encodedEntries(here.v);
    assert.equal(expected.size, 400);
    assert.deepEqual(encodedEntries(there.v), expected);
    assert.deepEqual(expected.get(7), { n: 7 }, "an object changed in place after the snapshot point keeps its old content");
    assert.equal(expected.get(3), 3.5, "a number written after the snapshot point keeps its old value");
  });

  test("an encoder's thread that ended fails the snapshot with storage_failed, and the next encoder serves the next one", async () => {
    const encoder = new WorkerPairEncoder();
    usePairEncoder(encoder, 1);
    const b = filled();
    const snap = b.snapshot(1);
    snap.encodeAsCollected?.("the state of operator \"t\"");
    let r = snap.step(1e9);
    encoder.close();
    await assert.rejects(async () => {
      while (r !== true) r = await r;
    }, (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && /encoder's thread was closed/.test(e.message));
    snap.release();
    usePairEncoder(new WorkerPairEncoder(), 1);
    const again = b.snapshot(2);
    again.encodeAsCollected?.("x");
    let s = again.step(1e9);
    while (s !== true) s = await s;
    assert.equal(encodedEntries(again.encodedTables!()!.v).size, 400);
    again.release();
  });

  test("a snapshot released while its pairs are encoded leaves the encoder serving the next", async () => {
    const encoder = new WorkerPairEncoder();
    usePairEncoder(encoder, 1);
    const b = filled();
    const first = b.snapshot(1);
    first.encodeAsCollected?.("x");
    const r = first.step(1e9);
    assert.ok(r instanceof Promise, "waits for the thread");
    first.release();
    const second = b.snapshot(2);
    second.encodeAsCollected?.("x");
    let s = second.step(1e9);
    while (s !== true) s = await s;
    assert.equal(encodedEntries(second.encodedTables!()!.v).size, 400);
    second.release();
    assert.equal(await r, false, "the released snapshot ends undone");
    encoder.close();
  });
});

/** A backend of 1000 number keys, values k + 1. */
function numbers(): HeapKeyedStateBackend {
  const b = new HeapKeyedStateBackend({ maxParallelism: 16, range: { start: 0, end: 15 } });
  const v = b.valueState<number>("v");
  for (let k = 0; k < 1000; k++) {
    b.setCurrentKey(k);
    v.update(k + 1);
  }
  return b;
}

/** Steps a capture to its end, awaiting its promises. */
async function finish(c: KeyedStateCapture): Promise<void> {
  for (;;) {
    let r = c.step(100);
    if (r instanceof Promise) r = await r;
    if (r) return;
  }
}

/** The entries of a capture's keyed table "v", by key. */
function capturedEntries(c: KeyedStateCapture): Map<unknown, unknown> {
  const state = decode<{ keyed: { v: { groups: [number, [unknown, unknown][]][] } } }>(c.bytes());
  return new Map(state.keyed.v.groups.flatMap(([, entries]) => entries));
}

describe("a subtask's heap backend", () => {
  test("starts the encoder's thread when it is made, not on its first large checkpoint", () => {
    let prepared = 0;
    const inner = new WorkerPairEncoder();
    usePairEncoder({ encode: (b) => inner.encode(b), prepare: () => void prepared++ }, 1);
    new HeapKeyedStateBackend({ maxParallelism: 4, range: { start: 0, end: 3 } });
    assert.equal(prepared, 0, "a backend outside a subtask (no scheduler) starts nothing");
    new HeapKeyedStateBackend({ maxParallelism: 4, range: { start: 0, end: 3 }, scheduler: { after: () => ({ cancel() {} }), defer: () => {} } });
    assert.equal(prepared, 1);
    inner.close();
  });
});

describe("checkpoints of one backend that overlap while pairs are encoded off the thread", () => {
  test("a snapshot finished by the next snapshot point keeps every entry", async () => {
    usePairEncoder(new WorkerPairEncoder(), 10);
    const b = numbers();
    const c1 = new KeyedStateCapture(b.snapshot(1), "the state of operator \"t\"");
    assert.equal(c1.step(10), false, "the visit goes on");
    // The second snapshot point finishes the first one's visit (one visit at a time).
    const c2 = new KeyedStateCapture(b.snapshot(2), "the state of operator \"t\"");
    await finish(c1);
    await finish(c2);
    for (const c of [c1, c2]) {
      const entries = capturedEntries(c);
      assert.equal(entries.size, 1000);
      assert.equal(entries.get(999), 1000);
      c.release();
    }
  });

  test("an encoder that ends then fails the first checkpoint's capture with storage_failed and nothing else", async () => {
    const encoder = new WorkerPairEncoder();
    usePairEncoder(encoder, 10);
    const b = numbers();
    const c1 = new KeyedStateCapture(b.snapshot(1), "x");
    c1.step(10);
    const s2 = b.snapshot(2);
    encoder.close();
    // Without a handler on the promise the second snapshot point dropped, the process
    // would end on an unhandled rejection here.
    await assert.rejects(async () => finish(c1), (e: unknown) => e instanceof WeirError && e.code === "storage_failed");
    await new Promise((ok) => setTimeout(ok, 20));
    s2.release();
    c1.release();
  });

  test("where no thread can start, a checkpoint or two fail with storage_failed and then snapshots encode on their own thread", async () => {
    const encoder = new WorkerPairEncoder({ workerPath: "/nonexistent/weir-pair-encoder.js" });
    usePairEncoder(encoder, 10);
    const b = numbers();
    let failed = 0;
    for (let id = 1; encoder.available && id <= 5; id++) {
      const c = new KeyedStateCapture(b.snapshot(id), "x");
      await assert.rejects(async () => finish(c), (e: unknown) => e instanceof WeirError && e.code === "storage_failed");
      c.release();
      failed++;
    }
    assert.equal(encoder.available, false);
    assert.ok(failed >= 1 && failed <= 2, `checkpoints failed: ${failed}`);
    const c = new KeyedStateCapture(b.snapshot(9), "x");
    await finish(c);
    assert.equal(capturedEntries(c).size, 1000);
    c.release();
  });

  test("a thread that crashed fails the batches it held; the next batch gets a new thread", async () => {
    const encoder = new WorkerPairEncoder();
    usePairEncoder(encoder, 10);
    const b = numbers();
    const c1 = new KeyedStateCapture(b.snapshot(1), "x");
    const r = c1.step(1e9);
    assert.ok(r instanceof Promise, "waits for the thread");
    await encoder.stopThread();
    await assert.rejects(async () => {
      if (!(await r)) await finish(c1);
    }, (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && /exited/.test(e.message));
    c1.release();
    const c2 = new KeyedStateCapture(b.snapshot(2), "x");
    await finish(c2);
    assert.equal(capturedEntries(c2).size, 1000);
    c2.release();
    encoder.close();
  });
});

describe("incremental heap files whose number columns are encoded off the thread", () => {
  // The whole backend contract, with every table's number pairs sent to the thread.
  const encoder = new WorkerPairEncoder();
  describe("every case", () => {
    before(() => usePairEncoder(encoder, 1));
    after(() => usePairEncoder(original?.encoder, original?.minEntries));
    const shared = new Memory();
    runBackendConformance("heap (incremental, number columns off the thread)", (init) => new HeapKeyedStateBackend({ ...init, incremental: true, storage: shared }));
  });

  test("a table whose numbers join its columns here (it holds a string too) moves them a budget a step, not all in the visit's last step", async () => {
    usePairEncoder(new WorkerPairEncoder(), 1);
    const storage = new Memory();
    const b = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "m", subtaskIndex: 0, jobId: "j" });
    const v = b.valueState<unknown>("v");
    for (let k = 0; k < 5000; k++) {
      b.setCurrentKey(k);
      v.update(k === 4999 ? "last" : k);
    }
    let steps = 0;
    const handle = await finishSnapshot(b.snapshot(1), () => void steps++, 100);
    // The snapshot's steps (5000 slots visited, then 4999 numbers moved, 100 a step), the
    // columns' and the checksum's: 202, where the numbers all moved in the visit's last
    // step made it 152.
    assert.ok(steps >= 195, `steps: ${steps}`);
    const r = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "r", subtaskIndex: 0, jobId: "j" });
    await r.restore([handle]);
    for (const k of [0, 1234, 4998, 4999]) {
      r.setCurrentKey(k);
      assert.equal(r.valueState<unknown>("v").value(), k === 4999 ? "last" : k);
    }
  });

  test("bases and changelogs restore the state at each snapshot point, writes racing the visits, numbers and other values in one table or apart", async () => {
    const enc = counted(new WorkerPairEncoder());
    usePairEncoder(enc, 1);
    const storage = new Memory();
    const make = (uid: string) => new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid, subtaskIndex: 0, jobId: "j" });
    const b = make("count");
    const sum = () => b.valueState<number>("sum");
    const other = () => b.valueState<unknown>("other");
    const expected = new Map<number, number>();
    const expectedOther = new Map<number, unknown>();
    for (let k = 0; k < 5000; k++) {
      b.setCurrentKey(k);
      sum().update(k % 3 === 0 ? k * 1.5 : k);
      expected.set(k, k % 3 === 0 ? k * 1.5 : k);
      other().update(k % 10 === 0 ? `s${k}` : k);
      expectedOther.set(k, k % 10 === 0 ? `s${k}` : k);
    }
    const handles: [IncrementalKeyedState, Map<number, number>, Map<number, unknown>][] = [];
    for (let round = 1; round <= 4; round++) {
      const atPoint = new Map(expected);
      const otherAtPoint = new Map(expectedOther);
      let i = 0;
      const handle = await finishSnapshot(b.snapshot(round), () => {
        // Writes after the snapshot point: none may reach this checkpoint.
        for (let j = 0; j < 7; j++, i++) {
          const k = (i * 31 + round) % 5000;
          b.setCurrentKey(k);
          if (k % 97 === 0) {
            sum().clear();
            expected.delete(k);
          } else {
            sum().update(-k - round);
            expected.set(k, -k - round);
          }
        }
      });
      handles.push([handle, atPoint, otherAtPoint]);
    }
    assert.ok(enc.layouts.includes("columns"), `layouts sent: ${enc.layouts}`);
    for (const [handle, atPoint, otherAtPoint] of handles) {
      const r = make("restored");
      await r.restore([handle]);
      for (let k = 0; k < 5000; k++) {
        r.setCurrentKey(k);
        assert.equal(r.valueState<number>("sum").value(), atPoint.get(k), `sum of key ${k}`);
        assert.equal(r.valueState<unknown>("other").value(), otherAtPoint.get(k), `other of key ${k}`);
      }
      r.dispose();
    }
  });
});

describe("a job whose heap snapshots are encoded off the thread", () => {
  for (const incremental of [false, true]) {
  test(`restores from its latest checkpoint and counts every record exactly once${incremental ? " (incremental: bases and changelogs)" : ""}`, async () => {
    const encoder = counted(new WorkerPairEncoder());
    usePairEncoder(encoder, 1);
    const world = new VirtualWorld();
    const n = 100_000;
    const keys = 1_000;
    const per = n / keys;
    const env = new StreamEnvironment({
      jobName: "pairs-off-thread",
      parallelism: 2,
      state: { incremental },
      // Virtual time holds for the encoder's thread (Scheduler.hold), not for real file I/O.
      storage: new MemoryStorage(),
      checkpoint: { interval: 5 },
      restart: { strategy: "fixed-delay", attempts: 1, delay: 1 },
      runtime: world.runtime({ snapshotSliceMax: 200 }),
    });
    const sink = new CollectSink<number>();
    let reduced = 0;
    let failed = false;
    let failAt = -1;
    env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
      .keyBy((x: number) => x % keys)
      .reduce((a: number, b: number) => {
        reduced++;
        world.clock.advanceTo(world.clock.now() + 0.01);
        if (failAt < 0 && job.checkpointStats().counts.completed >= 2) failAt = reduced + 500;
        if (!failed && reduced === failAt) {
          failed = true;
          throw new Error("injected failure after completed checkpoints");
        }
        return a + b;
      }, { uid: "sum" })
      .sinkTo(sink, { uid: "out" });
    const job = await env.execute();
    const result = await world.untilDone(job);
    assert.equal(result.status, "finished", String(result.error));
    assert.equal(result.restarts, 1);
    assert.equal(job.checkpointStats().counts.restored, 1);
    assert.ok(encoder.batches >= 3, `batches encoded off the thread: ${encoder.batches}`);
    assert.ok(encoder.layouts.includes(incremental ? "columns" : "pairs"), `layouts: ${encoder.layouts}`);
    // Key k's sum is per·k + keys·per·(per - 1)/2, above every partial sum of any key:
    // the sums that high are the finals, each once.
    const floor = (keys * per * (per - 1)) / 2;
    const finals = sink.committed.filter((v) => v >= floor).sort((a, b) => a - b);
    assert.deepEqual(finals, Array.from({ length: keys }, (_, k) => per * k + floor));
  });
  }
});
