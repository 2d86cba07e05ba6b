import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { WeirError } from "../../errors.ts";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { forEachIndexCell, pagedFile, tableRootPage } from "../../state/sqlite_btree_cells.ts";
import { KvRecords } from "../../state/sqlite_records.ts";
import { SimPrng } from "../../sim/prng.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-btree-cells-"));
const KV = "(kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID";

/** A database file whose kv table holds `rows` random rows (inserted in random order), and its root page. */
function kvFile(name: string, rows: number, valueBytes = 8): { path: string; root: number } {
  const path = join(directory, name);
  sqliteDriver.removeFiles(path);
  const db = sqliteDriver.open(path);
  db.exec(`CREATE TABLE kv ${KV}; BEGIN`);
  const prng = new SimPrng(name);
  const insert = db.prepare("INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?, ?)");
  for (let i = 0; i < rows; i++) {
    const k = Uint8Array.from({ length: prng.range(1, 30) }, () => prng.int(256));
    insert.run(prng.int(300), prng.int(3), k, prng.chance(0.3) ? Uint8Array.of(1, 2) : null, Uint8Array.from({ length: valueBytes }, () => prng.int(256)));
  }
  db.exec("COMMIT");
  const root = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'kv'").get()!.rootpage as number;
  db.close();
  return { path, root };
}

describe("forEachIndexCell()", () => {
  test("gives every cell of a several-level kv B-tree in key order, each the record SQLite's row makes", () => {
    const { path, root } = kvFile("deep.db", 20_000);
    const file = sqliteDriver.readFile(path);
    const cells: Uint8Array[] = [];
    assert.equal(forEachIndexCell(file, root, path, (start, end) => cells.push(file.slice(start, end))), true);
    const db = sqliteDriver.open(path);
    assert.ok((db.prepare("PRAGMA page_count").get()!.page_count as number) > 100, "the tree has interior pages");
    const rows = db.prepare("SELECT kg, s, k, ok, v FROM kv ORDER BY kg, s, k").all();
    db.close();
    assert.equal(cells.length, rows.length);
    const expected = new KvRecords();
    for (const r of rows) expected.add(r.kg as number, r.s as number, r.k as Uint8Array, r.ok as Uint8Array | null, r.v as Uint8Array);
    for (let i = 0; i < rows.length; i++) assert.deepEqual(cells[i], expected.bytes.slice(expected.start(i), expected.end(i)), `row ${i}`);
    sqliteDriver.removeFiles(path);
  });

  test("reads a file given as parts where they lie when each holds whole pages, and joins parts that cut pages", () => {
    const { path, root } = kvFile("parts.db", 20_000);
    const file = sqliteDriver.readFile(path);
    const whole: string[] = [];
    forEachIndexCell(file, root, path, (start, end, bytes) => whole.push(bytes.slice(start, end).join()));
    const split = (size: number) => Array.from({ length: Math.ceil(file.length / size) }, (_, i) => file.slice(i * size, (i + 1) * size));
    for (const [size, asIs] of [[3 * 4096, true], [4096, true], [5000, false], [file.length, true]] as [number, boolean][]) {
      const paged = pagedFile(split(size));
      assert.equal(paged.parts.length > 1, asIs && size < file.length, `parts of ${size} B ${asIs ? "read as they are" : "joined"}`);
      assert.equal(paged.length, file.length);
      const cells: string[] = [];
      assert.equal(forEachIndexCell(paged, root, path, (start, end, bytes) => cells.push(bytes.slice(start, end).join())), true);
      assert.deepEqual(cells, whole, `parts of ${size} B`);
    }
    // A last part longer than the others (no uploader writes one) is joined, not misread.
    const longLast = pagedFile([file.slice(0, 2 * 4096), file.slice(2 * 4096)]);
    assert.equal(longLast.parts.length, 1);
    const cells: string[] = [];
    forEachIndexCell(longLast, root, path, (start, end, bytes) => cells.push(bytes.slice(start, end).join()));
    assert.deepEqual(cells, whole);
    sqliteDriver.removeFiles(path);
  });

  test("stops and returns false at a record that spills to an overflow page", () => {
    const { path, root } = kvFile("big.db", 50, 3000);
    const file = sqliteDriver.readFile(path);
    let cells = 0;
    assert.equal(forEachIndexCell(file, root, path, () => cells++), false);
    assert.equal(cells, 0);
    sqliteDriver.removeFiles(path);
  });

  test("refuses a page that is not an index B-tree page with checkpoint_corrupt naming the file", () => {
    const { path, root } = kvFile("damaged.db", 2000);
    const file = sqliteDriver.readFile(path);
    const pageSize = (file[16] << 8) | file[17];
    file[(root - 1) * pageSize] = 0x0d;
    assert.throws(() => forEachIndexCell(file, root, "damaged.db", () => {}), (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && /damaged\.db/.test(e.message));
    assert.throws(() => forEachIndexCell(file, 10_000, "damaged.db", () => {}), (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && /page 10000/.test(e.message));
    sqliteDriver.removeFiles(path);
  });
});

describe("tableRootPage()", () => {
  test("names the root page SQLite's schema gives, for tables after others, and undefined for a table not there or a schema SQLite must read", () => {
    const path = join(directory, "schema.db");
    sqliteDriver.removeFiles(path);
    const db = sqliteDriver.open(path);
    db.exec(`PRAGMA journal_mode = WAL; CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID; CREATE INDEX meta_v ON meta (value); CREATE VIEW vw AS SELECT 1; CREATE TABLE kv ${KV}; INSERT INTO kv VALUES (1, 0, x'01', NULL, x'02')`);
    const rootOf = (name: string) => db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = ?").get(name)!.rootpage as number;
    // WAL: the schema is in the file once checkpointed.
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const file = sqliteDriver.readFile(path);
    assert.equal(tableRootPage(file, "kv"), rootOf("kv"));
    assert.equal(tableRootPage(file, "meta"), rootOf("meta"));
    assert.ok(rootOf("kv") > 2);
    assert.equal(tableRootPage(file, "k"), undefined);
    assert.equal(tableRootPage(file, "vw"), undefined, "a view has no root page");
    // A schema of more tables than page 1 holds (an interior page first): undefined, not a guess.
    for (let i = 0; i < 60; i++) db.exec(`CREATE TABLE padding_${i}_${"x".repeat(40)} (a, b, c)`);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    const big = sqliteDriver.readFile(path);
    assert.equal(big[100], 0x05, "page 1 is an interior page now");
    assert.equal(tableRootPage(big, "kv"), undefined);
    assert.equal(tableRootPage(new Uint8Array(50), "kv"), undefined, "no header");
    db.close();
    sqliteDriver.removeFiles(path);
  });
});
