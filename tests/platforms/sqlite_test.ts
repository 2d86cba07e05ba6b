import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-driver-"));

describe(`sqliteDriver file access (${sqliteDriver.name})`, () => {
  test("readFileRange() gives the bytes of a range in a buffer of their size, a short last range too", () => {
    const path = join(directory, "range.bin");
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    sqliteDriver.writeFile(path, bytes);
    const first = sqliteDriver.readFileRange(path, 0, 2048);
    assert.deepEqual([...first], [...bytes.subarray(0, 2048)]);
    const last = sqliteDriver.readFileRange(path, 2048, 2048);
    assert.deepEqual([...last], [...bytes.subarray(2048)]);
    assert.equal(last.buffer.byteLength, 952, "no room kept beyond the file's end");
    assert.equal(sqliteDriver.readFileRange(path, 3000, 2048).length, 0);
    sqliteDriver.removeFiles(path);
  });

  test("writeFileAt() writes over a file's bytes from an offset, the rest kept", () => {
    const path = join(directory, "at.bin");
    sqliteDriver.writeFile(path, new Uint8Array(10).fill(1));
    sqliteDriver.writeFileAt(path, 0, Uint8Array.of(7, 7));
    sqliteDriver.writeFileAt(path, 8, Uint8Array.of(9, 9, 9));
    assert.deepEqual([...sqliteDriver.readFile(path)], [7, 7, 1, 1, 1, 1, 1, 1, 9, 9, 9]);
    sqliteDriver.removeFiles(path);
  });
});
