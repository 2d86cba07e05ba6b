import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { checksumOf } from "../../checkpoint/checksum.ts";
import { encode } from "../../codec/cbor.ts";
import { keyGroupOf } from "../../state/key_group.ts";
import { keyBytes } from "../../state/sqlite_keys.ts";
import type { IncrementalKeyedState, SharedStateRef } from "../../state/backend.ts";
import { MemoryStorage } from "../../storage/memory.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-native-restore-"));
const maxParallelism = 32;
const KV = "(kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, ok BLOB, v BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID";
const GONE = "(kg INTEGER NOT NULL, s INTEGER NOT NULL, k BLOB NOT NULL, PRIMARY KEY (kg, s, k)) WITHOUT ROWID";

/** A file of format version 1 (a SQLite database with kv and gone tables), put into storage in one part. */
async function putVersion1File(storage: MemoryStorage, name: string, puts: [number, string][], gone: number[]): Promise<SharedStateRef> {
  const path = join(directory, name);
  const db = sqliteDriver.open(path);
  db.exec(`PRAGMA journal_mode = DELETE; CREATE TABLE kv ${KV}; CREATE TABLE gone ${GONE};`);
  for (const [key, value] of puts) db.prepare("INSERT INTO kv VALUES (?, 0, ?, NULL, ?)").run(keyGroupOf(key, maxParallelism), keyBytes(key), encode(value));
  for (const key of gone) db.prepare("INSERT INTO gone VALUES (?, 0, ?)").run(keyGroupOf(key, maxParallelism), keyBytes(key));
  db.close();
  const bytes = sqliteDriver.readFile(path);
  sqliteDriver.removeFiles(path);
  const key = `shared/sqlite/v1/${name}`;
  await storage.put(key, bytes);
  return { key, size: bytes.length, checksum: checksumOf(bytes) };
}

describe("restore of sqlite native checkpoints", () => {
  test("a version-1 chain (a base and changelogs that are SQLite files) restores at another parallelism, and the next checkpoint is a version-2 base", async () => {
    const storage = new MemoryStorage();
    const n = 200;
    const expected = new Map<number, string>();
    const base: [number, string][] = [];
    for (let k = 0; k < n; k++) {
      base.push([k, `v${k}`]);
      expected.set(k, `v${k}`);
    }
    const refs = [await putVersion1File(storage, "1-base-0.db", base, [])];
    for (let round = 2; round <= 3; round++) {
      const puts: [number, string][] = [];
      const gone: number[] = [];
      for (let k = round; k < n + 20; k += 5) {
        if (k % 3 === 0) {
          gone.push(k);
          expected.delete(k);
        } else {
          puts.push([k, `r${round}-${k}`]);
          expected.set(k, `r${round}-${k}`);
        }
      }
      refs.push(await putVersion1File(storage, `${round}-changelog-0.db`, puts, gone));
    }
    const layout = { states: [["v", 0, "value", false]], files: [{ kind: "base", parts: 1, rows: n }, { kind: "changelog", parts: 1, rows: 0 }, { kind: "changelog", parts: 1, rows: 0 }] };
    const handle: IncrementalKeyedState = { format: "incremental", backend: "sqlite", version: 1, range: { start: 0, end: maxParallelism - 1 }, shared: refs, inline: encode(layout) };
    for (const [subtaskIndex, range] of [{ start: 0, end: 12 }, { start: 13, end: 31 }].entries()) {
      const b = new SqliteKeyedStateBackend({ maxParallelism, range, incremental: true, uid: "op", subtaskIndex, jobId: "j", storage }, { driver: sqliteDriver, directory, cacheEntriesMax: 16, nativeCheckpoints: true });
      // Declared before the restore in the second: its base is copied row by row, not adopted.
      if (subtaskIndex === 1) b.valueState<string>("v");
      await b.restore([handle]);
      const v = b.valueState<string>("v");
      for (let k = 0; k < n + 20; k++) {
        const g = keyGroupOf(k, maxParallelism);
        if (g < range.start || g > range.end) continue;
        b.setCurrentKey(k);
        assert.equal(v.value(), expected.get(k), `key ${k}`);
      }
      const snap = b.snapshot(4);
      while (!(await snap.step(1000)));
      const next = snap.result() as IncrementalKeyedState;
      snap.release();
      assert.equal(next.version, 2);
      b.dispose();
    }
  });
});
