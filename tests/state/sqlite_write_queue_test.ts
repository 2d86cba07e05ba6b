import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteStateStore } from "../../state/sqlite_store.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { stateCodec } from "../../state/sqlite_forms.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import type { KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import { WeirError } from "../../errors.ts";
import { FORMAT_VERSION, decode } from "../../codec/cbor.ts";
import { ModelState } from "./sqlite_model_state.ts";
import { SimPrng } from "../../sim/prng.ts";
import { SCHEMA } from "../../state/sqlite_store.ts";
import { WriteBackQueue } from "../../state/sqlite_write_queue.ts";
import { WriteBatch } from "../../state/sqlite_write_batch.ts";
import { CacheEntry } from "../../state/sqlite_cache_entry.ts";
import type { SqliteBackgroundWriter, SqliteDatabase } from "../../state/sqlite_driver.ts";
import type { PendingWrites } from "../../state/sqlite_pending_writes.ts";
import type { DirtyCapture } from "../../state/sqlite_capture.ts";
import { keyBytes } from "../../state/sqlite_keys.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-write-queue-"));
let files = 0;

/** A store whose write-backs go to the background writer, in transactions of `groupRows` rows. */
async function backgroundStore(cacheEntriesMax: number, groupRows: number): Promise<SqliteStateStore> {
  const store = new SqliteStateStore(sqliteDriver, { path: join(directory, `s${++files}.db`), maxParallelism: 128, cacheEntriesMax, trackChanges: true, writeGroupRows: groupRows });
  store.declare(0, stateCodec("v", "value", false));
  assert.equal(await store.backgroundWriterReady(), true, "the background writer comes up");
  return store;
}

function rowsInFile(store: SqliteStateStore): number {
  return store.db.prepare("SELECT count(*) AS n FROM kv").get()!.n as number;
}

/**
 * A queue sending groups of two rows to a writer that commits only when told (`w.committed`)
 * or waited for (waitFor(); waitForAtMost() only times out), its waits noted in `w.waits`.
 */
function queueOnFakeWriter(db: SqliteDatabase): { q: WriteBackQueue; w: { sent: number; committed: number; waits: string[] }; writeOne: () => void } {
  const w = { sent: 0, committed: 0, waits: [] as string[] };
  const writer = {
    ready: () => true,
    failure: () => undefined,
    send: () => ++w.sent,
    committed: () => w.committed,
    applying: () => false,
    waitFor: (seq: number) => {
      w.waits.push(`until ${seq}`);
      w.committed = Math.max(w.committed, seq);
    },
    waitForAtMost: (seq: number, ms: number) => (w.waits.push(`${seq} for ${ms} ms`), false),
    terminate: () => {},
  } as unknown as SqliteBackgroundWriter;
  const q = new WriteBackQueue(db, 128, () => writer, 2);
  let key = 0;
  const writeOne = () => {
    const b = new WriteBatch();
    b.put(1, 0, keyBytes(key), null, Uint8Array.of(FORMAT_VERSION, key & 0x7f));
    q.write(b, [new CacheEntry(0, key, 1, undefined, key, 0)]);
    key++;
  };
  return { q, w, writeOne };
}

describe(`SQLite write-backs on a background writer (${sqliteDriver.name})`, () => {
  test("keys written back stay readable while pending or in flight, and every one reaches the file", async () => {
    const store = await backgroundStore(64, 256);
    const n = 5000;
    for (let i = 0; i < n; i++) store.write(0, i, i, { n: i });
    for (let i = 0; i < n; i += 5) store.write(0, i, i, undefined);
    assert.ok(store.pendingWrites > 0, "some keys are pending");
    for (let i = 0; i < n; i++) assert.deepEqual(store.read(0, i, i), i % 5 === 0 ? undefined : { n: i }, `key ${i}`);
    store.flush();
    assert.equal(store.pendingWrites, 0, "a flush waits for every group");
    assert.equal(rowsInFile(store), n - n / 5);
    store.clearCache();
    for (let i = 0; i < n; i += 7) assert.deepEqual(store.read(0, i, i), i % 5 === 0 ? undefined : { n: i }, `key ${i} from the file`);
    store.dispose();
  });

  test("a key written back twice in one transaction (put, delete, put again) ends as its last write", async () => {
    // One transaction for everything: the key's batches must apply in their order.
    const store = await backgroundStore(8, 1_000_000);
    let others = 0;
    const churn = () => {
      for (let i = 0; i < 10; i++, others++) store.write(0, `other-${others}`, `other-${others}`, others);
    };
    store.write(0, "k", "k", "first");
    store.write(0, "gone", "gone", 1);
    churn();
    assert.equal(store.read(0, "k", "k"), "first", "read back from its pending write");
    store.write(0, "k", "k", undefined);
    store.write(0, "gone", "gone", undefined);
    churn();
    assert.equal(store.read(0, "k", "k"), undefined, "a pending delete");
    store.write(0, "k", "k", "third");
    churn();
    assert.ok(store.pendingWrites > 20, `${store.pendingWrites} pending`);
    store.flush();
    store.clearCache();
    assert.equal(store.read(0, "k", "k"), "third");
    assert.equal(store.read(0, "gone", "gone"), undefined);
    assert.equal(rowsInFile(store), others + 1);
    store.dispose();
  });

  test("capture(false), a base's take, holds the values of pending keys: the file it pins may lack them", async () => {
    const store = await backgroundStore(8, 1_000_000);
    for (let i = 0; i < 200; i++) store.write(0, i, i, `v${i}`);
    const pending = store.pendingWrites;
    assert.ok(pending > 150, `${pending} pending`);
    const capture = store.capture(false);
    const seen = new Map<unknown, unknown>();
    for (let i = 0; i < capture.size; i++) {
      const { entry, bytes, stored } = capture.value(i);
      seen.set(entry.canonical, bytes ? decode(bytes) : stored);
    }
    capture.release();
    assert.equal(seen.size, 200);
    for (let i = 0; i < 200; i++) assert.equal(seen.get(i), `v${i}`);
    assert.equal(store.capture(true).size, 0, "a changelog does not take them: its file has their records");
    store.dispose();
  });

  test("a capture holding committed groups keeps their values while later groups reuse the key lists of others", async () => {
    const store = await backgroundStore(8, 64);
    for (let i = 0; i < 300; i++) store.write(0, i, i, `v${i}`);
    assert.ok(store.pendingWrites > 0, "some keys are pending at the snapshot point");
    const capture = store.capture(false);
    // Many groups more, each committed and its key list reused, while the capture is held.
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 300; i++) store.write(0, i, i, `w${round}-${i}`);
      for (let i = 0; i < 500; i++) store.write(0, `other-${i}`, `other-${i}`, round);
      store.flush();
    }
    const seen = new Map<unknown, unknown>();
    for (let i = 0; i < capture.size; i++) {
      const { entry, bytes, stored } = capture.value(i);
      seen.set(entry.canonical, bytes ? decode(bytes) : stored);
    }
    capture.release();
    for (let i = 0; i < 300; i++) if (seen.has(i)) assert.equal(seen.get(i), `v${i}`, `key ${i} as at the snapshot point`);
    assert.ok(seen.size > 0);
    for (let i = 0; i < 300; i++) assert.equal(store.read(0, i, i), `w4-${i}`);
    store.dispose();
  });

  test("NaN is one key, -0 and 0 another, while cached, pending and in the file", async () => {
    const store = await backgroundStore(8, 64);
    const churn = (n: number) => {
      for (let i = 0; i < n; i++) store.write(0, `other-${i}`, `other-${i}`, i);
    };
    store.write(0, NaN, NaN, "nan");
    store.write(0, -0, -0, "zero");
    assert.equal(store.read(0, 0 / 0, 0 / 0), "nan", "cached");
    assert.equal(store.read(0, 0, 0), "zero", "cached");
    churn(20);
    assert.ok(store.pendingWrites > 0);
    assert.equal(store.read(0, Number.NaN, Number.NaN), "nan", "pending or in the file");
    store.write(0, 0, 0, "zero again");
    churn(20);
    assert.equal(store.read(0, -0, -0), "zero again", "pending or in the file");
    store.flush();
    store.clearCache();
    assert.equal(store.read(0, NaN, NaN), "nan", "in the file");
    assert.equal(store.read(0, -0, -0), "zero again", "in the file");
    assert.equal(rowsInFile(store), 22);
    store.dispose();
  });

  test("with waitForWriter, what is pending at a snapshot point does not depend on the writer's pace: the first write-back waits for the writer, a full capture for the groups sent", () => {
    const open = (waitForWriter: boolean) => {
      const store = new SqliteStateStore(sqliteDriver, { path: join(directory, `s${++files}.db`), maxParallelism: 128, cacheEntriesMax: 8, trackChanges: true, writeGroupRows: 64, waitForWriter });
      store.declare(0, stateCodec("v", "value", false));
      return store;
    };
    // Not waiting, the first write-backs go straight to the file while the writer's thread starts.
    const eager = open(false);
    for (let i = 0; i < 20; i++) eager.write(0, i, i, i);
    assert.equal(eager.pendingWrites, 0, "written here: the thread was not up yet");
    eager.dispose();
    const waiting = open(true);
    for (let i = 0; i < 20; i++) waiting.write(0, i, i, i);
    assert.ok(waiting.pendingWrites > 0, "gathered for the writer, which the first write-back waited for");
    for (let i = 20; i < 400; i++) waiting.write(0, i, i, i);
    // Groups of 64 went out; a full capture takes the gathering group only: the sent ones are committed.
    const capture = waiting.capture(false);
    assert.equal(capture.size, waiting.pendingWrites + waiting.dirtyEntries, "every sent group committed before the take");
    assert.ok(waiting.pendingWrites < 64, `${waiting.pendingWrites} pending: the gathering group only`);
    capture.release();
    waiting.dispose();
  });

  test("with waitForWriter, a writer that never comes up is waited for once; later write-backs go to the file at once", () => {
    const db = sqliteDriver.open(":memory:");
    db.exec(SCHEMA);
    let waits = 0;
    const never = { ready: () => false, waitReady: () => (waits++, false), terminate: () => {} } as unknown as SqliteBackgroundWriter;
    const q = new WriteBackQueue(db, 128, () => never, 64, true);
    for (let i = 0; i < 3; i++) {
      const b = new WriteBatch();
      b.put(1, 0, Uint8Array.of(i), null, Uint8Array.of(FORMAT_VERSION, i));
      q.write(b, [new CacheEntry(0, i, 1, undefined, i, 0)]);
    }
    assert.equal(waits, 1, "waited once");
    assert.equal(q.pendingKeys, 0, "every batch written here");
    assert.equal(db.prepare("SELECT count(*) AS n FROM kv").get()!.n, 3);
    db.close();
  });

  test("a committed group a capture held is reused by a later group once the capture lets go, not before", () => {
    const db = sqliteDriver.open(":memory:");
    db.exec(SCHEMA);
    const { q, w, writeOne } = queueOnFakeWriter(db);
    /** The PendingWrites a capture of the unsent group is given (the group being gathered). */
    const gathering = (): PendingWrites => {
      let got: PendingWrites | undefined;
      q.capturePending({ takePending: (w: PendingWrites) => void (got = w) } as unknown as DirtyCapture, true);
      return got!;
    };
    writeOne();
    const first = gathering();
    writeOne(); // the first group (2 keys) goes out
    const held: PendingWrites[] = [];
    // As DirtyCapture.takePending(): an empty list is not held.
    q.capturePending({ takePending: (w: PendingWrites, n: number) => n > 0 && (w.hold(), held.push(w)) } as unknown as DirtyCapture);
    assert.deepEqual(held, [first], "the capture holds the group sent");
    w.committed = w.sent;
    for (let i = 0; i < 4; i++) writeOne(); // two more groups: the first is committed, held, not reused
    writeOne();
    assert.notEqual(gathering(), first, "a held group is not reused");
    first.letGo();
    w.committed = w.sent;
    writeOne(); // the gathering group goes out; the next one takes a spare
    writeOne();
    assert.equal(gathering(), first, "let go of, the group's lists serve a later group");
    assert.throws(() => first.letGo(), (err: unknown) => err instanceof WeirError && err.code === "invariant_broken");
    db.close();
  });

  test("a writer behind by more than one group paces each write-back in short waits; only past three groups in flight does one wait for a commit", () => {
    const db = sqliteDriver.open(":memory:");
    db.exec(SCHEMA);
    const { q, w, writeOne } = queueOnFakeWriter(db);
    const { waits } = w;
    writeOne();
    writeOne(); // group 1 out
    writeOne();
    assert.deepEqual(waits, [], "one group in flight: no wait");
    writeOne(); // group 2 out
    writeOne();
    assert.deepEqual(waits, ["1 for 2 ms"], "two in flight: a short wait for the oldest");
    writeOne(); // group 3 out
    writeOne();
    writeOne(); // group 4 out: one too many
    assert.deepEqual(waits, ["1 for 2 ms", "1 for 2 ms", "until 1"]);
    assert.equal(q.pendingKeys, 6, "the keys of the group waited for are committed; the rest stay pending");
    w.committed = w.sent;
    waits.length = 0;
    writeOne();
    assert.deepEqual(waits, [], "caught up: no wait");
    assert.equal(q.pendingKeys, 1);
    db.close();
  });

  test("a group whose send throws stays the one gathered: its keys are still found, and a later send takes them", () => {
    const db = sqliteDriver.open(":memory:");
    db.exec(SCHEMA);
    let sent = 0;
    let refuse = true;
    const batches: number[] = [];
    const writer = {
      ready: () => true,
      failure: () => undefined,
      send: (b: Uint8Array[]) => {
        if (refuse) throw new WeirError("storage_failed", "the writer's thread cannot take a batch");
        batches.push(b.length);
        return ++sent;
      },
      committed: () => 0,
      applying: () => false,
      waitFor: () => {},
      waitForAtMost: () => false,
      terminate: () => {},
    } as unknown as SqliteBackgroundWriter;
    const q = new WriteBackQueue(db, 128, () => writer, 2);
    const writeOne = (key: number) => {
      const b = new WriteBatch();
      b.put(1, 0, keyBytes(key), null, Uint8Array.of(FORMAT_VERSION, key));
      q.write(b, [new CacheEntry(0, key, 1, undefined, key, 0)]);
    };
    writeOne(1);
    assert.throws(() => writeOne(2), (err: unknown) => err instanceof WeirError && err.code === "storage_failed");
    for (const key of [1, 2]) assert.deepEqual(q.find(0, key), Uint8Array.of(FORMAT_VERSION, key), `key ${key} is still pending`);
    assert.equal(q.pendingKeys, 2);
    refuse = false;
    writeOne(3); // the group of three goes out
    assert.deepEqual(batches, [3], "the group refused is sent whole with the next write-back");
    for (const key of [1, 2, 3]) assert.deepEqual(q.find(0, key), Uint8Array.of(FORMAT_VERSION, key));
    db.close();
  });

  test("a failed transaction fails the next write-back with storage_failed naming the file; its keys are kept", async () => {
    const store = await backgroundStore(8, 64);
    // The writer's connection finds no table: every transaction fails.
    const other = sqliteDriver.open(store.path);
    other.exec("DROP TABLE kv");
    other.close();
    let failure: unknown;
    try {
      for (let i = 0; i < 100_000 && failure === undefined; i++) {
        store.write(0, i, i, i);
        if (i % 1000 === 999) await new Promise((r) => setTimeout(r, 1));
      }
      store.flush();
    } catch (e) {
      failure = e;
    }
    assert.ok(failure instanceof WeirError && failure.code === "storage_failed", String(failure));
    assert.match((failure as Error).message, /kv/);
    assert.ok(store.pendingWrites > 0, "the keys of the failed transaction are kept, not dropped");
    assert.throws(() => store.flush(), (e) => e instanceof WeirError && e.code === "storage_failed", "the failure stays");
    store.dispose();
  });
});

describe(`SQLite native checkpoints with a background writer (${sqliteDriver.name})`, () => {
  const native = (storage: MemoryStorage, cacheEntriesMax = 40, writeGroupRows = 48) =>
    new SqliteKeyedStateBackend(
      { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: "wq" },
      { driver: sqliteDriver, directory, cacheEntriesMax, nativeCheckpoints: true, writeGroupRows },
    );

  test("bases and changelogs restore their snapshot points while keys are pending, in flight and committed, with changes racing the steps", async () => {
    const storage = new MemoryStorage();
    const b = native(storage);
    assert.equal(await b.store.backgroundWriterReady(), true);
    const h = new ModelState(b);
    const n = 400;
    const handles: { handle: KeyedStateHandle; expected: string[] }[] = [];
    let pendingAtSnapshot = 0;
    for (let checkpoint = 1; checkpoint <= 6; checkpoint++) {
      for (let i = checkpoint % 3; i < n; i += 3) {
        h.update(i, `c${checkpoint}-${i}`).add(i, checkpoint).put(i, `m${checkpoint % 2}`, i).reduce(i, checkpoint);
        if ((i + checkpoint) % 11 === 0) h.remove(i);
      }
      if (b.store.pendingWrites > 0) pendingAtSnapshot++;
      const expected = h.expected(n);
      const snap = b.snapshot(checkpoint);
      for (let round = 0; !(await snap.step(20)); round++) {
        for (let i = round % 5; i < n; i += 5) h.update(i, `race-${checkpoint}-${round}`).add(i, -round);
      }
      handles.push({ handle: snap.result(), expected });
      snap.release();
    }
    assert.ok(pendingAtSnapshot >= 2, `keys were pending at ${pendingAtSnapshot} of 6 snapshot points`);
    for (const [i, { handle, expected }] of handles.entries()) {
      const r = native(storage);
      await r.restore([handle]);
      assert.deepEqual(new ModelState(r).actual(n), expected, `checkpoint ${i + 1}`);
      r.dispose();
    }
    assert.deepEqual(h.actual(n), h.expected(n), "the running backend has every change");
    b.dispose();
  });

  /**
   * One seeded run: a tiny cache and small write groups, so that entries are evicted,
   * pending, committed and reused for other keys all the time; random value, list, map and
   * reducing changes (and reads checked against the model) on a few hundred keys, racing up
   * to three snapshots in flight (native bases and changelogs, now and then a savepoint),
   * stepped with random budgets, some released early. Halfway the backend is replaced by
   * one restored from its newest checkpoint, which goes on. Every checkpoint that completed
   * is then restored into a fresh backend and compared with the model at its snapshot point.
   * The seed fixes every draw; when the background writer commits does vary from run to run.
   */
  async function randomRun(seed: number): Promise<{ completed: number; released: number; restoredFrom: number }> {
    const prng = new SimPrng(`sqlite-write-queue/${seed}`);
    const cacheEntriesMax = prng.range(8, 40);
    // Small groups half the time: a group then often commits before write() returns. Else
    // groups of at least the cache's size: their entries, unpinned at once when a group
    // commits, overflow the pool of free entries, so new ones are made and listed dirty.
    const groupRows = prng.chance(0.5) ? prng.range(4, 8) : prng.range(cacheEntriesMax, 48);
    const n = prng.range(120, 220);
    // Keys n to n + COLD - 1 are written in runs (value state only), making and evicting
    // entries by the hundred: the dirty list outgrows its dirty keys and is swept in slices
    // while changes and captures go on. A sample of them is checked beside keys 0 to n - 1.
    const COLD = 3000;
    const checked = [...Array.from({ length: n }, (_, i) => i), ...Array.from({ length: 40 }, (_, i) => n + Math.floor((i * COLD) / 40) + prng.int(COLD / 40))];
    // The cold keys written last: the ones likely dirty in the cache at a snapshot point.
    const recentCold: number[] = [];
    const where = `seed ${seed} (cache ${cacheEntriesMax}, groups of ${groupRows}, ${n} keys)`;
    const storage = new MemoryStorage();
    let b = native(storage, cacheEntriesMax, groupRows);
    assert.equal(await b.store.backgroundWriterReady(), true);
    let h = new ModelState(b);
    interface Flight { snap: KeyedStateSnapshot; id: number; savepoint: boolean; keys: number[]; expected: string[]; model: ModelState }
    const flights: Flight[] = [];
    const completed: { id: number; savepoint: boolean; handle: KeyedStateHandle; keys: number[]; expected: string[]; model: ModelState }[] = [];
    let nextId = 1;
    let released = 0;
    let restoredFrom = 0;
    // Most changes go to a few hot keys (cached, dirty again and again), the rest anywhere.
    const key = () => (prng.chance(0.5) ? prng.int(Math.min(n, 12)) : prng.int(n));
    const change = () => {
      const i = key();
      const r = prng.int(20);
      if (r < 5) h.update(i, `s${seed}-${nextId}-${prng.int(1000)}`);
      else if (r < 9) h.add(i, prng.int(100));
      else if (r < 13) h.put(i, `m${prng.int(4)}`, prng.int(100));
      else if (r < 17) h.reduce(i, prng.range(1, 9));
      else if (r < 18) h.remove(i);
      else assert.equal(h.actualKey(i), h.expectedKey(i), `${where}: key ${i} read back while running`);
    };
    const finish = (f: Flight) => {
      completed.push({ id: f.id, savepoint: f.savepoint, handle: f.snap.result(), keys: f.keys, expected: f.expected, model: f.model });
      f.snap.release();
      flights.splice(flights.indexOf(f), 1);
    };
    const stepOnce = async (f: Flight, budget: number) => {
      if (await f.snap.step(budget)) finish(f);
    };
    const phase = async (ticks: number) => {
      for (let t = 0; t < ticks; t++) {
        for (let k = prng.range(1, 25); k > 0; k--) change();
        if (prng.chance(0.08)) {
          const from = prng.int(COLD);
          for (let k = prng.range(100, 500); k > 0; k--) {
            const i = n + ((from + k) % COLD);
            h.update(i, `cold-${nextId}-${t}`);
            recentCold.push(i);
          }
          recentCold.splice(0, recentCold.length - 2 * cacheEntriesMax);
        }
        if (flights.length < 3 && prng.chance(0.12)) {
          const savepoint = prng.chance(0.15);
          const id = nextId++;
          // The model at the snapshot point: nothing changed after this call may show.
          const keys = [...new Set([...checked, ...recentCold])];
          flights.push({ id, savepoint, keys, expected: keys.map((i) => h.expectedKey(i)), model: h.copy(b), snap: b.snapshot(id, savepoint ? { savepoint: true } : undefined) });
          // A savepoint reads the file after a flush: every dirty key was written back.
          if (savepoint) assert.equal(b.store.dirtyEntries, 0, `${where}: keys left dirty by the flush of savepoint ${id}`);
        }
        if (flights.length > 0 && prng.chance(0.6)) {
          const f = prng.pick(flights);
          await stepOnce(f, prng.pick([1, 2, 8, 20, 64, 300, Infinity]));
        }
        if (flights.length > 0 && prng.chance(0.01)) {
          // Aborted, at any point of its steps: the next snapshot is a base.
          const f = prng.pick(flights);
          f.snap.release();
          flights.splice(flights.indexOf(f), 1);
          released++;
        }
        // Now and then the writer's commits are seen between changes (groups dropped).
        if (prng.chance(0.05)) await new Promise((r) => setTimeout(r, 0));
      }
      // The snapshots still in flight: released, or finished in random steps.
      while (flights.length > 0) {
        const f = prng.pick(flights);
        if (prng.chance(0.2)) {
          f.snap.release();
          flights.splice(flights.indexOf(f), 1);
          released++;
          continue;
        }
        await stepOnce(f, prng.pick([8, 64, Infinity]));
        for (let k = prng.range(0, 10); k > 0; k--) change();
      }
    };
    await phase(prng.range(100, 150));
    // A restart: the newest native checkpoint becomes a new backend's state (its working
    // file adopted), which goes on from there.
    const last = completed.filter((c) => !c.savepoint).at(-1);
    if (last !== undefined) {
      b.dispose();
      b = native(storage, cacheEntriesMax, groupRows);
      await b.restore([last.handle]);
      assert.equal(await b.store.backgroundWriterReady(), true);
      h = last.model.copy(b);
      restoredFrom = last.id;
      await phase(prng.range(60, 100));
    }
    assert.deepEqual(checked.map((i) => h.actualKey(i)), checked.map((i) => h.expectedKey(i)), `${where}: the running backend has every change`);
    b.dispose();
    for (const c of completed) {
      const r = native(storage, 4096, groupRows);
      await r.restore([c.handle]);
      const restored = new ModelState(r);
      assert.deepEqual(c.keys.map((i) => restored.actualKey(i)), c.expected, `${where}: ${c.savepoint ? "savepoint" : "checkpoint"} ${c.id} restored`);
      r.dispose();
    }
    return { completed: completed.length, released, restoredFrom };
  }

  // Seeds 3, 6 and 12 draw small write groups (a group often commits before write()
  // returns); 2 and 8 large ones beside a small cache (the dirty list is swept in slices).
  for (const seed of [2, 3, 6, 8, 12]) {
    test(`random changes, reads, up to three snapshots in flight with random steps and early releases, a restart: every checkpoint restores its snapshot point (seed ${seed})`, async () => {
      const { completed, released, restoredFrom } = await randomRun(seed);
      assert.ok(completed >= 3 && restoredFrom > 0, `seed ${seed}: ${completed} checkpoints completed (${released} released early), restarted from ${restoredFrom}`);
    });
  }
});
