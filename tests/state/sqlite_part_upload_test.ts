import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { checksumOf } from "../../checkpoint/checksum.ts";
import { PART_BYTES, PartUpload, type UploadFile, inParts } from "../../state/sqlite_part_upload.ts";
import { MemoryStorage } from "../../storage/memory.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-part-upload-"));
const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff);

/** Runs the upload to its end with small budgets; returns how many steps were puts and how many were not. */
async function run(up: PartUpload): Promise<{ puts: number; others: number }> {
  let puts = 0;
  let others = 0;
  while (!up.done) {
    const put = up.step(4096);
    if (put === undefined) others++;
    else {
      puts++;
      await put;
    }
  }
  return { puts, others };
}

describe("PartUpload", () => {
  test("a file on disk and one in memory go up in parts of PART_BYTES, each with its checksum, in order", async () => {
    const storage = new MemoryStorage();
    const onDisk = bytesOf(2 * PART_BYTES + 1000, 1);
    const path = join(directory, "on-disk");
    sqliteDriver.writeFile(path, onDisk);
    const inMemory = bytesOf(PART_BYTES + 7, 2);
    const files: UploadFile[] = [
      { path, kind: "changelog", size: onDisk.length, parts: 0 },
      { path: join(directory, "never-written"), kind: "base", size: inMemory.length, parts: 0, partBytes: inParts(inMemory) },
    ];
    const up = new PartUpload({ driver: sqliteDriver, storage, keyPrefix: "p", checkpointId: 3 }, files);
    await run(up);
    assert.deepEqual(files.map((f) => f.parts), [3, 2]);
    const expected = [onDisk.subarray(0, PART_BYTES), onDisk.subarray(PART_BYTES, 2 * PART_BYTES), onDisk.subarray(2 * PART_BYTES), inMemory.subarray(0, PART_BYTES), inMemory.subarray(PART_BYTES)];
    assert.deepEqual(up.refs.map((r) => r.key), ["p/3-changelog-0.db", "p/3-changelog-1.db", "p/3-changelog-2.db", "p/3-base-3.db", "p/3-base-4.db"]);
    for (const [i, ref] of up.refs.entries()) {
      assert.equal(ref.size, expected[i].length);
      assert.equal(ref.checksum, checksumOf(expected[i]), `part ${i}`);
      assert.deepEqual(await storage.get(ref.key), expected[i]);
    }
  });

  test("checksums that came with bytes in memory are used as they are, without a step to compute them", async () => {
    const storage = new MemoryStorage();
    const inMemory = bytesOf(2 * PART_BYTES + 5, 3);
    // Not the real checksums: only a checksum taken as given shows up in the refs.
    const given = ["crc32c:00000001", "crc32c:00000002", "crc32c:00000003"];
    const files: UploadFile[] = [{ path: join(directory, "never-written"), kind: "base", size: inMemory.length, parts: 0, partBytes: inParts(inMemory), partChecksums: given }];
    const up = new PartUpload({ driver: sqliteDriver, storage, keyPrefix: "p", checkpointId: 4 }, files);
    const steps = await run(up);
    assert.deepEqual(up.refs.map((r) => r.checksum), given);
    assert.deepEqual(steps, { puts: 3, others: 3 }, "a step to take each part, one to put it");
  });
});
