import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { ChangelogWriter, applyChangelog, changelogMemory, readChangelog } from "../../state/sqlite_changelog.ts";
import { RowBytes } from "../../state/sqlite_row_bytes.ts";
import type { SqliteDatabase } from "../../state/sqlite_driver.ts";
import { WeirError } from "../../errors.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-changelog-"));
let files = 0;
const fresh = () => join(directory, `log-${++files}.log`);

/** A record as read back: v undefined for a tombstone. */
interface Rec {
  kg: number;
  s: number;
  k: number[];
  ok: number[] | null | undefined;
  v: number[] | undefined;
}

function readAll(path: string): Rec[] {
  const out: Rec[] = [];
  readChangelog(sqliteDriver.readFile(path), path, (kg, s, k, ok, v) =>
    out.push({ kg, s, k: [...k], ok: v === null ? undefined : ok === null ? null : [...ok], v: v === null ? undefined : [...v] }));
  return out;
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function kvDb(): SqliteDatabase {
  const db = sqliteDriver.open(":memory:");
  db.exec("CREATE TABLE kv (kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID");
  return db;
}

function rowsOf(db: SqliteDatabase): string[] {
  return db.prepare("SELECT kg, s, k, ok, v FROM kv ORDER BY kg, s, k").all().map((r) =>
    `${r.kg}/${r.s}/${[...(r.k as Uint8Array)]}/${r.ok === null ? "-" : [...(r.ok as Uint8Array)]}=${[...(r.v as Uint8Array)]}`);
}

function apply(db: SqliteDatabase, path: string, range = { start: 0, end: 127 }, sids = new Map([[0, 0], [1, 1]])): void {
  db.exec("BEGIN");
  applyChangelog(db, sqliteDriver.readFile(path), path, range, sids);
  db.exec("COMMIT");
}

describe(`ChangelogWriter and readChangelog (${sqliteDriver.name})`, () => {
  test("puts and tombstones, with and without an original key, read back in order", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    assert.equal(w.tombstones, false);
    w.put(3, 0, Uint8Array.of(1, 2), null, Uint8Array.of(9));
    w.put(0xfffffffe, 7, Uint8Array.of(), Uint8Array.of(5, 6, 7), Uint8Array.of());
    w.remove(4, 1, Uint8Array.of(2));
    w.put(5, 0, Uint8Array.of(3), Uint8Array.of(), Uint8Array.of(8, 8));
    w.finish();
    assert.equal(w.records, 4);
    assert.equal(w.tombstones, true);
    assert.deepEqual(readAll(path), [
      { kg: 3, s: 0, k: [1, 2], ok: null, v: [9] },
      { kg: 0xfffffffe, s: 7, k: [], ok: [5, 6, 7], v: [] },
      { kg: 4, s: 1, k: [2], ok: undefined, v: undefined },
      { kg: 5, s: 0, k: [3], ok: [], v: [8, 8] },
    ]);
  });

  test("values larger than the 256 KB buffer, and many records over several spills, read back whole", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    const big = bytes(600 * 1024, 1);
    const small = Array.from({ length: 20_000 }, (_, i) => bytes(40 + (i % 60), i));
    w.put(1, 0, Uint8Array.of(1), null, bytes(100, 0));
    w.put(2, 0, Uint8Array.of(2), bytes(300 * 1024, 2), big); // buffer partly full: spills first
    for (const [i, v] of small.entries()) {
      if (i % 1000 === 999) w.remove(i % 128, 1, Uint8Array.of(i & 0xff, i >> 8));
      else w.put(i % 128, 1, Uint8Array.of(i & 0xff, i >> 8), null, v);
    }
    w.put(3, 0, Uint8Array.of(3), null, bytes(257 * 1024, 3)); // a second outsized value, after the buffer grew
    w.finish();
    assert.ok(sqliteDriver.fileSize(path) > 4 * 256 * 1024, "several spills");
    const got = readAll(path);
    assert.equal(got.length, 3 + small.length);
    assert.equal(w.records, got.length);
    assert.deepEqual(got[0].v, [...bytes(100, 0)]);
    assert.deepEqual(got[1].ok, [...bytes(300 * 1024, 2)]);
    assert.deepEqual(got[1].v, [...big]);
    for (const [i, v] of small.entries()) {
      const r = got[2 + i];
      assert.deepEqual(r.k, [i & 0xff, i >> 8], `record ${i}`);
      assert.deepEqual(r.v, i % 1000 === 999 ? undefined : [...v], `record ${i}`);
    }
    assert.deepEqual(got[got.length - 1].v, [...bytes(257 * 1024, 3)]);
  });

  test("putValue() writes the bytes put() of keyBytes() and RowBytes.value() writes, for every kind of key and value, across buffer spills", () => {
    const keys: unknown[] = ["k", "", "k-1".repeat(40), "ключ", "\ud800", 0, -0, 7.5, NaN, -1e300, 2 ** 40];
    const values: unknown[] = [0, 1, -1, 23, 24, 255, 256, 65536, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), -(2 ** 32) - 1, 0.5, -0, NaN, Infinity, "", "x", "a".repeat(31), "b".repeat(32), "c".repeat(5000), "é", "é".repeat(40), true, false, null, undefined, [1, "two"], { a: 1 }, new Map([[1, 2]])];
    const byPut = new ChangelogWriter(sqliteDriver, fresh());
    const byValue = new ChangelogWriter(sqliteDriver, fresh());
    const rows = new RowBytes();
    let n = 0;
    // Enough records that several land across the 256 KB buffer's end.
    for (let round = 0; round < 12; round++) {
      for (const k of keys) {
        for (const v of values) {
          const ok = n % 3 === 0 ? Uint8Array.of(n & 0xff, 1) : null;
          byPut.put(n % 128, round, rows.key(k), ok, rows.value(v));
          byValue.putValue(n % 128, round, k, ok, v);
          n++;
        }
      }
    }
    byPut.finish();
    byValue.finish();
    assert.equal(byValue.records, n);
    const expected = sqliteDriver.readFile(byPut.path);
    assert.ok(expected.length > 3 * 256 * 1024, `${expected.length} bytes`);
    assert.deepEqual(sqliteDriver.readFile(byValue.path), expected);
  });

  test("kept in memory, the records are chunks of at most 1 MiB with whole records, the same bytes as the file; no file is made", () => {
    const write = (w: ChangelogWriter) => {
      for (let i = 0; i < 6000; i++) {
        if (i % 7 === 0) w.remove(i % 128, 0, bytes(4, i));
        else w.put(i % 128, i % 2, bytes(8, i), i % 3 === 0 ? bytes(5, i) : null, bytes(100 + (i % 400), i));
      }
      w.put(1, 0, bytes(3, 1), null, bytes(1_500_000, 9)); // a record larger than a chunk
      w.put(2, 0, bytes(3, 2), null, bytes(10, 2));
    };
    const filePath = fresh();
    const inFile = new ChangelogWriter(sqliteDriver, filePath);
    write(inFile);
    inFile.finish();
    const memPath = fresh();
    const kept = new ChangelogWriter(sqliteDriver, memPath, false, 64 * 2 ** 20);
    write(kept);
    kept.flush(); // a rotation's flush: nothing to write
    kept.finish();
    assert.throws(() => sqliteDriver.fileSize(memPath), "no file was made");
    const chunks = kept.chunks!;
    assert.ok(chunks.length >= 3, `${chunks.length} chunks`);
    assert.ok(chunks.slice(0, -2).every((c) => c.length <= 2 ** 20), "chunks of at most 1 MiB, but for a record larger than that");
    const joined = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    chunks.reduce((at, c) => (joined.set(c, at), at + c.length), 0);
    assert.deepEqual(joined, sqliteDriver.readFile(filePath), "the same bytes as the file");
    // Every chunk holds whole records: each reads back on its own.
    let records = 0;
    for (const c of chunks) readChangelog(c, "a chunk", () => void records++);
    assert.equal(records, inFile.records);
    assert.equal(kept.records, inFile.records);
    // A short changelog's one chunk holds its bytes alone, not a megabyte buffer a storage would keep alive.
    const small = new ChangelogWriter(sqliteDriver, fresh(), false, 2 ** 20);
    small.put(1, 0, bytes(3, 1), null, bytes(10, 1));
    small.finish();
    assert.equal(small.chunks![0].buffer.byteLength, small.chunks![0].length);
  });

  test("a changelog that outgrows its memory bound goes to its file, what was kept first, and every record reads back in order", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path, false, 3 * 2 ** 20);
    const expected: number[] = [];
    for (let i = 0; i < 40_000; i++) {
      w.put(i % 128, 0, bytes(8, i), null, bytes(200, i));
      expected.push(i % 128);
    }
    w.finish();
    assert.equal(w.chunks, undefined, "past the bound: in the file");
    assert.deepEqual(readAll(path).map((r) => r.kg), expected);
  });

  test("writers share the thread's bound on changelogs in memory: past it a writer's records go to its file; a release gives its bytes back", () => {
    const saved = changelogMemory.max;
    const base = changelogMemory.kept;
    changelogMemory.max = base + 3 * 2 ** 20;
    try {
      const fill = (w: ChangelogWriter) => {
        for (let i = 0; i < 10_000; i++) w.put(i % 128, 0, bytes(8, i), null, bytes(200, i)); // about 2.2 MB
        w.finish();
      };
      const a = new ChangelogWriter(sqliteDriver, fresh(), false, 16 * 2 ** 20);
      fill(a);
      assert.ok(a.chunks !== undefined && changelogMemory.kept > base + 2 * 2 ** 20, "the first stays in memory");
      const bPath = fresh();
      const b = new ChangelogWriter(sqliteDriver, bPath, false, 16 * 2 ** 20);
      fill(b);
      assert.equal(b.chunks, undefined, "the second outgrew what the thread may keep: in its file");
      assert.equal(readAll(bPath).length, 10_000);
      a.release();
      a.release();
      assert.equal(changelogMemory.kept, base, "released once, whatever the calls");
      const c = new ChangelogWriter(sqliteDriver, fresh(), false, 16 * 2 ** 20);
      fill(c);
      assert.ok(c.chunks !== undefined, "room again after the release");
      c.release();
      assert.equal(changelogMemory.kept, base);
    } finally {
      changelogMemory.max = saved;
    }
  });

  test("a writer opened with append adds to the file; without it starts the file empty", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    w.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1));
    w.finish();
    // Records after a finish() go after the ones already in the file (a snapshot appends its captured values).
    w.remove(1, 0, Uint8Array.of(1));
    w.finish();
    const more = new ChangelogWriter(sqliteDriver, path, true);
    more.put(2, 0, Uint8Array.of(2), null, Uint8Array.of(2));
    more.finish();
    assert.deepEqual(readAll(path).map((r) => `${r.kg}:${r.v ? "put" : "gone"}`), ["1:put", "1:gone", "2:put"]);
    new ChangelogWriter(sqliteDriver, path).finish();
    assert.deepEqual(readAll(path), []);
  });

  test("readChangelog() of a file cut short anywhere, or with an unknown tag, throws checkpoint_corrupt naming the file", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    w.put(3, 0, Uint8Array.of(1, 2), Uint8Array.of(4), Uint8Array.of(9, 9, 9));
    w.remove(4, 0, Uint8Array.of(2));
    w.finish();
    const whole = sqliteDriver.readFile(path);
    const corrupt = (what: string) => (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(what);
    // Every cut inside a record (a cut between records is a shorter, valid file).
    const putLength = 1 + 8 + 4 + 2 + 4 + 1 + 4 + 3;
    for (let n = 1; n < whole.length; n++) {
      if (n === putLength) continue;
      assert.throws(() => readChangelog(whole.subarray(0, n), "cut.log", () => {}), corrupt("cut.log"), `cut at ${n}`);
    }
    let seen = 0;
    readChangelog(whole.subarray(0, putLength), "first.log", () => seen++);
    assert.equal(seen, 1);
    const badTag = whole.slice();
    badTag[putLength] = 2;
    assert.throws(() => readChangelog(badTag, "tag.log", () => {}), (e: unknown) => corrupt("tag.log")(e) && /tag 2/.test((e as Error).message));
    // A length running past the end.
    const long = whole.slice();
    new DataView(long.buffer).setUint32(9, 1000, true);
    assert.throws(() => readChangelog(long, "long.log", () => {}), corrupt("long.log"));
  });
});

describe(`applyChangelog (${sqliteDriver.name})`, () => {
  test("records apply in order: the last of a key wins, a tombstone after a put leaves it absent", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    const k = (n: number) => Uint8Array.of(n);
    w.put(1, 0, k(1), null, Uint8Array.of(10)); // put, tombstone, put: the last put
    w.remove(1, 0, k(1));
    w.put(1, 0, k(1), Uint8Array.of(7), Uint8Array.of(11));
    w.put(1, 0, k(2), null, Uint8Array.of(20)); // put then tombstone: absent
    w.remove(1, 0, k(2));
    w.put(1, 0, k(3), null, Uint8Array.of(30)); // put, put: the second
    w.put(1, 0, k(3), null, Uint8Array.of(31));
    w.remove(1, 0, k(4)); // a tombstone of a row in the table
    w.remove(1, 0, k(9)); // and of a key that never was
    w.finish();
    const db = kvDb();
    db.prepare("INSERT INTO kv VALUES (1, 0, ?, NULL, ?)").run(k(4), Uint8Array.of(40));
    db.prepare("INSERT INTO kv VALUES (1, 0, ?, NULL, ?)").run(k(2), Uint8Array.of(2));
    apply(db, path);
    assert.deepEqual(rowsOf(db), ["1/0/1/7=11", "1/0/3/-=31"]);
    db.close();
  });

  test("order holds across the writer's statement batches too: thousands of puts, then tombstones and puts of the same keys", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    const key = (i: number) => Uint8Array.of(i & 0xff, i >> 8);
    for (let i = 0; i < 1000; i++) w.put(i % 16, 0, key(i), null, Uint8Array.of(1));
    for (let i = 0; i < 1000; i += 2) w.remove(i % 16, 0, key(i));
    for (let i = 0; i < 1000; i += 4) w.put(i % 16, 0, key(i), null, Uint8Array.of(2));
    w.finish();
    const db = kvDb();
    apply(db, path);
    const got = new Map(db.prepare("SELECT k, v FROM kv").all().map((r) => [(r.k as Uint8Array)[0] + ((r.k as Uint8Array)[1] << 8), (r.v as Uint8Array)[0]]));
    for (let i = 0; i < 1000; i++) assert.equal(got.get(i), i % 4 === 0 ? 2 : i % 2 === 0 ? undefined : 1, `key ${i}`);
    db.close();
  });

  test("only key groups in the range apply; state ids are mapped, unknown ones skipped", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    for (const kg of [3, 4, 7, 8]) {
      w.put(kg, 5, Uint8Array.of(kg), null, Uint8Array.of(kg)); // theirs 5 → ours 0
      w.put(kg, 6, Uint8Array.of(kg), null, Uint8Array.of(kg)); // theirs 6: not in this run
      w.put(kg, 0, Uint8Array.of(kg), null, Uint8Array.of(100 + kg)); // theirs 0 → ours 1
    }
    // A tombstone outside the range or of an unknown state touches nothing.
    w.remove(8, 5, Uint8Array.of(8));
    w.remove(4, 6, Uint8Array.of(4));
    w.finish();
    const db = kvDb();
    db.prepare("INSERT INTO kv VALUES (8, 0, ?, NULL, ?)").run(Uint8Array.of(8), Uint8Array.of(88));
    db.prepare("INSERT INTO kv VALUES (4, 6, ?, NULL, ?)").run(Uint8Array.of(4), Uint8Array.of(66));
    apply(db, path, { start: 4, end: 7 }, new Map([[5, 0], [0, 1]]));
    assert.deepEqual(rowsOf(db), ["4/0/4/-=4", "4/1/4/-=104", "4/6/4/-=66", "7/0/7/-=7", "7/1/7/-=107", "8/0/8/-=88"]);
    db.close();
  });

  test("a damaged file fails applyChangelog with checkpoint_corrupt naming it", () => {
    const path = fresh();
    const w = new ChangelogWriter(sqliteDriver, path);
    w.put(1, 0, Uint8Array.of(1), null, Uint8Array.of(1));
    w.finish();
    const cut = sqliteDriver.readFile(path).subarray(0, 10);
    const db = kvDb();
    db.exec("BEGIN");
    assert.throws(() => applyChangelog(db, cut, "damaged.log", { start: 0, end: 127 }, new Map([[0, 0]])), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes("damaged.log"));
    db.exec("ROLLBACK");
    db.close();
  });
});
