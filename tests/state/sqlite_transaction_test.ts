import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { inTransaction } from "../../state/sqlite_transaction.ts";
import { WeirError } from "../../errors.ts";

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
