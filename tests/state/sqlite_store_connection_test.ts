import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { batchedReadSql, READ_BATCH_KEYS, StoreConnection } from "../../state/sqlite_store_connection.ts";
import type { SqliteDriver } from "../../state/sqlite_driver.ts";
import { SimPrng } from "../../sim/prng.ts";

test(`a point read returns the stored value's bytes, in a read transaction of its own or in the one held (${sqliteDriver.name})`, () => {
  const path = join(mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-connection-")), "f.db");
  const c = new StoreConnection(sqliteDriver, path);
  // Every byte value, a value of 100 bytes, an empty one.
  const values = [Uint8Array.from({ length: 256 }, (_, i) => 255 - i), new Uint8Array(100).fill(7), new Uint8Array(0), Uint8Array.of(1, 0x0a, 0xff)];
  const insert = c.db.prepare("INSERT INTO kv (kg, s, k, ok, v) VALUES (?, 0, ?, NULL, ?)");
  values.forEach((v, i) => insert.run(i, Uint8Array.of(i), v));
  for (const committed of [undefined, 0]) {
    values.forEach((v, i) => {
      const got = c.read(i, 0, Uint8Array.of(i), committed);
      assert.ok(got instanceof Uint8Array);
      assert.deepEqual([...got], [...v]);
    });
    assert.equal(c.read(9, 0, Uint8Array.of(9), committed), undefined, "an absent key reads as undefined");
  }
  // Each read is a value of its own: a later read does not change one returned before.
  const first = c.read(0, 0, Uint8Array.of(0), 0)!;
  c.read(3, 0, Uint8Array.of(3), 0);
  assert.equal(first[0], 255);
  c.close();
  sqliteDriver.removeFiles(path);
});

/** SQLite's version as a number (3.44.0 → 3044000). */
function sqliteVersion(): number {
  const db = sqliteDriver.open(":memory:");
  const [major, minor, patch] = String(db.prepare("SELECT sqlite_version() AS v").get()!.v).split(".").map(Number);
  db.close();
  return major * 1_000_000 + minor * 1_000 + (patch ?? 0);
}

{
  // ORDER BY within an aggregate came with SQLite 3.44 (a system SQLite may be older).
  test(`a batched read returns what a point read returns for each key, absent and repeated keys and more than one statement's worth included (${sqliteDriver.name})`, { skip: sqliteVersion() < 3_044_000 }, () => {
    const path = join(mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-connection-")), "f.db");
    const c = new StoreConnection(sqliteDriver, path);
    const prng = new SimPrng("batched-read");
    const insert = c.db.prepare("INSERT INTO kv (kg, s, k, ok, v) VALUES (?, ?, ?, NULL, ?)");
    // Values of every length from 0 to 299 with zero bytes in them; state 1 holds other values under the same keys.
    const ROWS = 300;
    for (let i = 0; i < ROWS; i++) {
      insert.run(i % 7, 0, Uint8Array.of(i >> 8, i & 255), Uint8Array.from({ length: i }, () => prng.int(3) === 0 ? 0 : prng.int(256)));
      insert.run(i % 7, 1, Uint8Array.of(i >> 8, i & 255), Uint8Array.of(1, 2, 3));
    }
    // Present keys shuffled among absent ones (a key of another group, a key no row has) and repeats.
    const asked: { kg: number; k: Uint8Array }[] = [];
    for (let n = 0; n < 3 * READ_BATCH_KEYS + 5; n++) {
      const i = prng.int(ROWS + 40);
      asked.push({ kg: prng.int(10) === 0 ? (i % 7) + 1 : i % 7, k: Uint8Array.of(i >> 8, i & 255) });
    }
    for (const committed of [undefined, 0]) {
      const into: (Uint8Array | undefined)[] = asked.map(() => Uint8Array.of(99));
      c.readMany(0, asked.map((a) => a.kg), asked.map((a) => a.k), asked.length, committed, into);
      let found = 0;
      asked.forEach((a, n) => {
        const expected = c.read(a.kg, 0, a.k, committed);
        if (expected !== undefined) found++;
        assert.deepEqual(into[n] === undefined ? undefined : [...into[n]!], expected === undefined ? undefined : [...expected], `key ${n} of the batch`);
      });
      assert.ok(found > asked.length / 2 && found < asked.length, `${found} of ${asked.length} keys found`);
    }
    // A batch shorter than a statement reads only its own keys.
    const into: (Uint8Array | undefined)[] = [];
    c.readMany(1, [5], [Uint8Array.of(0, 5)], 1, 0, into);
    assert.deepEqual(into.map((v) => v && [...v]), [[1, 2, 3]]);
    c.close();
    sqliteDriver.removeFiles(path);
  });
}

test(`a batched read of any size searches kv by its primary key once per key, and never scans it (${sqliteDriver.name})`, () => {
  const path = join(mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-connection-")), "f.db");
  const c = new StoreConnection(sqliteDriver, path);
  const insert = c.db.prepare("INSERT INTO kv (kg, s, k, ok, v) VALUES (?, 0, ?, NULL, x'00')");
  for (let i = 0; i < 2_000; i++) insert.run(i % 128, Uint8Array.of(i >> 8, i & 255));
  // An inner join of 512 keys made SQLite scan kv and search the keys (about 100 times slower).
  for (const keys of [8, 16, 32, 64, 128, 512]) {
    const plan = c.db.prepare(`EXPLAIN QUERY PLAN ${batchedReadSql(keys)}`).all().map((r) => String(r.detail));
    assert.ok(plan.some((d) => /^SEARCH kv USING PRIMARY KEY \(kg=\? AND s=\? AND k=\?\)/.test(d)), `${keys} keys: ${plan.join("; ")}`);
    assert.ok(!plan.some((d) => /^SCAN kv/.test(d)), `${keys} keys: ${plan.join("; ")}`);
  }
  c.close();
  sqliteDriver.removeFiles(path);
});

test(`a batched read whose values together are too big for one BLOB reads them one by one; another error is thrown (${sqliteDriver.name})`, () => {
  const path = join(mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-connection-")), "f.db");
  let failWith = "string or blob too big";
  // SQLite's largest value is 1 GB: the batched statement stands in for 128 values of 8 MB.
  const driver: SqliteDriver = Object.create(sqliteDriver, {
    open: {
      value: (p: string) => {
        const db = sqliteDriver.open(p);
        return { ...db, exec: db.exec, close: db.close, prepare: (sql: string) => /group_concat/.test(sql) ? { ...db.prepare(sql), get: () => { throw new Error(failWith); } } : db.prepare(sql) };
      },
    },
  });
  const c = new StoreConnection(driver, path);
  c.db.prepare("INSERT INTO kv (kg, s, k, ok, v) VALUES (1, 0, x'01', NULL, x'0a00'), (2, 0, x'02', NULL, x'0b')").run();
  const into: (Uint8Array | undefined)[] = [];
  c.readMany(0, [1, 2, 3], [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)], 3, 0, into);
  assert.deepEqual(into.map((v) => v && [...v]), [[10, 0], [11], undefined]);
  failWith = "disk I/O error";
  assert.throws(() => c.readMany(0, [1], [Uint8Array.of(1)], 1, 0, into), /disk I\/O error/);
  c.close();
  sqliteDriver.removeFiles(path);
});
