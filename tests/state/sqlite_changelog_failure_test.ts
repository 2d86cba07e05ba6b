import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { WeirError } from "../../errors.ts";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import type { KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import type { SqliteDriver } from "../../state/sqlite_driver.ts";
import { readLayout } from "../../state/sqlite_native_restore.ts";
import { MemoryStorage } from "../../storage/memory.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-changelog-failure-"));

/** The real driver, with appends to changelog files failing while `full` is set (a full disk). */
function fullDiskDriver(): SqliteDriver & { full: boolean } {
  const d = {
    ...sqliteDriver,
    full: false,
    writeFile(path: string, bytes: Uint8Array, append?: boolean) {
      if (d.full && /\.log-\d+$/.test(path)) throw new Error("ENOSPC: no space left on device");
      sqliteDriver.writeFile(path, bytes, append);
    },
  };
  return d;
}

async function finish(snap: KeyedStateSnapshot): Promise<KeyedStateHandle> {
  while (!(await snap.step(1000)));
  const r = snap.result();
  snap.release();
  return r;
}

describe("SqliteKeyedStateBackend changelog file on a full disk", () => {
  // In its file from the start, and kept in memory until it outgrows 256 KiB (an epoch below logs about 1 MB).
  for (const changelogMemoryBytes of [0, 256 * 1024]) {
    test(`write-backs go on; the checkpoint whose changelog lost records fails with storage_failed; the next is a base that restores everything (changelog kept in memory up to ${changelogMemoryBytes} B)`, async () => {
      const storage = new MemoryStorage();
      const driver = fullDiskDriver();
      const init = { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, uid: "op", subtaskIndex: 0, jobId: "j", storage };
      // A cache of 50 keys: the 5 000 keys below are written back (and logged) many times over.
      const b = new SqliteKeyedStateBackend(init, { driver, directory, cacheEntriesMax: 50, nativeCheckpoints: true, changelogMemoryBytes });
      const n = b.valueState<string>("n");
      // Values of 200 bytes: more than the changelog writer buffers, so appends reach the disk.
      const value = (round: number, i: number) => `${round}-${i}`.padEnd(200, ".");
      const fill = (round: number) => {
        for (let i = 0; i < 5000; i++) {
          b.setCurrentKey(i);
          n.update(value(round, i));
        }
      };
      fill(0);
      await finish(b.snapshot(1)); // a base
      driver.full = true;
      fill(1); // appends to the changelog fail; the working file takes every write-back
      driver.full = false;
      const failed = b.snapshot(2);
      await assert.rejects(async () => {
        while (!(await failed.step(1000)));
      }, (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && /changelog file/.test(e.message));
      failed.release();
      fill(2);
      const h3 = await finish(b.snapshot(3));
      const files = decodeFiles(h3);
      assert.equal(files[0], "base", `after a failed changelog the next checkpoint is a base, got ${files.join(",")}`);
      const r = new SqliteKeyedStateBackend({ ...init }, { driver: sqliteDriver, directory, nativeCheckpoints: true });
      await r.restore([h3]);
      const rn = r.valueState<string>("n");
      for (let i = 0; i < 5000; i++) {
        r.setCurrentKey(i);
        assert.equal(rn.value(), value(2, i), `key ${i}`);
      }
      b.dispose();
      r.dispose();
    });
  }

  test("a changelog kept in memory never touches the full disk: its checkpoint completes and restores", async () => {
    const storage = new MemoryStorage();
    const driver = fullDiskDriver();
    const init = { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, uid: "op", subtaskIndex: 0, jobId: "j", storage };
    const b = new SqliteKeyedStateBackend(init, { driver, directory, cacheEntriesMax: 50, nativeCheckpoints: true });
    const n = b.valueState<number>("n");
    const fill = (round: number) => {
      for (let i = 0; i < 5000; i++) {
        b.setCurrentKey(i);
        n.update(round * 10_000 + i);
      }
    };
    fill(0);
    await finish(b.snapshot(1));
    driver.full = true;
    fill(1);
    const h2 = await finish(b.snapshot(2));
    driver.full = false;
    assert.deepEqual(decodeFiles(h2), ["base", "changelog", "changelog"], "a base, its captured values and this epoch's changelog");
    const r = new SqliteKeyedStateBackend({ ...init }, { driver: sqliteDriver, directory, nativeCheckpoints: true });
    await r.restore([h2]);
    const rn = r.valueState<number>("n");
    for (let i = 0; i < 5000; i++) {
      r.setCurrentKey(i);
      assert.equal(rn.value(), 10_000 + i, `key ${i}`);
    }
    b.dispose();
    r.dispose();
  });

  test("changelogMemoryBytes below 0 is refused, naming the option", () => {
    const init = { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, uid: "op", subtaskIndex: 0, jobId: "j", storage: new MemoryStorage() };
    assert.throws(() => new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, changelogMemoryBytes: -1 }), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && /changelogMemoryBytes/.test(e.message));
  });
});

function decodeFiles(h: KeyedStateHandle): string[] {
  assert.equal(h.format, "incremental");
  return readLayout(h as Parameters<typeof readLayout>[0]).files.map((f) => f.kind);
}

describe("SqliteKeyedStateBackend native upload on a failing read", () => {
  test("a part that cannot be read fails the checkpoint as a rejected step (declined, as a failed put is), not a throw from step() that fails the subtask", async () => {
    const storage = new MemoryStorage();
    const d = {
      ...sqliteDriver,
      broken: false,
      readFileRange(path: string, offset: number, length: number): Uint8Array {
        if (d.broken) throw new Error("EIO: i/o error, read");
        return sqliteDriver.readFileRange(path, offset, length);
      },
    };
    const init = { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, uid: "op", subtaskIndex: 0, jobId: "j", storage };
    // No background writer: one that is up copies the base as a page image, reading no part
    // of the file, and whether it is up by the snapshot is the thread's timing.
    const b = new SqliteKeyedStateBackend(init, { driver: d, directory, cacheEntriesMax: 50, nativeCheckpoints: true, backgroundWrites: false });
    const n = b.valueState<string>("n");
    for (let i = 0; i < 500; i++) {
      b.setCurrentKey(i);
      n.update(`v${i}`);
    }
    d.broken = true;
    const snap = b.snapshot(1);
    // runtime/subtask_checkpoints.ts declines a checkpoint whose step rejects; a step that
    // throws fails the subtask (runtime/snapshot_work.ts).
    let thrown: unknown;
    let rejected: unknown;
    for (let s = 0; s < 10_000 && thrown === undefined && rejected === undefined; s++) {
      let r: boolean | Promise<boolean>;
      try {
        r = snap.step(1000);
      } catch (e) {
        thrown = e;
        break;
      }
      if (r instanceof Promise) {
        try {
          if (await r) break;
        } catch (e) {
          rejected = e;
        }
      } else if (r) break;
    }
    snap.release();
    b.dispose();
    assert.equal(thrown, undefined, `step() threw: ${(thrown as Error)?.message}`);
    assert.ok(rejected instanceof Error && /EIO/.test(rejected.message), "the step rejected with the read's error");
  });
});
