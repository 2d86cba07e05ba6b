import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { inTransaction, restoreFailure } from "../../state/sqlite_transaction.ts";
import { WeirError } from "../../errors.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function table() {
  const db = sqliteDriver.open(":memory:");
  db.exec("CREATE TABLE t (a INTEGER PRIMARY KEY)");
  const count = () => db.prepare("SELECT count(*) AS n FROM t").get()!.n;
  return { db, count };
}

const wrap = (e: Error) => new WeirError("storage_failed", `Cannot write t: ${e.message}`, { cause: e });

describe(`inTransaction (${sqliteDriver.name})`, () => {
  test("commits what the work wrote and returns its result", () => {
    const { db, count } = table();
    assert.equal(inTransaction(db, () => (db.exec("INSERT INTO t VALUES (1), (2)"), "done"), wrap), "done");
    assert.equal(count(), 2);
    db.exec("BEGIN; COMMIT;"); // no transaction was left open
    db.close();
  });

  test("a failing statement rolls back everything of the work and is wrapped, keeping its cause", () => {
    const { db, count } = table();
    const err = (() => {
      try {
        inTransaction(db, () => {
          db.exec("INSERT INTO t VALUES (1)");
          db.exec("INSERT INTO t VALUES (1)");
        }, wrap);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof WeirError && err.code === "storage_failed" && /Cannot write t: .*UNIQUE/i.test(err.message), String(err));
    assert.ok((err as WeirError).cause instanceof Error);
    assert.equal(count(), 0);
    db.close();
  });

  test("a WeirError from the work passes as it is; a thrown non-Error is wrapped by its text", () => {
    const { db, count } = table();
    const own = new WeirError("checkpoint_corrupt", "bad file");
    assert.throws(() => inTransaction(db, () => { db.exec("INSERT INTO t VALUES (1)"); throw own; }, wrap), (e: unknown) => e === own);
    assert.throws(() => inTransaction(db, () => { throw "plain"; }, wrap), (e: unknown) => e instanceof WeirError && e.message === "Cannot write t: plain");
    assert.equal(count(), 0);
    db.close();
  });

  test("when the transaction is already gone at the failure, the rollback's own error does not hide the cause", () => {
    const { db, count } = table();
    assert.throws(
      () => inTransaction(db, () => {
        db.exec("INSERT INTO t VALUES (1); COMMIT;");
        throw new Error("after the commit");
      }, wrap),
      (e: unknown) => e instanceof WeirError && e.message === "Cannot write t: after the commit",
    );
    assert.equal(count(), 1, "what was committed stays");
    db.close();
  });
});

describe(`restoreFailure (${sqliteDriver.name})`, () => {
  test("a full disk is storage_failed (a later attempt may get past it); a file that is no database is checkpoint_corrupt", () => {
    const { db } = table();
    // SQLite's own SQLITE_FULL, as a full disk gives it.
    db.exec("PRAGMA max_page_count = 2");
    const full = (() => {
      try {
        inTransaction(db, () => {
          for (let i = 0; i < 10_000; i++) db.exec(`INSERT INTO t VALUES (${i})`);
        }, (e) => restoreFailure("apply the SQLite state file f", e));
      } catch (e) {
        return e;
      }
    })();
    db.close();
    assert.ok(full instanceof WeirError && full.code === "storage_failed", String(full));
    assert.match(full.message, /^Cannot apply the SQLite state file f: /);
    const dir = mkdtempSync(join(tmpdir(), "weir-restore-failure-"));
    try {
      const path = join(dir, "garbage.db");
      writeFileSync(path, "not a database ".repeat(300));
      const corrupt = (() => {
        try {
          const g = sqliteDriver.open(path);
          try {
            g.prepare("SELECT rootpage FROM sqlite_schema").get();
          } finally {
            g.close();
          }
        } catch (e) {
          return restoreFailure("read the schema of the file", e);
        }
      })();
      assert.equal(corrupt?.code, "checkpoint_corrupt");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
