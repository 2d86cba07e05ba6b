import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { HeldRead } from "../../state/sqlite_held_read.ts";

test(`HeldRead keeps one snapshot while the commit count stays, and takes a new one when it moves (${sqliteDriver.name})`, () => {
  const path = join(mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-held-read-")), "f.db");
  const reader = sqliteDriver.open(path);
  reader.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER NOT NULL)");
  const writer = sqliteDriver.open(path);
  const count = () => reader.prepare("SELECT count(*) AS n FROM t").get()!.n as number;
  const held = new HeldRead(reader);
  held.holdAfter(0);
  assert.equal(count(), 0);
  writer.exec("INSERT INTO t VALUES (1)");
  held.holdAfter(0);
  assert.equal(count(), 0, "the snapshot held does not see a commit made after it");
  held.holdAfter(1);
  assert.equal(count(), 1, "a new count begins a new snapshot");
  held.end();
  assert.equal(held.held, false);
  writer.exec("INSERT INTO t VALUES (2)");
  assert.equal(count(), 2, "ended: the connection reads in autocommit again");
  writer.close();
  reader.close();
  sqliteDriver.removeFiles(path);
});
