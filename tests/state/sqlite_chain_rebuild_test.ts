import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import type { IncrementalKeyedState, KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import type { KeyGroupRange } from "../../state/key_group.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { adoptBase, applyFile, chainChanges, downloadChain, mergeChainFiles, readLayout, restoresInMemory } from "../../state/sqlite_native_restore.ts";
import { upsertChanges } from "../../state/sqlite_chain_rebuild.ts";
import type { SqliteDatabase } from "../../state/sqlite_driver.ts";
import { SqliteStateStore } from "../../state/sqlite_store.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { joinParts } from "../../storage/adapter.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-chain-rebuild-"));
let opened = 0;
const maxParallelism = 64;
const key = (i: number) => (i % 4 === 0 ? { id: i } : i % 4 === 1 ? `k${i}` : i);

async function finish(snap: KeyedStateSnapshot): Promise<KeyedStateHandle> {
  while (!(await snap.step(1000)));
  const r = snap.result();
  snap.release();
  return r;
}

function storeOf(): SqliteStateStore {
  return new SqliteStateStore(sqliteDriver, { path: join(directory, `store-${++opened}.db`), maxParallelism, cacheEntriesMax: 16 });
}

/** Every row of kv, as text, in key order. */
function rowsOf(db: SqliteDatabase): string[] {
  return db.prepare("SELECT kg, s, hex(k) AS k, hex(ok) AS ok, hex(v) AS v FROM kv ORDER BY kg, s, k").all().map((r) => `${r.kg}/${r.s}/${r.k}/${r.ok}/${r.v}`);
}

/**
 * A chain of a base and four changelogs written by the backend itself: three states (one
 * of them declared after the base), object keys (an original key stored), keys deleted,
 * inserted again, and deleted then revived in a later checkpoint.
 */
async function chain(storage: MemoryStorage, valueBytes = 1, expected = new Map<number, string>()): Promise<KeyedStateHandle> {
  const b = new SqliteKeyedStateBackend({ maxParallelism, range: { start: 0, end: maxParallelism - 1 }, incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: "j" }, { driver: sqliteDriver, directory, cacheEntriesMax: 50, nativeCheckpoints: true });
  const pad = "x".repeat(valueBytes);
  const n = 600;
  for (let i = 0; i < n; i++) {
    b.setCurrentKey(key(i));
    b.valueState<string>("v").update(`v${i}${pad}`);
    expected.set(i, `v${i}${pad}`);
    if (i % 5 === 0) b.mapState<string, number>("m").put(`m${i % 7}`, i);
  }
  let h = await finish(b.snapshot(1));
  for (let round = 1; round <= 4; round++) {
    for (let j = 0; j < 120; j++) {
      const i = (round * 97 + j * 5) % (n + 50);
      b.setCurrentKey(key(i));
      if (j % 4 === 0) b.valueState<string>("v").clear();
      else b.valueState<string>("v").update(`r${round}-${i}${pad}`);
      if (j % 4 === 0) expected.delete(i);
      else expected.set(i, `r${round}-${i}${pad}`);
      // Deleted last round, revived now.
      const back = ((round - 1) * 97 + j * 5) % (n + 50);
      b.setCurrentKey(key(back));
      if (j % 8 === 0) b.valueState<string>("v").update(`back${round}${pad}`);
      if (j % 8 === 0) expected.set(back, `back${round}${pad}`);
      if (round >= 2 && j % 3 === 0) b.listState<number>("late").add(round);
    }
    h = await finish(b.snapshot(round + 1));
  }
  b.dispose();
  return h;
}

/** Restores `handle`'s chain into two empty stores, by the merge and file by file; returns both stores' rows. */
async function restoreBothWays(storage: MemoryStorage, handle: KeyedStateHandle, range: KeyGroupRange, schemaOverPage1 = false, upsert = false, basePartBytes = 0, changelogPartBytes = 0): Promise<{ merged: string[]; byFile: string[]; took: boolean }> {
  const merged = storeOf();
  const byFile = storeOf();
  let took = false;
  const layout = readLayout(handle as IncrementalKeyedState);
  const files = await downloadChain(storage, handle as IncrementalKeyedState, layout);
  if (schemaOverPage1) files[0].parts = [withSchemaOverPage1(joinParts(files[0].parts))];
  if (basePartBytes > 0) {
    const base = joinParts(files[0].parts);
    files[0].parts = Array.from({ length: Math.ceil(base.length / basePartBytes) }, (_, i) => base.slice(i * basePartBytes, (i + 1) * basePartBytes));
    assert.ok(files[0].parts.length > 2, `the base in ${files[0].parts.length} parts`);
  }
  if (changelogPartBytes > 0) {
    for (const f of files.slice(1)) {
      const log = joinParts(f.parts);
      f.parts = Array.from({ length: Math.ceil(log.length / changelogPartBytes) }, (_, i) => log.slice(i * changelogPartBytes, (i + 1) * changelogPartBytes));
    }
  }
  const changes = chainChanges(files, layout, range, "the test's chain");
  if (upsert) {
    // The base adopted as it is, then the changes upserted in key order.
    const path = join(directory, `file-${++opened}`);
    sqliteDriver.writeFile(path, joinParts(files[0].parts));
    adoptBase(merged, path, range);
    upsertChanges(merged, changes, "the test's chain");
    took = true;
  } else took = mergeChainFiles(merged, files[0], changes, range, "the test's chain");
  for (const { parts, file } of files) {
    const path = join(directory, `file-${++opened}`);
    sqliteDriver.writeFile(path, joinParts(parts));
    if (file.kind === "base") adoptBase(byFile, path, range);
    else applyFile(byFile, path, range, true, layout.states.map(([, sid]) => [sid, sid]));
    sqliteDriver.removeFiles(path);
  }
  const out = { merged: rowsOf(merged.db), byFile: rowsOf(byFile.db), took };
  merged.dispose();
  byFile.dispose();
  return out;
}

/** The base `bytes` with tables added until its schema outgrows page 1 (the merge asks SQLite for kv's root page then). */
function withSchemaOverPage1(bytes: Uint8Array): Uint8Array {
  const path = join(directory, `padded-${++opened}`);
  sqliteDriver.writeFile(path, bytes);
  const db = sqliteDriver.open(path);
  db.exec("PRAGMA journal_mode = DELETE");
  for (let i = 0; i < 60; i++) db.exec(`CREATE TABLE padding_${i}_${"x".repeat(40)} (a, b, c)`);
  db.close();
  const padded = sqliteDriver.readFile(path);
  sqliteDriver.removeFiles(path);
  assert.equal(padded[100], 0x05, "page 1 is an interior page");
  return padded;
}

describe("mergeChainFiles()", () => {
  for (const range of [{ start: 0, end: maxParallelism - 1 }, { start: 20, end: 40 }]) {
    test(`upsertChanges() into the adopted base restores the chain as applying it file by file does (key groups ${range.start}-${range.end})`, async () => {
      const storage = new MemoryStorage();
      const h = await chain(storage);
      const { merged, byFile } = await restoreBothWays(storage, h, range, false, true);
      assert.ok(byFile.length > 100);
      assert.deepEqual(merged, byFile);
    });
  }

  test("reads the root page of kv through SQLite when the base's schema is more than page 1", async () => {
    const storage = new MemoryStorage();
    const h = await chain(storage);
    const { merged, byFile, took } = await restoreBothWays(storage, h, { start: 0, end: maxParallelism - 1 }, true);
    assert.equal(took, true);
    assert.ok(byFile.length > 100);
    assert.deepEqual(merged, byFile);
  });

  for (const range of [{ start: 0, end: maxParallelism - 1 }, { start: 20, end: 40 }]) {
    test(`restores a chain with deletions, revivals, object keys and a state added later as applying it file by file does (key groups ${range.start}-${range.end})`, async () => {
      const storage = new MemoryStorage();
      const h = await chain(storage);
      const layout = readLayout(h as IncrementalKeyedState);
      assert.deepEqual(layout.files.map((f) => f.kind), ["base", "changelog", "changelog", "changelog", "changelog", "changelog"]);
      assert.ok(restoresInMemory(h as IncrementalKeyedState, layout), "a restore of this chain is in memory");
      const { merged, byFile, took } = await restoreBothWays(storage, h, range);
      assert.equal(took, true);
      assert.ok(byFile.length > 100);
      if (range.start > 0) assert.ok(byFile.every((r) => Number(r.split("/")[0]) >= range.start && Number(r.split("/")[0]) <= range.end));
      assert.deepEqual(merged, byFile);
    });
  }

  test("merges a base stored in parts of whole pages, read where they lie, as applying it file by file does", async () => {
    const storage = new MemoryStorage();
    const h = await chain(storage);
    // A page a part: how much of the first checkpoint's rows the base holds (the rest are
    // captured values) depends on how far the writer got, so the base may be only a few pages.
    const { merged, byFile, took } = await restoreBothWays(storage, h, { start: 0, end: maxParallelism - 1 }, false, false, 4096);
    assert.equal(took, true);
    assert.ok(byFile.length > 100);
    assert.deepEqual(merged, byFile);
  });

  test("merges a chain whose changelogs are stored in parts that cut records, read where they lie, as applying it file by file does", async () => {
    const storage = new MemoryStorage();
    const h = await chain(storage);
    // 37 B parts: most records cross a part, some several, and some parts hold no record's start.
    const { merged, byFile, took } = await restoreBothWays(storage, h, { start: 0, end: maxParallelism - 1 }, false, false, 0, 37);
    assert.equal(took, true);
    assert.ok(byFile.length > 100);
    assert.deepEqual(merged, byFile);
  });

  test("leaves a chain whose records need overflow pages to the file-by-file path, the store unchanged", async () => {
    const storage = new MemoryStorage();
    const h = await chain(storage, 3000);
    const merged = storeOf();
    const layout = readLayout(h as IncrementalKeyedState);
    const files = await downloadChain(storage, h as IncrementalKeyedState, layout);
    const all = { start: 0, end: maxParallelism - 1 };
    assert.equal(mergeChainFiles(merged, files[0], chainChanges(files, layout, all, "the test's chain"), all, "the test's chain"), false);
    assert.deepEqual(rowsOf(merged.db), []);
    merged.dispose();
  });

  test("a chain whose last put is too large for a page, and for the merge's window, is restored file by file", async () => {
    const storage = new MemoryStorage();
    const init = { maxParallelism, range: { start: 0, end: maxParallelism - 1 }, incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: "j" };
    const b = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, cacheEntriesMax: 50, nativeCheckpoints: true });
    for (let i = 0; i < 200; i++) {
      b.setCurrentKey(`k${i}`);
      b.valueState<string>("v").update(`v${i}`);
    }
    await finish(b.snapshot(1));
    // Many changes (the merge's path), then a value over the merge's window of 1 MiB.
    for (let i = 0; i < 5000; i++) {
      b.setCurrentKey(`n${i}`);
      b.valueState<string>("v").update(`w${i}`);
    }
    b.setCurrentKey("big");
    b.valueState<string>("v").update("x".repeat(1_200_000));
    const h = await finish(b.snapshot(2));
    b.dispose();
    const layout = readLayout(h as IncrementalKeyedState);
    const files = await downloadChain(storage, h as IncrementalKeyedState, layout);
    const all = { start: 0, end: maxParallelism - 1 };
    const merged = storeOf();
    assert.equal(mergeChainFiles(merged, files[0], chainChanges(files, layout, all, "the test's chain"), all, "the test's chain"), false);
    merged.dispose();
    const r = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, nativeCheckpoints: true });
    await r.restore([h]);
    r.setCurrentKey("big");
    assert.equal(r.valueState<string>("v").value()?.length, 1_200_000);
    r.setCurrentKey("n4999");
    assert.equal(r.valueState<string>("v").value(), "w4999");
    r.dispose();
  });

  test("a backend restored from a long chain reads the values the chain's last checkpoint held", async () => {
    const storage = new MemoryStorage();
    const expected = new Map<number, string>();
    const h = await chain(storage, 1, expected);
    const r = new SqliteKeyedStateBackend({ maxParallelism, range: { start: 0, end: maxParallelism - 1 }, incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: "j" }, { driver: sqliteDriver, directory, nativeCheckpoints: true });
    await r.restore([h]);
    const { byFile } = await restoreBothWays(storage, h, { start: 0, end: maxParallelism - 1 });
    r.store.flush();
    assert.deepEqual(rowsOf(r.store.db), byFile);
    for (let i = 0; i < 650; i++) {
      r.setCurrentKey(key(i));
      assert.equal(r.valueState<string>("v").value(), expected.get(i), `key ${i}`);
    }
    assert.ok([...expected.values()].some((v) => v.startsWith("back")) && expected.size < 640, "keys were deleted and revived");
    r.dispose();
  });
});
