import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteStateStore } from "../../state/sqlite_store.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { KvFileWriter, adoptRecords, kvTemplate, maxLocalPayload } from "../../state/sqlite_btree_file.ts";
import { KvRecords } from "../../state/sqlite_records.ts";
import { compareBytes } from "../../state/sqlite_canonical.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";
import { keyGroupOf } from "../../state/key_group.ts";

function openStore(): SqliteStateStore {
  const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-btree-"));
  return new SqliteStateStore(sqliteDriver, { path: join(dir, "state.db"), maxParallelism: 128, cacheEntriesMax: 16 });
}

/** `n` rows in primary-key order over a few key groups and two states, values of `valueBytes(i)` bytes. */
function sortedRows(n: number, valueBytes: (i: number) => number): [number, number, Uint8Array, Uint8Array][] {
  const rows: [number, number, Uint8Array, Uint8Array][] = [];
  for (let i = 0; i < n; i++) {
    const k = new TextEncoder().encode(`s${String(i).padStart(8, "0")}`);
    const v = new Uint8Array(valueBytes(i)).fill(i & 0xff);
    rows.push([i % 5, (i >> 3) % 2, k, v]);
  }
  return rows.sort((a, b) => a[0] - b[0] || a[1] - b[1] || compareBytes(a[2], b[2]));
}

function integrity(store: SqliteStateStore): string {
  return store.db.prepare("PRAGMA integrity_check").all().map((r) => String(Object.values(r)[0])).join("; ");
}

describe(`sqlite_btree_file (${sqliteDriver.name})`, () => {
  for (const [name, n, size] of [
    ["one leaf", 3, () => 10],
    ["two leaves with one record on the last", 0, () => 0],
    ["three levels of small records", 40_000, () => 4],
    ["pages written in several chunks", 150_000, () => 4],
    ["records at the page limit", 400, (i: number) => (i % 7 === 0 ? 960 : 30)],
  ] as [string, number, (i: number) => number][]) {
    test(`KvFileWriter writes a kv B-tree that SQLite reads and keeps writing to: ${name}`, () => {
      const store = openStore();
      const template = kvTemplate(store);
      const max = maxLocalPayload(4096);
      let rows = sortedRows(n, size);
      if (n === 0) {
        // Fill one leaf page exactly, then one record more: the last one is left alone.
        rows = [];
        let used = 8;
        for (let i = 0; ; i++) {
          const row = sortedRows(1, () => 200)[0];
          row[2] = new TextEncoder().encode(`s${String(i).padStart(8, "0")}`);
          const r = new KvRecords();
          const s = r.add(0, 0, row[2], null, row[3]);
          if (used + 2 + 2 + s > 4096) {
            rows.push(row);
            break;
          }
          used += 2 + 2 + s;
          rows.push(row);
        }
      }
      const records = new KvRecords();
      for (const [kg, s, k, v] of rows) assert.ok(records.add(kg, s, k, null, v) <= max);
      adoptRecords(store, template, records);
      assert.equal(integrity(store), "ok");
      assert.equal(store.db.prepare("SELECT count(*) AS n FROM kv").get()!.n, rows.length);
      const all = store.db.prepare("SELECT kg, s, k, v FROM kv ORDER BY kg, s, k").all();
      for (let i = 0; i < rows.length; i += Math.max(1, Math.floor(rows.length / 500))) {
        assert.equal(all[i].kg, rows[i][0]);
        assert.equal(all[i].s, rows[i][1]);
        assert.deepEqual(new Uint8Array(all[i].k as Uint8Array), rows[i][2]);
        assert.deepEqual(new Uint8Array(all[i].v as Uint8Array), rows[i][3]);
      }
      // Lookups descend the tree; writes split and merge its pages.
      for (const [kg, s, k] of rows.filter((_, i) => i % 97 === 0)) {
        assert.ok(store.db.prepare("SELECT 1 AS one FROM kv WHERE kg = ? AND s = ? AND k = ?").get(kg, s, k), `row ${kg}/${s} found`);
        store.db.prepare("DELETE FROM kv WHERE kg = ? AND s = ? AND k = ?").run(kg, s, k);
      }
      for (let i = 0; i < 300; i++) store.db.prepare("INSERT OR REPLACE INTO kv (kg, s, k, ok, v) VALUES (?, ?, ?, NULL, ?)").run(i % 5, 0, new TextEncoder().encode(`t${i}`), new Uint8Array(50));
      assert.equal(integrity(store), "ok");
      store.dispose();
    });
  }

  test("KvFileWriter writes records appended one by one, a window at a time, as the same file as records given whole", () => {
    const store = openStore();
    const template = kvTemplate(store);
    // About 9 MB of records: several windows, with pages of 1 to 19 records.
    const rows = sortedRows(120_000, (i) => (i % 11 === 0 ? 900 : 20 + (i % 40)));
    const whole = new KvRecords();
    for (const [kg, s, k, v] of rows) whole.add(kg, s, k, null, v);
    new KvFileWriter(sqliteDriver, `${template.path}.whole`, template, whole).finish();
    const w = new KvFileWriter(sqliteDriver, `${template.path}.window`, template);
    let packed = false;
    for (const [kg, s, k, v] of rows) {
      w.records.add(kg, s, k, null, v);
      w.written();
      if (w.records.count < 1000) packed = true;
    }
    assert.ok(packed, "pages were packed before finish()");
    w.finish();
    const a = sqliteDriver.readFile(`${template.path}.whole`);
    const b = sqliteDriver.readFile(`${template.path}.window`);
    assert.ok(a.length > 8 * 2 ** 20, `a file of ${a.length} B`);
    assert.ok(a.length === b.length && a.every((x, i) => x === b[i]), "the two files are the same");
    store.driver.renameFile(`${template.path}.window`, template.path);
    store.adoptFile(template.path);
    assert.equal(integrity(store), "ok");
    assert.equal(store.db.prepare("SELECT count(*) AS n FROM kv").get()!.n, rows.length);
    sqliteDriver.removeFiles(`${template.path}.whole`);
    store.dispose();
  });

  test("a restore from canonical tables into an empty backend gives back every key: unsorted, mixed, object keys, TTL-less big values fall back to rows", () => {
    const maxParallelism = 16;
    const groups = new Map<number, [unknown, unknown][]>();
    const keys: unknown[] = [];
    for (let i = 0; i < 3000; i++) keys.push(i % 3 === 0 ? `k${(i * 7919) % 3000}` : i % 3 === 1 ? i * 1.5 : `é${i}`);
    keys.push({ id: 1 }, true, 10n);
    for (const k of keys) {
      const g = keyGroupOf(k, maxParallelism);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g)!.push([k, typeof k === "number" ? k : { v: String(k) }]);
    }
    const table: KeyedTableSnapshot = { kind: "value", groups: [...groups].reverse() };
    for (const big of [false, true]) {
      const t: KeyedTableSnapshot = big ? { kind: "value", groups: [...table.groups, [keyGroupOf("big", maxParallelism), []]] } : table;
      if (big) t.groups.find(([g]) => g === keyGroupOf("big", maxParallelism))![1].push(["big", "x".repeat(5000)]);
      const b = new SqliteKeyedStateBackend({ maxParallelism, range: { start: 0, end: maxParallelism - 1 }, incremental: false, uid: "t", subtaskIndex: 0, jobId: "t" }, { driver: sqliteDriver });
      b.restore([{ format: "canonical", tables: { n: t } }]);
      assert.equal(integrity(b.store), "ok");
      const state = b.valueState<unknown>("n");
      for (const k of keys) {
        b.setCurrentKey(k);
        assert.deepEqual(state.value(), typeof k === "number" ? k : { v: String(k) }, `key ${String(k)}`);
      }
      if (big) {
        b.setCurrentKey("big");
        assert.equal(state.value(), "x".repeat(5000));
      }
      b.dispose();
    }
  });
});
