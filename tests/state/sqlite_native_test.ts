/**
 * A sqlite base written as a page image of the working file by the background writer
 * (state/sqlite_native.ts): what restores it, and that no image file outlives its snapshot.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { changelogMemory } from "../../state/sqlite_changelog.ts";
import { WeirError } from "../../errors.ts";
import type { KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import { keyGroupOf, keyGroupRangeFor } from "../../state/key_group.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-native-"));

const canImage = (() => {
  const db = sqliteDriver.open(":memory:");
  const can = db.serialize !== undefined;
  db.close();
  return can;
})();

async function finish(snap: KeyedStateSnapshot): Promise<KeyedStateHandle> {
  while (!(await snap.step(1000)));
  const r = snap.result();
  snap.release();
  return r;
}

/** The journal-mode bytes (18, 19) of a handle's base: 2 in a page image of the WAL working file, 1 in a row copy. */
async function baseHeaderBytes(storage: MemoryStorage, h: KeyedStateHandle): Promise<[number, number]> {
  assert.equal(h.format, "incremental");
  const first = await storage.get((h as { shared: { key: string }[] }).shared[0].key);
  assert.ok(first && new TextDecoder().decode(first.subarray(0, 15)) === "SQLite format 3");
  return [first[18], first[19]];
}

const native = (storage: MemoryStorage, dir: string, sub = 0, of = 1, cacheEntriesMax = 64, writeGroupRows = 16) =>
  new SqliteKeyedStateBackend(
    { maxParallelism: 128, range: keyGroupRangeFor(sub, of, 128), incremental: true, storage, uid: "op", subtaskIndex: sub, jobId: "img" },
    { driver: sqliteDriver, directory: dir, cacheEntriesMax, nativeCheckpoints: true, writeGroupRows },
  );

/** A backend with a background writer up, holding `keys` values `prefix + key`, every one in its file. */
async function filled(storage: MemoryStorage, dir: string, keys: number, prefix: string): Promise<SqliteKeyedStateBackend> {
  const b = native(storage, dir, 0, 1, 1000);
  assert.equal(await b.store.backgroundWriterReady(), true);
  const v = b.valueState<string>("v");
  for (let k = 0; k < keys; k++) {
    b.setCurrentKey(k);
    v.update(prefix + k);
  }
  b.store.flush();
  return b;
}

/** A backend with its background writer up, whose scheduler records the work it is told to hold (Scheduler.hold). */
async function holding(name: string) {
  const dir = mkdtempSync(join(directory, `${name}-`));
  const storage = new MemoryStorage();
  const held: Promise<unknown>[] = [];
  const scheduler = { after: () => ({ cancel() {} }), defer() {}, hold: (work: Promise<unknown>) => void held.push(work) };
  const b = new SqliteKeyedStateBackend(
    { maxParallelism: 128, range: keyGroupRangeFor(0, 1, 128), incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: name, scheduler },
    { driver: sqliteDriver, directory: dir, cacheEntriesMax: 64, nativeCheckpoints: true, writeGroupRows: 16 },
  );
  assert.equal(await b.store.backgroundWriterReady(), true);
  return { dir, storage, held, b };
}

describe(`sqlite bases as page images (${sqliteDriver.name})`, { skip: !canImage }, () => {
  test("a page-image base restores by adoption, by merge with its changelogs and applied into a backend holding state (2 subtasks into 1); no -wal/-shm is left", async () => {
    const dir = mkdtempSync(join(directory, "restore-"));
    const storage = new MemoryStorage();
    const old = [0, 1].map((i) => native(storage, dir, i, 2));
    for (const b of old) assert.equal(await b.store.backgroundWriterReady(), true);
    // Each backend writes the keys of its own key groups.
    const mine = (k: number) => old.findIndex((b) => {
      const g = keyGroupOf(k, 128);
      return g >= b.range.start && g <= b.range.end;
    });
    const expected = new Map<number, number>();
    for (let k = 0; k < 2000; k++) {
      const b = old[mine(k)];
      b.setCurrentKey(k);
      b.valueState<number>("v").update(k);
      expected.set(k, k);
    }
    for (let k = 0; k < 2000; k += 7) {
      const b = old[mine(k)];
      b.setCurrentKey(k);
      b.valueState<number>("v").clear();
      expected.delete(k);
    }
    // Subtask 0's base has no captured value (all written back): a restore adopts it rather than merging.
    old[0].store.flush();
    const bases = await Promise.all(old.map((b) => finish(b.snapshot(1))));
    for (const h of bases) assert.deepEqual(await baseHeaderBytes(storage, h), [2, 2], "the base is a page image of the WAL working file");
    // A changelog on top (half the keys: a restore into an empty backend merges it with the base).
    for (let k = 1; k < 2000; k += 2) {
      const b = old[mine(k)];
      b.setCurrentKey(k);
      b.valueState<number>("v").update(-k);
      expected.set(k, -k);
    }
    const chains = await Promise.all(old.map((b) => finish(b.snapshot(2))));
    // Every key of the restored backend's key groups (a single subtask's handle covers exactly those).
    const check = (r: SqliteKeyedStateBackend, what: string, exp: Map<number, number>) => {
      for (let k = 0; k < 2000; k++) {
        const g = keyGroupOf(k, 128);
        if (g < r.range.start || g > r.range.end) continue;
        r.setCurrentKey(k);
        assert.equal(r.valueState<number>("v").value(), exp.get(k), `${what}: key ${k}`);
      }
    };
    const atBase = new Map<number, number>();
    for (let k = 0; k < 2000; k++) if (k % 7 !== 0) atBase.set(k, k);
    // 1. Adopted: one subtask's base alone into an empty backend of its range.
    const a = native(storage, dir, 0, 2);
    await a.restore([bases[0]]);
    check(a, "adopted", atBase);
    // 2. Merged with its changelog (empty backend, many records).
    const m = native(storage, dir, 0, 2);
    await m.restore([chains[0]]);
    check(m, "merged", expected);
    // 3. Applied: both subtasks' chains into one backend (the second is applied into a backend holding state).
    const one = native(storage, dir, 0, 1);
    await one.restore(chains);
    check(one, "applied", expected);
    for (const b of [...old, a, m, one]) b.dispose();
    const left = readdirSync(dir).filter((f) => /-(wal|shm)$/.test(f) || /restore/.test(f));
    assert.deepEqual(left, [], "no restore file, -wal or -shm is left behind");
  });

  test("a base's image is not left behind when the store is disposed (writer terminated) before the snapshot is released", async () => {
    const dir = mkdtempSync(join(directory, "leak-"));
    const storage = new MemoryStorage();
    const b = await filled(storage, dir, 150_000, "y".repeat(200));
    const snap = b.snapshot(1);
    // Let the writer start on the image, then end it.
    await new Promise((r) => setTimeout(r, 5));
    b.dispose();
    snap.release();
    // The writer's thread ends some time after terminate(): its exit removes the image.
    const left = () => readdirSync(dir).filter((f) => f.includes("-base"));
    for (const end = Date.now() + 20_000; left().length > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(left(), [], "no image left behind");
  });

  test("a base released while its image is pending leaves no file behind; the next base restores everything", async () => {
    const dir = mkdtempSync(join(directory, "abort-"));
    const storage = new MemoryStorage();
    const b = await filled(storage, dir, 50_000, "z".repeat(200));
    const snap = b.snapshot(1);
    snap.release();
    // The next base is a page image too and restores everything.
    const handle = await finish(b.snapshot(2));
    assert.deepEqual(await baseHeaderBytes(storage, handle), [2, 2]);
    // store.db waits for every message the writer was sent (the aborted image included).
    void b.store.db;
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes("-1-base")), [], "the aborted base's image is removed");
    const r = native(storage, dir, 0, 1, 1000);
    await r.restore([handle]);
    for (const k of [0, 777, 49_999]) {
      r.setCurrentKey(k);
      assert.equal(r.valueState<string>("v").value(), "z".repeat(200) + k);
    }
    b.dispose();
    r.dispose();
  });

  test("with a scheduler that holds its clock, a base's snapshot waits for its image once even when it is written already (its steps do not depend on the writer's pace)", async () => {
    const { held, b } = await holding("hold-once");
    b.setCurrentKey(1);
    b.valueState<number>("v").update(1);
    const snap = b.snapshot(1);
    // Time for the writer to finish the image of a one-row file.
    await new Promise((r) => setTimeout(r, 200));
    const promises: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const r = snap.step(1000);
      if (r instanceof Promise) promises.push(i);
      if ((r instanceof Promise ? await r : r) === true) break;
    }
    assert.equal(held.length, 1, "one wait, held");
    assert.equal(promises.length, 2, "the image's wait, then one for the puts of the base and of its captured values, in flight together");
    snap.result();
    snap.release();
    b.dispose();
  });

  test("a snapshot waiting for its page image holds its scheduler's clock until the image is written (virtual time does not race the writer)", async () => {
    const { dir, storage, held, b } = await holding("hold");
    // Another connection's write lock stalls the writer on the first write-back group, and
    // so on the image queued behind it.
    const lock = sqliteDriver.open(b.store.path);
    lock.exec("BEGIN IMMEDIATE");
    const v = b.valueState<number>("v");
    // A few more keys than the cache holds: one group of write-backs goes to the writer
    // (a second would wait for the first, behind the lock).
    for (let k = 0; k < 72; k++) {
      b.setCurrentKey(k);
      v.update(k);
    }
    const snap = b.snapshot(1);
    let waited: Promise<boolean> | undefined;
    for (let i = 0; i < 1000 && !waited; i++) {
      const r = snap.step(1000);
      if (r instanceof Promise) waited = r;
      else assert.equal(r, false, "not finished while the writer is stalled");
    }
    assert.ok(waited, "the snapshot waits for its image");
    assert.equal(snap.awaitsStorageOnly, true);
    assert.equal(held.length, 1, "the wait is held on the scheduler");
    let settled = false;
    void held[0].then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(settled, false, "the held wait lasts while the writer is stalled");
    lock.exec("ROLLBACK");
    lock.close();
    await held[0];
    const handle = await finish(snap);
    assert.deepEqual(await baseHeaderBytes(storage, handle), [2, 2]);
    const r = native(storage, dir, 0, 1, 1000);
    await r.restore([handle]);
    for (const k of [0, 63, 71]) {
      r.setCurrentKey(k);
      assert.equal(r.valueState<number>("v").value(), k);
    }
    b.dispose();
    r.dispose();
  });
  test("a captured key that cannot be encoded fails its checkpoint with value_not_persistable, whether its own step or the next snapshot point's pass reaches it; no file is left", async () => {
    const dir = mkdtempSync(join(directory, "unencodable-"));
    const storage = new MemoryStorage();
    const b = native(storage, dir, 0, 1, 1000);
    const v = b.valueState<string>("v");
    for (let k = 0; k < 100; k++) {
      b.setCurrentKey(k);
      v.update(`v${k}`);
    }
    // A function cannot be encoded: the cache keeps it until a snapshot or write-back encodes it.
    b.setCurrentKey("f");
    v.update((() => 1) as unknown as string);
    const refused = (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable";
    const first = b.snapshot(1);
    await assert.rejects(finish(first), refused);
    first.release();
    // The next two: the second snapshot point finishes the first's pass, which meets the key.
    const second = b.snapshot(2);
    const third = b.snapshot(3);
    await assert.rejects(finish(second), refused);
    await assert.rejects(finish(third), refused);
    second.release();
    third.release();
    assert.deepEqual(readdirSync(dir).filter((f) => /-base|\.log$/.test(f)), [], "no base or changelog of a failed snapshot is left");
    b.dispose();
  });
  test("a captured object that cannot be encoded, changed after the snapshot point before the snapshot reached it, fails the checkpoint naming the state and operator", async () => {
    const dir = mkdtempSync(join(directory, "unencodable-preserved-"));
    class Unregistered {
      constructor(readonly x: number) {}
    }
    const b = native(new MemoryStorage(), dir, 0, 1, 1000);
    const v = b.valueState<unknown>("position");
    for (let k = 0; k < 100; k++) {
      b.setCurrentKey(k);
      v.update({ at: k === 50 ? new Unregistered(k) : k });
    }
    const snap = b.snapshot(1);
    // Changed before the snapshot's steps reach it: the old object is encoded now (preserved).
    b.setCurrentKey(50);
    v.update({ at: 0 });
    await assert.rejects(finish(snap), (e: unknown) =>
      e instanceof WeirError && e.code === "value_not_persistable" && e.message.includes('keyed state "position"') && e.message.includes('operator "op"') && e.message.includes("class Unregistered"));
    snap.release();
    b.dispose();
  });
  test("a base taken while the dirty list is empty keeps the written-back keys not yet sent to the writer", async () => {
    const dir = mkdtempSync(join(directory, "empty-list-"));
    const storage = new MemoryStorage();
    // Groups never fill: every write-back stays in the group being gathered (unsent).
    const b = native(storage, dir, 0, 1, 4000, 1_000_000);
    assert.equal(await b.store.backgroundWriterReady(), true);
    const v = b.valueState<string>("v");
    const n = 1200;
    for (let k = 0; k < n; k++) {
      b.setCurrentKey(k);
      v.update(`v${k}`);
    }
    // Reads of other keys evict the written keys (512 at a time); the sweep the last
    // eviction starts empties the dirty list.
    for (let k = n; k < n + 10_000 && b.store.dirtyEntries > 0; k++) {
      b.setCurrentKey(k);
      v.value();
    }
    assert.equal(b.store.dirtyEntries, 0);
    assert.ok(b.store.pendingWrites > 0, "write-backs pending");
    const h = await finish(b.snapshot(1));
    const r = native(storage, dir, 0, 1, 10_000);
    await r.restore([h]);
    const lost: number[] = [];
    for (let k = 0; k < n; k++) {
      r.setCurrentKey(k);
      if (r.valueState<string>("v").value() !== `v${k}`) lost.push(k);
    }
    assert.deepEqual(lost, [], `lost ${lost.length} keys`);
    b.dispose();
    r.dispose();
  });

  test("a changelog's pass takes at most a quarter of a step's budget in dirty keys (4 096 values encoded in one step took 20–28 ms on Bun)", async () => {
    const dir = mkdtempSync(join(directory, "pass-"));
    const b = native(new MemoryStorage(), dir, 0, 1, 20_000);
    const v = b.valueState<number>("v");
    const steps = async (id: number, dirty: number) => {
      for (let k = 0; k < dirty; k++) {
        b.setCurrentKey(k);
        v.update(id * 100_000 + k);
      }
      const snap = b.snapshot(id);
      let n = 1;
      while (!(await snap.step(4096))) n++;
      snap.result();
      snap.release();
      return n;
    };
    await steps(1, 8192);
    const n = await steps(2, 8192);
    // The pass alone takes 8192 / 1024 steps; at a key a unit the whole snapshot took 6.
    assert.ok(n >= 8192 / 1024, `a snapshot of 8 192 dirty keys took ${n} steps of 4 096`);
    b.dispose();
  });

  test("a snapshot writes at most half a step's budget in captured values (16 384 in a materialization's turn took 5–15 ms)", async () => {
    const dir = mkdtempSync(join(directory, "written-"));
    const b = native(new MemoryStorage(), dir, 0, 1, 20_000);
    const v = b.valueState<number>("v");
    const dirty = 8192;
    const steps = async (id: number, usedAgain: boolean) => {
      for (let k = 0; k < dirty; k++) {
        b.setCurrentKey(k);
        v.update(id * 100_000 + k);
      }
      const snap = b.snapshot(id);
      // Every dirty key used again before the pass reaches it is taken with its value, and
      // written after the pass; otherwise the pass writes it as it goes.
      for (let k = 0; usedAgain && k < dirty; k++) {
        b.setCurrentKey(k);
        v.value();
      }
      let n = 1;
      while (!(await snap.step(4096))) n++;
      snap.result();
      snap.release();
      return n;
    };
    await steps(1, false);
    const passWrites = await steps(2, false);
    const writtenAfter = await steps(3, true);
    // At 2 048 values a step, 3 more steps than none; at 4 096, 1 (a step is either the pass's or the writing's).
    assert.ok(writtenAfter - passWrites > dirty / 4096, `writing ${dirty} captured values took ${writtenAfter - passWrites} more steps of 4 096 than none`);
    b.dispose();
  });

  test("a storage that keeps what it is handed keeps no megabyte buffer for a changelog of a few bytes", async () => {
    const dir = mkdtempSync(join(directory, "retained-"));
    class Keeping extends MemoryStorage {
      readonly buffers = new Map<string, ArrayBufferLike>();
      override put(key: string, bytes: Uint8Array): Promise<void> {
        this.buffers.set(key, bytes.buffer);
        return super.put(key, bytes);
      }
    }
    const storage = new Keeping();
    const b = native(storage, dir, 0, 1, 1000);
    const v = b.valueState<number>("v");
    for (let cp = 1; cp <= 10; cp++) {
      b.setCurrentKey(cp);
      v.update(cp);
      await finish(b.snapshot(cp));
    }
    const mib = [...new Set(storage.buffers.values())].reduce((n, buf) => n + buf.byteLength, 0) / 2 ** 20;
    assert.ok(mib < 2, `${storage.buffers.size} small parts hold ${mib.toFixed(1)} MiB`);
    b.dispose();
  });
  test("changelogs kept in memory count against the thread's bound only until their checkpoint is done or released", async () => {
    const dir = mkdtempSync(join(directory, "memory-bound-"));
    const before = changelogMemory.kept;
    const storage = new MemoryStorage();
    const b = native(storage, dir, 0, 1, 200);
    const v = b.valueState<string>("v");
    const fill = (round: number) => {
      for (let k = 0; k < 3000; k++) {
        b.setCurrentKey(k);
        v.update(`${round}-${k}`.padEnd(100, "."));
      }
    };
    fill(0);
    await finish(b.snapshot(1));
    fill(1);
    await finish(b.snapshot(2));
    fill(2);
    const dropped = b.snapshot(3);
    await dropped.step(1000);
    dropped.release();
    for (let round = 3; round < 8; round++) fill(round); // over a megabyte: a chunk is kept
    assert.ok(changelogMemory.kept > before, "the epoch's changelog is in memory");
    b.dispose();
    assert.equal(changelogMemory.kept, before, "every byte given back");
  });
});
