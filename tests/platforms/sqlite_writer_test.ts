import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import process from "node:process";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { openSqliteWriter } from "../../platforms/sqlite_writer.ts";
import { SCHEMA } from "../../state/sqlite_store.ts";
import { WriteBatch } from "../../state/sqlite_write_batch.ts";
import type { SqliteBackgroundWriter } from "../../state/sqlite_driver.ts";
import { WeirError } from "../../errors.ts";
import { checksumOf } from "../../checkpoint/checksum.ts";
import { until, writerProcesses } from "../helpers.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-writer-"));
let files = 0;

async function opened(inProcess: boolean): Promise<{ path: string; writer: SqliteBackgroundWriter }> {
  const path = join(directory, `w${++files}.db`);
  const db = sqliteDriver.open(path);
  db.exec(`PRAGMA journal_mode = WAL; ${SCHEMA}`);
  db.close();
  const writer = openSqliteWriter(path, 8, { process: inProcess });
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

/** Thread id → nice value, of this process's threads (one that ends while they are read is left out). */
function threadNices(): Map<string, number> {
  const nices = new Map<string, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      nices.set(tid, niceOf(`/proc/self/task/${tid}/stat`));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  return nices;
}

function ownNice(): number {
  return process.platform === "linux" ? niceOf("/proc/thread-self/stat") : 0;
}

// Every case in both modes: transactions on the writer's thread, or in its process.
for (const inProcess of [false, true]) describe(`SQLite background writer${inProcess ? ", in a process of its own" : ""} (${sqliteDriver.name})`, () => {
  // Skipped where the tests themselves run at nice 10 or more (the writer cannot go lower then).
  test("on Linux the writer's thread runs at nice 10, and only it: the subtask's thread keeps its priority", { skip: process.platform !== "linux" || ownNice() >= 10 }, async () => {
    const self = ownNice();
    // Thread ids, not counts: writers of earlier tests in this process may end meanwhile.
    const before = new Set(threadNices().keys());
    const { writer } = await opened(inProcess);
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
    const { path, writer } = await opened(inProcess);
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

  test("waitForAtMost() is true once the batch is committed, false when the time passes first, and throws a failure as waitFor()", async () => {
    const { path, writer } = await opened(inProcess);
    const seq = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(10)))]);
    assert.equal(writer.waitForAtMost(seq, 60_000), true);
    assert.ok(writer.committed() >= seq);
    // A batch never sent is never committed: the wait ends with its time.
    assert.equal(writer.waitForAtMost(seq + 1, 5), false);
    const db = sqliteDriver.open(path);
    db.exec("ALTER TABLE kv RENAME TO kv_moved");
    db.close();
    const failing = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(2), null, Uint8Array.of(20)))]);
    assert.throws(() => writer.waitForAtMost(failing, 60_000), (e) => e instanceof WeirError && e.code === "storage_failed" && /no such table: kv/.test(e.message));
    writer.terminate();
    assert.throws(() => writer.waitForAtMost(failing + 1, 60_000), (e) => e instanceof WeirError && e.code === "storage_failed");
  });

  test("a batch's buffer goes back once applied and carries later sends; only the bytes of each send are applied", async () => {
    const { path, writer } = await opened(inProcess);
    // A large send first: the buffer later sends reuse holds its bytes past theirs.
    writer.waitFor(writer.send([batch((b) => {
      for (let k = 0; k < 250; k++) b.put(1, 0, Uint8Array.of(k), null, new Uint8Array(4000).fill(k));
    })]));
    assert.equal(writer.buffersMade, 1);
    for (let round = 0; round < 20; round++) writer.waitFor(writer.send([batch((b) => b.put(1, 0, Uint8Array.of(round), null, Uint8Array.of(100 + round)))]));
    // A buffer given back shows on this side at once on Bun, Deno and Node; a lag would cost a few more.
    assert.ok(writer.buffersMade <= 5, `${writer.buffersMade} buffers made for 21 sends`);
    const got = values(path);
    assert.equal(got.size, 250, "no record beyond a send's own bytes was applied");
    for (let k = 0; k < 250; k++) assert.equal(got.get(k), k < 20 ? 100 + k : k, `key ${k}`);
    writer.terminate();
  });

  test("closeConnection() waits for what was sent and closes; the next send opens the file again", async () => {
    const { path, writer } = await opened(inProcess);
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    writer.closeConnection();
    assert.equal(values(path).get(1), 1, "committed before the close returned");
    writer.waitFor(writer.send([batch((b) => b.put(1, 0, Uint8Array.of(2), null, Uint8Array.of(2)))]));
    assert.equal(values(path).get(2), 2);
    writer.terminate();
  });

  test("a failed transaction is reported by failure() and every later waitFor(), naming the cause; nothing of it is applied", async () => {
    const { path, writer } = await opened(inProcess);
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
    const { writer } = await opened(inProcess);
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

  test("the kill terminate() sends is not reported as a failure, however late waitFor() comes", async () => {
    const { writer } = await opened(inProcess);
    const seq = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    writer.terminate();
    // Time for a writer process's relay to see the exit the kill caused and record it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(writer.failure(), undefined);
    assert.throws(() => writer.waitFor(seq + 1), (e) => e instanceof WeirError && e.code === "storage_failed" && /was ended/.test(e.message));
  });
  const canImage = (() => {
    const db = sqliteDriver.open(":memory:");
    const can = db.serialize !== undefined;
    db.close();
    return can;
  })();

  /** The rows of a database file's bytes, as values(). */
  function imageValues(bytes: Uint8Array): Map<number, number> {
    const imagePath = join(directory, `image-${++files}.db`);
    sqliteDriver.writeFile(imagePath, bytes);
    const db = sqliteDriver.open(imagePath);
    assert.equal(db.prepare("PRAGMA integrity_check").get()?.integrity_check, "ok");
    db.close();
    const out = values(imagePath);
    sqliteDriver.removeFiles(imagePath);
    return out;
  }

  test("pageImage() copies the file's pages after every batch sent before it and none sent after, in memory; take() gives them and the rows once", { skip: !canImage }, async () => {
    const { path, writer } = await opened(inProcess);
    writer.send([batch((b) => {
      for (let k = 1; k <= 5; k++) b.put(k % 3, 0, Uint8Array.of(k), null, Uint8Array.of(10 * k));
    })]);
    const image = writer.pageImage("the test's image");
    const later = writer.send([batch((b) => {
      b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(99));
      b.put(1, 0, Uint8Array.of(6), null, Uint8Array.of(60));
      b.remove(2, 0, Uint8Array.of(2));
    })]);
    assert.equal(later, image.seq + 1, "the image takes a sequence number of its own, in order");
    const { bytes, rows } = image.take();
    assert.equal(rows, 5);
    assert.equal(bytes.byteOffset, 0, "the whole buffer the writer's thread filled");
    assert.equal(bytes.byteLength, bytes.buffer.byteLength);
    writer.waitFor(later);
    assert.deepEqual([...imageValues(bytes)], [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]]);
    assert.deepEqual([...values(path)], [[1, 99], [3, 30], [4, 40], [5, 50], [6, 60]]);
    assert.throws(() => image.take(), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken");
    writer.terminate();
  });

  test("pageImage() with partBytes checksums the image's parts on the writer's thread", { skip: !canImage }, async () => {
    const { writer } = await opened(inProcess);
    writer.send([batch((b) => { for (let k = 0; k < 200; k++) b.put(k % 8, 0, Uint8Array.of(k), null, new Uint8Array(100).fill(k)); })]);
    const { bytes, partChecksums } = writer.pageImage("the test's image", 4096).take();
    assert.ok(bytes.length >= 3 * 4096, `${bytes.length} bytes`);
    const parts = Array.from({ length: Math.ceil(bytes.length / 4096) }, (_, i) => checksumOf(bytes.subarray(i * 4096, (i + 1) * 4096)));
    assert.deepEqual(partChecksums, parts);
    assert.equal(writer.pageImage("another image").take().partChecksums, undefined, "none asked for");
    writer.terminate();
  });

  test("waitReady() blocks until the thread is up, with no turn of this thread's event loop", () => {
    const path = join(directory, `w${++files}.db`);
    const db = sqliteDriver.open(path);
    db.exec(`PRAGMA journal_mode = WAL; ${SCHEMA}`);
    db.close();
    const writer = openSqliteWriter(path, 8, { process: inProcess });
    assert.equal(writer.waitReady(30_000), true);
    assert.equal(writer.ready(), true);
    writer.terminate();
  });

  test("images taken out of order each get their own bytes", { skip: !canImage }, async () => {
    const { writer } = await opened(inProcess);
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    const first = writer.pageImage("the first image");
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(2), null, Uint8Array.of(2)))]);
    const second = writer.pageImage("the second image");
    writer.waitFor(second.seq);
    assert.deepEqual([...imageValues(second.take().bytes)], [[1, 1], [2, 2]]);
    assert.deepEqual([...imageValues(first.take().bytes)], [[1, 1]]);
    writer.terminate();
  });

  test("an image that cannot be made fails with storage_failed naming it; the writer goes on with later batches", { skip: !canImage }, async () => {
    const { path, writer } = await opened(inProcess);
    const db = sqliteDriver.open(path);
    db.exec("ALTER TABLE kv RENAME TO kv_moved");
    const image = writer.pageImage("the test's image");
    await image.whenDone();
    db.exec("ALTER TABLE kv_moved RENAME TO kv");
    db.close();
    const next = writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    assert.throws(() => image.take(), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && e.message.includes("the test's image") && /no such table: kv/.test(e.message));
    writer.waitFor(next);
    assert.equal(writer.failure(), undefined);
    assert.equal(values(path).get(1), 1);
    writer.terminate();
  });

  test("an image asked for after a failed batch throws that batch's failure", { skip: !canImage }, async () => {
    const { path, writer } = await opened(inProcess);
    const db = sqliteDriver.open(path);
    db.exec("ALTER TABLE kv RENAME TO kv_moved");
    db.close();
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    const image = writer.pageImage("the test's image");
    assert.throws(() => image.take(), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && /no such table: kv/.test(e.message));
    writer.terminate();
  });

  test("a finished image's take() is its bytes even when a later batch failed", { skip: !canImage }, async () => {
    const { path, writer } = await opened(inProcess);
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    const image = writer.pageImage("the test's image");
    while (!image.done()) await new Promise((r) => setTimeout(r, 1));
    const db = sqliteDriver.open(path);
    db.exec("ALTER TABLE kv RENAME TO kv_moved");
    db.close();
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(2), null, Uint8Array.of(2)))]);
    while (writer.failure() === undefined) await new Promise((r) => setTimeout(r, 1));
    assert.equal(image.done(), true);
    const { bytes, rows } = image.take();
    assert.equal(rows, 1, "the later failure is not the image's");
    assert.deepEqual([...imageValues(bytes)], [[1, 1]]);
    writer.terminate();
  });

  test("an image abandoned before the writer gets to it is never made; one abandoned once made is dropped", { skip: !canImage }, async () => {
    const { writer } = await opened(inProcess);
    // Batches ahead of the image, so it is still pending when abandoned.
    for (let i = 0; i < 50; i++) writer.send([batch((b) => { for (let k = 0; k < 200; k++) b.put(k % 8, 0, Uint8Array.of(i, k), null, new Uint8Array(64)); })]);
    const early = writer.pageImage("the early image");
    assert.equal(early.abandon(), true);
    const late = writer.pageImage("the late image");
    const last = writer.pageImage("the last image");
    writer.waitFor(last.seq);
    assert.equal(late.abandon(), false, "finished before it was given up");
    assert.equal(last.take().rows, 50 * 200, "images after abandoned ones arrive as theirs");
    writer.terminate();
  });

  test("an image finished before terminate() is still taken whole, at once", { skip: !canImage }, async () => {
    const { writer } = await opened(inProcess);
    writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]);
    const image = writer.pageImage("the test's image");
    // Finished, its message not yet read: no event loop turn came between.
    writer.waitFor(image.seq);
    writer.terminate();
    const started = performance.now();
    const { bytes, rows } = image.take();
    assert.ok(performance.now() - started < 1000, "no wait for bytes that already came");
    assert.equal(rows, 1);
    assert.deepEqual([...imageValues(bytes)], [[1, 1]]);
  });

  test("when the writer's thread ends, take() of an image not finished throws storage_failed naming it", { skip: !canImage }, async () => {
    const { writer } = await opened(inProcess);
    for (let i = 0; i < 200; i++) writer.send([batch((b) => { for (let k = 0; k < 200; k++) b.put(k % 8, 0, Uint8Array.of(i, k), null, new Uint8Array(100)); })]);
    const image = writer.pageImage("the test's image");
    writer.terminate();
    assert.equal(image.done(), true);
    assert.throws(() => image.take(), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && e.message.includes("the test's image"));
  });
});

describe(`SQLite background writer in a process of its own: the process (${sqliteDriver.name})`, { skip: process.platform !== "linux" }, () => {
  test("a process that ends on its own fails the writer with storage_failed naming the file and the signal; nothing waits for it", async () => {
    const { path, writer } = await opened(true);
    try {
      writer.waitFor(writer.send([batch((b) => b.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1)))]));
      const [pid] = writerProcesses(path);
      assert.ok(pid !== undefined, "the writer's process runs");
      process.kill(pid, "SIGKILL");
      await until("the writer reports its process gone", () => writer.failure() !== undefined);
      assert.throws(() => writer.waitFor(writer.send([batch((b) => b.put(2, 0, Uint8Array.of(2), null, Uint8Array.of(2)))])), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && e.message.includes(path) && /exited \(SIGKILL\)/.test(e.message));
      assert.deepEqual([...values(path)], [[1, 1]], "what it committed before stays");
    } finally {
      writer.terminate();
    }
  });

  test("terminate() kills the process: batches still in its pipe are never committed", async () => {
    const { path, writer } = await opened(true);
    const ROWS = 200;
    const rowsOf = (i: number) => batch((b) => { for (let k = 0; k < ROWS; k++) b.put(k % 8, 0, Uint8Array.of(i, k), null, new Uint8Array(100)); });
    writer.waitFor(writer.send([rowsOf(0)]));
    const [pid] = writerProcesses(path);
    // Stopped, it reads nothing more: what follows stays in its pipe (and the thread's stream).
    process.kill(pid, "SIGSTOP");
    for (let i = 1; i <= 20; i++) writer.send([rowsOf(i)]);
    await new Promise((r) => setTimeout(r, 100));
    writer.terminate();
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // Killed already.
    }
    await until("the writer's process ends", () => writerProcesses(path).length === 0, 20_000);
    const db = sqliteDriver.open(path);
    const rows = db.prepare("SELECT count(*) AS n FROM kv").get()!.n as number;
    db.close();
    // Left to read its pipe once it runs again, it would commit the batches there too.
    assert.equal(rows, ROWS, "only the batch committed before terminate()");
  });
});
