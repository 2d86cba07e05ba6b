import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { StoreConnection } from "../../state/sqlite_store_connection.ts";

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
