import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteStateStore } from "../../state/sqlite_store.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { stateCodec } from "../../state/sqlite_forms.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import type { KeyedStateHandle } from "../../state/backend.ts";
import { WeirError } from "../../errors.ts";
import { decode } from "../../codec/cbor.ts";
import { ModelState } from "./sqlite_model_state.ts";

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
  const native = (storage: MemoryStorage) =>
    new SqliteKeyedStateBackend(
      { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: "wq" },
      { driver: sqliteDriver, directory, cacheEntriesMax: 40, nativeCheckpoints: true, writeGroupRows: 48 },
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
});
