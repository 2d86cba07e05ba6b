import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SCHEMA, SqliteStateStore } from "../../state/sqlite_store.ts";
import { stateCodec } from "../../state/sqlite_forms.ts";
import { keyFromBytes } from "../../state/sqlite_keys.ts";
import { decode } from "../../codec/cbor.ts";
import { KeyFilter } from "../../state/sqlite_bloom.ts";
import { hashKey } from "../../state/key_group.ts";
import { WeirError } from "../../errors.ts";
import { SimPrng } from "../../sim/prng.ts";
import { writerProcesses } from "../helpers.ts";
import { applyWriteBatches } from "../../state/sqlite_write_batch.ts";
import type { SqliteBackgroundWriter, SqliteDriver } from "../../state/sqlite_driver.ts";

const plain = stateCodec("v", "value", false);

function openStore(cacheEntriesMax: number): SqliteStateStore {
  const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
  const store = new SqliteStateStore(sqliteDriver, { path: join(dir, "state.db"), maxParallelism: 128, cacheEntriesMax });
  store.declare(0, plain);
  return store;
}

/** 40 000 random updates of 5 000 keys through a store whose writer runs in a process, read back after its cache is dropped. */
async function readsBackThroughProcess(store: SqliteStateStore, path: string): Promise<void> {
  store.write(0, -1, -1, 0);
  assert.equal(await store.backgroundWriterReady(), true, "the background writer comes up");
  const KEYS = 5_000;
  const expected = new Map<number, number>();
  const prng = new SimPrng("writer-process");
  for (let i = 0; i < 40_000; i++) {
    const k = prng.int(KEYS);
    const v = (store.read(0, k, k) as number | undefined ?? 0) + 1;
    store.write(0, k, k, v);
    expected.set(k, v);
  }
  if (process.platform === "linux") assert.ok(writerProcesses(path).length > 0, "a process has the file's path on its command line");
  store.clearCache();
  for (const [k, v] of expected) assert.equal(store.read(0, k, k), v, `key ${k}`);
}

describe(`SqliteStateStore (${sqliteDriver.name})`, () => {
  test("values and deletions survive eviction from a cache smaller than the state", () => {
    const store = openStore(16);
    for (let i = 0; i < 1000; i++) store.write(0, i, i, { n: i });
    for (let i = 0; i < 1000; i += 3) store.write(0, i, i, undefined);
    assert.ok(store.cachedEntries <= 16, `cache holds ${store.cachedEntries} entries`);
    for (let i = 0; i < 1000; i++) assert.deepEqual(store.read(0, i, i), i % 3 === 0 ? undefined : { n: i });
    store.dispose();
  });

  test("keys of different types never share a row: 1, '1', true and 1n; a lone surrogate is not U+FFFD", () => {
    const store = openStore(2);
    const keys = [1, "1", true, 1n, "", -0.5, "a\u0000b", "\ud800", "\ufffd", "é😀"];
    keys.forEach((k, i) => store.write(0, k, k, i));
    store.flush();
    store.clearCache();
    keys.forEach((k, i) => assert.equal(store.read(0, k, k), i, `key ${String(k)}`));
    store.dispose();
  });

  test("openSnapshot() sees the state at the call, not writes made after it", () => {
    const store = openStore(1000);
    for (let i = 0; i < 100; i++) store.write(0, `k${i}`, `k${i}`, i);
    const reader = store.openSnapshot();
    for (let i = 0; i < 100; i++) store.write(0, `k${i}`, `k${i}`, -1);
    store.write(0, "late", "late", 7);
    store.flush();
    const seen = new Map<unknown, unknown>();
    while (!reader.done) for (const r of reader.next(7)) seen.set(keyFromBytes(r.k), decode(r.v));
    reader.close();
    assert.equal(seen.size, 100);
    for (let i = 0; i < 100; i++) assert.equal(seen.get(`k${i}`), i);
    store.dispose();
  });

  test("read() of a key not cached never evicts that key, so a list it returns can be changed in place and touched", () => {
    const store = openStore(4);
    store.declare(1, stateCodec("l", "list", false));
    store.write(1, "x", "x", [1]);
    for (const k of ["a", "b", "c", "d"]) store.write(0, k, k, k); // the fifth key: "x" is written back and evicted
    assert.equal(store.cachedEntries, 4);
    for (const k of ["a", "b", "c", "d"]) store.read(0, k, k); // every cached key used since the hand passed it
    const list = store.read(1, "x", "x") as number[];
    assert.deepEqual(list, [1]);
    list.push(2);
    store.touch(1, "x");
    store.clearCache();
    assert.deepEqual(store.read(1, "x", "x"), [1, 2]);
    store.dispose();
  });

  test("dispose() removes the working file", () => {
    const store = openStore(4);
    store.write(0, "a", "a", 1);
    store.flush();
    assert.ok(existsSync(store.path));
    store.dispose();
    assert.ok(!existsSync(store.path));
  });
});

describe("KeyFilter", () => {
  test("never forgets a key it was given, and rarely claims one it was not (scalable past its first capacity)", () => {
    const f = new KeyFilter();
    const n = 300_000;
    for (let i = 0; i < n; i++) f.add(i % 3, hashKey(`k${i}`));
    for (let i = 0; i < n; i++) assert.ok(f.mayHold(i % 3, hashKey(`k${i}`)), `key ${i}`);
    let false_ = 0;
    for (let i = 0; i < 100_000; i++) if (f.mayHold(1, hashKey(`other${i}`))) false_++;
    assert.ok(false_ < 5_000, `${false_} false positives in 100 000`);
    assert.ok(f.bytes < n * 4, `${f.bytes} bytes`);
  });
});

/**
 * The platform's driver with a background writer that commits, on a connection of its own,
 * only when told (`commit()`) or waited for: the test decides when a write-back reaches the file.
 */
function driverWithManualWriter(): { driver: SqliteDriver; commit: () => void } {
  const sent: Uint8Array[][] = [];
  let committed = 0;
  let path = "";
  const commitUpTo = (seq: number) => {
    if (seq <= committed) return;
    const db = sqliteDriver.open(path);
    try {
      while (committed < seq) applyWriteBatches(db, sent[committed++], 128);
    } finally {
      db.close();
    }
  };
  const writer = {
    ready: () => true,
    whenReady: () => Promise.resolve(true),
    waitReady: () => true,
    failure: () => undefined,
    send: (batches: Uint8Array[]) => sent.push(batches.map((b) => b.slice())),
    committed: () => committed,
    applying: () => false,
    waitFor: commitUpTo,
    waitForAtMost: () => false,
    terminate: () => {},
    closeConnection: () => {},
  } as unknown as SqliteBackgroundWriter;
  const driver: SqliteDriver = Object.create(sqliteDriver, {
    openWriter: { value: (p: string) => ((path = p), writer) },
  });
  return { driver, commit: () => commitUpTo(sent.length) };
}

describe(`SqliteStateStore reads while a background writer commits (${sqliteDriver.name})`, () => {
  test("a key whose write-back the writer committed after the store's last read reads as written: the read snapshot is taken again", () => {
    const { driver, commit } = driverWithManualWriter();
    const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
    const store = new SqliteStateStore(driver, { path: join(dir, "state.db"), maxParallelism: 128, cacheEntriesMax: 4, writeGroupRows: 1 });
    store.declare(0, plain);
    for (let k = 0; k < 50; k++) store.write(0, k, k, 1);
    store.clearCache();
    assert.equal(store.pendingWrites, 0);
    // Read from the file (a snapshot is held from here), then key 0 changed and given up by the cache.
    assert.equal(store.read(0, 10, 10), 1);
    store.write(0, 0, 0, 2);
    let k = 11;
    while (store.pendingWrites === 0) assert.equal(store.read(0, k, k++), 1, "another key, read from the file");
    assert.equal(store.read(0, k, k), 1, "a read from the file after the write-back went out, before its commit");
    commit();
    assert.equal(store.read(0, 0, 0), 2, "key 0 after its write-back committed");
    store.dispose();
  });
});

describe(`SqliteStateStore.prefetch (${sqliteDriver.name})`, () => {
  test("caches each key as read() would read it: from the file, from a write-back not yet committed, absent; read() then finds it cached", () => {
    const { driver, commit } = driverWithManualWriter();
    const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
    const store = new SqliteStateStore(driver, { path: join(dir, "state.db"), maxParallelism: 128, cacheEntriesMax: 8, writeGroupRows: 1 });
    store.declare(0, plain);
    for (let k = 0; k < 300; k++) store.write(0, k, k, k);
    store.clearCache();
    commit();
    // Key 5 changed, then given up by the cache: its write-back is sent and not committed.
    store.write(0, 5, 5, 50);
    let k = 100;
    while (store.pendingWrites === 0) store.read(0, k, k++);
    store.prefetch(0, [5], [5], 1);
    assert.equal(store.read(0, 5, 5), 50, "the write-back's value, not the file's");
    commit();
    // A larger cache: prefetched keys are cached, absent ones read as absent, repeats once.
    const big = new SqliteStateStore(driver, { path: join(dir, "big.db"), maxParallelism: 128, cacheEntriesMax: 1_000, writeGroupRows: 1 });
    big.declare(0, plain);
    for (let k = 0; k < 300; k++) big.write(0, k, k, { n: k });
    big.clearCache();
    commit();
    const keys = [...Array.from({ length: 200 }, (_, i) => (i * 7) % 300), 1_000, 1_001, -3, 7, 7];
    big.prefetch(0, keys, keys, keys.length);
    const cached = big.cachedEntries;
    assert.ok(cached >= 200 && cached <= 203, `${cached} entries cached for 200 keys stored and 3 absent`);
    for (const key of keys) assert.deepEqual(big.read(0, key, key), key >= 0 && key < 300 ? { n: key } : undefined, `key ${key}`);
    assert.ok(big.cachedEntries <= 203, "no key was read from the file twice into the cache");
    store.dispose();
    big.dispose();
  });

  test("a value read in a batch owns its bytes: a cached Uint8Array in it keeps no other key's value alive", () => {
    {
      const driver = sqliteDriver;
      const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
      const store = new SqliteStateStore(driver, { path: join(dir, "state.db"), maxParallelism: 128, cacheEntriesMax: 1_000 });
      store.declare(0, plain);
      const keys = Array.from({ length: 100 }, (_, k) => k);
      for (const k of keys) store.write(0, k, k, { bytes: new Uint8Array(64).fill(k) });
      store.clearCache();
      store.prefetch(0, keys, keys, keys.length);
      for (const k of keys) {
        const bytes = (store.read(0, k, k) as { bytes: Uint8Array }).bytes;
        assert.deepEqual([...bytes], new Array(64).fill(k));
        // At most its own stored value's buffer (78 bytes), never the batch's (100 values).
        assert.ok(bytes.buffer.byteLength <= 128, `key ${k}'s bytes are in a buffer of ${bytes.buffer.byteLength} bytes `);
      }
      store.dispose();
    }
  });

  test("a batch larger than the cache, with string and number keys, reads back as written (every key read again after its turn may be evicted)", () => {
    for (const cacheEntriesMax of [4, 10_000]) {
      const store = openStore(cacheEntriesMax);
      const prng = new SimPrng(`prefetch-${cacheEntriesMax}`);
      const expected = new Map<string, number>();
      const keyOf = (i: number) => i % 3 === 0 ? `s${i}` : i;
      for (let round = 0; round < 20; round++) {
        const batch = Array.from({ length: 300 }, () => keyOf(prng.int(2_000)));
        store.prefetch(0, batch, batch, batch.length);
        for (const key of batch) {
          const was = store.read(0, key, key) as number | undefined;
          assert.equal(was, expected.get(String(key)), `key ${key} in round ${round}`);
          store.write(0, key, key, (was ?? 0) + 1);
          expected.set(String(key), (was ?? 0) + 1);
        }
        if (round % 5 === 4) store.clearCache();
      }
      store.dispose();
    }
  });
});

describe(`SqliteStateStore's read transaction and the other uses of its connection (${sqliteDriver.name})`, () => {
  test("fileBytes(), isEmpty(), db, bulkLoad() and adoptFile() each end the read transaction a point read left held", () => {
    const { driver } = driverWithManualWriter();
    const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
    const store = new SqliteStateStore(driver, { path: join(dir, "state.db"), maxParallelism: 128, cacheEntriesMax: 4, writeGroupRows: 1 });
    store.declare(0, plain);
    for (let k = 0; k < 20; k++) store.write(0, k, k, k);
    store.clearCache();
    // Each read below comes from the file, within a read transaction it leaves held.
    let k = 0;
    const readFromFile = () => assert.equal(store.read(0, k, k), k++);
    readFromFile();
    assert.ok(store.fileBytes() > 0);
    readFromFile();
    assert.equal(store.isEmpty(), false);
    readFromFile();
    // A transaction of the caller's own on the connection (as restores run theirs).
    store.db.exec("BEGIN IMMEDIATE; COMMIT;");
    readFromFile();
    // Turns the WAL off and back on around a transaction of its own.
    store.bulkLoad(() => {});
    const other = join(dir, "other.db");
    const empty = sqliteDriver.open(other);
    empty.exec(SCHEMA);
    empty.close();
    readFromFile();
    store.adoptFile(other);
    assert.equal(store.read(0, 5, 5), undefined, "the adopted file has no rows");
    store.dispose();
  });
});

describe(`SqliteStateStore with its background writer (${sqliteDriver.name})`, () => {
  test("the WAL starts over while keys are read between the writer's commits: no read snapshot is held across a commit", async () => {
    const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
    const path = join(dir, "state.db");
    const store = new SqliteStateStore(sqliteDriver, { path, maxParallelism: 128, cacheEntriesMax: 500, writeGroupRows: 250 });
    store.declare(0, plain);
    const KEYS = 20_000;
    for (let k = 0; k < KEYS; k++) store.write(0, k, k, 0);
    store.flush();
    assert.equal(await store.backgroundWriterReady(), true, "the background writer comes up");
    // Read-mostly, as a lookup job: 250 keys changed, then 3 000 read from the file, which
    // evicts the changed ones (a group of 250 rows to the writer) and reads on while it commits.
    const ROUNDS = 200;
    const prng = new SimPrng("wal");
    const next = () => prng.int(KEYS);
    for (let round = 1; round <= ROUNDS; round++) {
      for (let i = 0, k = next(); i < 250; i++, k = next()) store.write(0, k, k, round);
      for (let i = 0, k = next(); i < 3_000; i++, k = next()) store.read(0, k, k);
    }
    store.flush();
    // A commit that leaves over 1 000 pages in the WAL starts a checkpoint (SQLite's default): the WAL
    // stays near 4 MiB when it starts over, and grew to 15–25 MiB here when a held snapshot kept it from that.
    const wal = statSync(`${path}-wal`).size;
    assert.ok(wal < 10 * 1024 * 1024, `the WAL is ${wal} bytes`);
    store.dispose();
  });

  test("with writerProcess the write-backs commit in the writer's own process, and every key reads back as last written", async () => {
    const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
    const path = join(dir, "state.db");
    const store = new SqliteStateStore(sqliteDriver, { path, maxParallelism: 128, cacheEntriesMax: 200, writeGroupRows: 250, writerProcess: true });
    store.declare(0, plain);
    try {
      await readsBackThroughProcess(store, path);
    } finally {
      store.dispose();
    }
  });
});

describe(`SqliteStateStore flush failure (${sqliteDriver.name})`, () => {
  for (const background of [false, true]) {
    test(`write-backs that fail on eviction leave their victims cached, and every key keeps its value, keys of three types in two states (${background ? "background writer" : "inline"})`, async () => {
      const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-store-"));
      const store = new SqliteStateStore(sqliteDriver, { path: join(dir, "state.db"), maxParallelism: 128, cacheEntriesMax: 40, writeGroupRows: 32, backgroundWrites: background });
      store.declare(0, plain);
      store.declare(1, plain);
      if (background) assert.equal(await store.backgroundWriterReady(), true);
      let seed = 9;
      const rnd = () => ((seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 4294967296);
      const keyOf = (n: number): unknown => (n % 3 === 0 ? n : n % 3 === 1 ? `k${n}` : BigInt(n));
      const unpersistable = () => 0;
      /** "sid/n" → the value last written (unpersistable: a function, which no write-back can encode). */
      const truth = new Map<string, unknown>();
      let failures = 0;
      for (let step = 0; step < 20_000; step++) {
        const sid = rnd() < 0.5 ? 0 : 1;
        const n = Math.floor(rnd() * 400);
        const k = keyOf(n);
        const id = `${sid}/${n}`;
        try {
          if (rnd() < 0.5) {
            const v = rnd() < 0.02 ? unpersistable : rnd() < 0.1 ? undefined : step;
            // The cache takes the value even when the write-back its insert causes fails.
            truth.set(id, v);
            store.write(sid, k, k, v);
          } else assert.equal(store.read(sid, k, k), truth.get(id), `step ${step}: key ${id}`);
        } catch (err) {
          if (!(err instanceof WeirError && err.code === "value_not_persistable")) throw err;
          failures++;
          // The job would fail here; the test puts a persistable value in place of each bad one and goes on.
          for (const [bad, v] of truth) {
            if (v !== unpersistable) continue;
            const [s, m] = bad.split("/").map(Number);
            truth.set(bad, -1);
            try {
              store.write(s, keyOf(m), keyOf(m), -1);
            } catch (again) {
              if (!(again instanceof WeirError && again.code === "value_not_persistable")) throw again;
            }
          }
        }
      }
      assert.ok(failures > 0, "some write-backs failed");
      store.flush();
      store.clearCache();
      for (const [id, v] of truth) {
        const [s, m] = id.split("/").map(Number);
        assert.equal(store.read(s, keyOf(m), keyOf(m)), v, `key ${id} from the file`);
      }
      store.dispose();
    });
  }

  test("entries of a flush that failed are written by the next flush", () => {
    const store = openStore(1000);
    store.write(0, "a", "a", 1);
    store.write(0, "bad", "bad", () => 0);
    assert.throws(() => store.flush(), (e) => e instanceof WeirError && e.code === "value_not_persistable");
    // The bad value is replaced; "a" was rolled back with it and must still reach the file.
    store.write(0, "bad", "bad", 2);
    assert.equal(store.flush(), 2);
    store.clearCache();
    assert.equal(store.read(0, "a", "a"), 1);
    assert.equal(store.read(0, "bad", "bad"), 2);
    store.dispose();
  });
});
