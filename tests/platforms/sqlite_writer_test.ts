import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { openSqliteWriter } from "../../platforms/sqlite_writer.ts";
import { SCHEMA } from "../../state/sqlite_store.ts";
import { WriteBatch } from "../../state/sqlite_write_batch.ts";
import type { SqliteBackgroundWriter } from "../../state/sqlite_driver.ts";
import { WeirError } from "../../errors.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-writer-"));
let files = 0;

async function opened(): Promise<{ path: string; writer: SqliteBackgroundWriter }> {
  const path = join(directory, `w${++files}.db`);
  const db = sqliteDriver.open(path);
  db.exec(`PRAGMA journal_mode = WAL; ${SCHEMA}`);
  db.close();
  const writer = openSqliteWriter(path, 8);
  assert.ok(await writer.whenReady(10_000), "the writer's thread comes up");
  return { path, writer };
}

function batch(f: (b: WriteBatch) => void): Uint8Array {
  const b = new WriteBatch();
  f(b);
  return b.bytes();
}

function values(path: string): Map<number, number> {
  const db = sqliteDriver.open(path);
  const rows = db.prepare("SELECT k, v FROM kv ORDER BY k").all();
  db.close();
  return new Map(rows.map((r) => [(r.k as Uint8Array)[0], (r.v as Uint8Array)[0]]));
}

/** A thread's nice value (Linux: field 19 of its stat file). */
function niceOf(statPath: string): number {
  return Number(readFileSync(statPath, "utf8").split(") ")[1].split(" ")[16]);
}

/** Thread id → nice value, of this process's threads. */
function threadNices(): Map<string, number> {
  return new Map(readdirSync("/proc/self/task").map((tid) => [tid, niceOf(`/proc/self/task/${tid}/stat`)]));
}

function ownNice(): number {
  return process.platform === "linux" ? niceOf("/proc/thread-self/stat") : 0;
}

describe(`SQLite background writer (${sqliteDriver.name})`, () => {
  // Skipped where the tests themselves run at nice 10 or more (the writer cannot go lower then).
  test("on Linux the writer's thread runs at nice 10, and only it: the subtask's thread keeps its priority", { skip: process.platform !== "linux" || ownNice() >= 10 }, async () => {
    const self = ownNice();
    // Thread ids, not counts: writers of earlier tests in this process may end meanwhile.
    const before = new Set(threadNices().keys());
    const { writer } = await opened();
    try {
      // At least one: threads the writer's thread starts (Bun's HeapHelper and collector
      // threads) inherit its nice value; the calling thread's is checked below.
      const started = [...threadNices()].filter(([tid, nice]) => nice === 10 && !before.has(tid));
      assert.ok(started.length >= 1, "a new thread at nice 10");
      assert.equal(ownNice(), self, "the calling thread's nice is unchanged");
    } finally {
      writer.terminate();
    }
  });

  test("batches of one send apply in their order in one transaction; sends apply in order; waitFor returns once committed", async () => {
    const { path, writer } = await opened();
    const first = writer.send([
      batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(10))),
      batch((b) => b.remove(1, 0, Uint8Array.of(1))),
      batch((b) => {
        b.put(1, 0, Uint8Array.of(2), null, Uint8Array.of(20));
        b.remove(1, 0, Uint8Array.of(3));
      }),
    ]);
    const second = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(3), null, Uint8Array.of(30)))]);
    assert.equal(second, first + 1);
    writer.waitFor(second);
    assert.ok(writer.committed() >= second);
    assert.deepEqual([...values(path)], [[2, 20], [3, 30]]);
    writer.terminate();
  });

  test("closeConnection() waits for what was sent and closes; the next send opens the file again", async () => {
    const { path, writer } = await opened();
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    writer.closeConnection();
    assert.equal(values(path).get(1), 1, "committed before the close returned");
    writer.waitFor(writer.send([batch((b) => b.put(1, 0, Uint8Array.of(2), null, Uint8Array.of(2)))]));
    assert.equal(values(path).get(2), 2);
    writer.terminate();
  });

  test("a failed transaction is reported by failure() and every later waitFor(), naming the cause; nothing of it is applied", async () => {
    const { path, writer } = await opened();
    const db = sqliteDriver.open(path);
    db.exec("ALTER TABLE kv RENAME TO kv_moved");
    db.close();
    const seq = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    assert.throws(() => writer.waitFor(seq), (e) => e instanceof WeirError && e.code === "storage_failed" && /no such table: kv/.test(e.message));
    assert.match(writer.failure() ?? "", /no such table: kv/);
    assert.throws(() => writer.waitFor(seq + 1), (e) => e instanceof WeirError && e.code === "storage_failed");
    writer.terminate();
  });

  test("waitFor() after terminate() throws storage_failed rather than waiting", async () => {
    const { writer } = await opened();
    const seq = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    writer.terminate();
    writer.terminate();
    try {
      writer.waitFor(seq + 1);
      assert.fail("waitFor returned");
    } catch (e) {
      assert.ok(e instanceof WeirError && e.code === "storage_failed" && /ended/.test(e.message), String(e));
    }
  });
  const canImage = (() => {
    const db = sqliteDriver.open(":memory:");
    const can = db.serialize !== undefined;
    db.close();
    return can;
  })();

  test("writeImage() copies the file's pages after every batch sent before it and none sent after; rows() counts its rows", { skip: !canImage }, async () => {
    const { path, writer } = await opened();
    writer.send([batch((b) => {
      for (let k = 1; k <= 5; k++) b.put(k % 3, 0, Uint8Array.of(k), null, Uint8Array.of(10 * k));
    })]);
    const imagePath = `${path}.image`;
    const image = writer.writeImage(imagePath);
    const later = writer.send([batch((b) => {
      b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(99));
      b.put(1, 0, Uint8Array.of(6), null, Uint8Array.of(60));
      b.remove(2, 0, Uint8Array.of(2));
    })]);
    assert.equal(later, image.seq + 1, "the image takes a sequence number of its own, in order");
    assert.equal(image.rows(), 5);
    writer.waitFor(later);
    assert.deepEqual([...values(imagePath)], [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]]);
    assert.deepEqual([...values(path)], [[1, 99], [3, 30], [4, 40], [5, 50], [6, 60]]);
    const db = sqliteDriver.open(imagePath);
    assert.equal(db.prepare("PRAGMA integrity_check").get()?.integrity_check, "ok");
    db.close();
    writer.terminate();
  });

  test("an image that cannot be written fails with storage_failed naming its path; the writer goes on with later batches", { skip: !canImage }, async () => {
    const { path, writer } = await opened();
    const imagePath = join(directory, "no-such-directory", "image.db");
    const image = writer.writeImage(imagePath);
    const next = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    assert.throws(() => image.rows(), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && e.message.includes(imagePath));
    writer.waitFor(next);
    assert.equal(writer.failure(), undefined);
    assert.equal(values(path).get(1), 1);
    writer.terminate();
  });

  test("an image asked for after a failed batch throws that batch's failure", { skip: !canImage }, async () => {
    const { path, writer } = await opened();
    const db = sqliteDriver.open(path);
    db.exec("ALTER TABLE kv RENAME TO kv_moved");
    db.close();
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    const image = writer.writeImage(join(directory, "after-failure.db"));
    assert.throws(() => image.rows(), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && /no such table: kv/.test(e.message));
    writer.terminate();
  });
  test("a finished image's rows() is its rows even when a later batch failed", { skip: !canImage }, async () => {
    const { path, writer } = await opened();
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    const image = writer.writeImage(`${path}.image`);
    while (!image.done()) await new Promise((r) => setTimeout(r, 1));
    const db = sqliteDriver.open(path);
    db.exec("ALTER TABLE kv RENAME TO kv_moved");
    db.close();
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(2), null, Uint8Array.of(2)))]);
    while (writer.failure() === undefined) await new Promise((r) => setTimeout(r, 1));
    assert.equal(image.done(), true);
    assert.equal(image.rows(), 1, "the later failure is not the image's");
    writer.terminate();
  });

  test("an image abandoned before the writer gets to it is never written; one abandoned once written is the caller's", { skip: !canImage }, async () => {
    const { path, writer } = await opened();
    // Batches ahead of the image, so it is still pending when abandoned.
    for (let i = 0; i < 50; i++) writer.send([batch((b) => { for (let k = 0; k < 200; k++) b.put(k % 8, 0, Uint8Array.of(i, k), null, new Uint8Array(64)); })]);
    const early = writer.writeImage(`${path}.early`);
    assert.equal(early.abandon(), true);
    const late = writer.writeImage(`${path}.late`);
    writer.waitFor(late.seq);
    assert.equal(existsSync(`${path}.early`), false, "the abandoned image is not on disk");
    assert.equal(late.abandon(), false, "finished: the caller removes it");
    assert.equal(existsSync(`${path}.late`), true);
    writer.terminate();
  });

  test("when the writer's thread ends, images not finished are removed, and rows() throws storage_failed naming the image", { skip: !canImage }, async () => {
    const { path, writer } = await opened();
    for (let i = 0; i < 200; i++) writer.send([batch((b) => { for (let k = 0; k < 200; k++) b.put(k % 8, 0, Uint8Array.of(i, k), null, new Uint8Array(100)); })]);
    const image = writer.writeImage(`${path}.image`);
    writer.terminate();
    assert.equal(image.done(), true);
    assert.throws(() => image.rows(), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && e.message.includes(`${path}.image`));
    for (const end = Date.now() + 20_000; existsSync(`${path}.image`) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    assert.equal(existsSync(`${path}.image`), false);
  });
});
