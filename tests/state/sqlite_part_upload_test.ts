import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { checksumOf } from "../../checkpoint/checksum.ts";
import { PART_BYTES, PUTS_IN_FLIGHT_MAX, PartUpload, type UploadFile, inParts } from "../../state/sqlite_part_upload.ts";
import { MemoryStorage } from "../../storage/memory.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-part-upload-"));
const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 0xff);

/** Runs the upload to its end with small budgets; returns how many steps waited for puts and how many did not. */
async function run(up: PartUpload): Promise<{ waits: number; others: number }> {
  let waits = 0;
  let others = 0;
  while (!up.done) {
    const wait = up.step(4096);
    if (wait === undefined) others++;
    else {
      waits++;
      await wait;
    }
  }
  return { waits, others };
}

/** Memory storage whose puts finish only when the test lets them, in any order. */
class GatedStorage extends MemoryStorage {
  readonly waiting: { key: string; finish: () => void; fail: (e: Error) => void }[] = [];
  override put(key: string, bytes: Uint8Array): Promise<void> {
    const stored = super.put(key, bytes);
    return new Promise((resolve, reject) => this.waiting.push({ key, finish: () => void stored.then(resolve), fail: reject }));
  }
}

/** Steps `up` until a step waits; returns that wait. */
function untilWait(up: PartUpload): Promise<void> {
  for (;;) {
    const wait = up.step(Infinity);
    if (wait !== undefined) return wait;
  }
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
    assert.deepEqual(steps, { waits: 1, others: 6 }, "a step to take each part, one to begin its put, and one wait for them all");
  });

  test(`at most ${PUTS_IN_FLIGHT_MAX} puts are in flight; the parts are listed in order whatever order their puts finish in`, async () => {
    const storage = new GatedStorage();
    const bytes = bytesOf(6 * PART_BYTES, 5);
    const files: UploadFile[] = [{ path: join(directory, "never-written"), kind: "changelog", size: bytes.length, parts: 0, partBytes: inParts(bytes), partChecksums: ["a", "b", "c", "d", "e", "f"] }];
    const up = new PartUpload({ driver: sqliteDriver, storage, keyPrefix: "p", checkpointId: 5 }, files);
    const full = untilWait(up);
    assert.equal(storage.waiting.length, PUTS_IN_FLIGHT_MAX, "the upload waits once the most puts are in flight");
    // The last one finishes first: the upload goes on with a slot free.
    storage.waiting.pop()!.finish();
    await full;
    const rest = untilWait(up);
    assert.equal(storage.waiting.length, PUTS_IN_FLIGHT_MAX);
    for (const w of storage.waiting.splice(0).reverse()) w.finish();
    await rest;
    const last = untilWait(up);
    assert.equal(storage.waiting.length, 1, "the sixth part's put");
    assert.equal(up.done, false, "not done while a put is in flight");
    storage.waiting.pop()!.finish();
    await last;
    assert.equal(up.done, true);
    assert.deepEqual(up.refs.map((r) => [r.key, r.checksum]), ["a", "b", "c", "d", "e", "f"].map((c, i) => [`p/5-changelog-${i}.db`, c]));
    for (const [i, ref] of up.refs.entries()) assert.deepEqual(await storage.get(ref.key), bytes.subarray(i * PART_BYTES, (i + 1) * PART_BYTES));
  });

  test("a put that fails fails the upload at its next wait, and it is never done; settled() waits for the other puts", async () => {
    const storage = new GatedStorage();
    const bytes = bytesOf(2 * PART_BYTES, 6);
    const files: UploadFile[] = [{ path: join(directory, "never-written"), kind: "base", size: bytes.length, parts: 0, partBytes: inParts(bytes), partChecksums: ["a", "b"] }];
    const up = new PartUpload({ driver: sqliteDriver, storage, keyPrefix: "p", checkpointId: 6 }, files);
    const all = untilWait(up);
    assert.equal(storage.waiting.length, 2);
    storage.waiting[0].fail(new Error("disk full"));
    let settled = false;
    const whenSettled = up.settled().then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(settled, false, "the second put is still in flight");
    storage.waiting[1].finish();
    await assert.rejects(all, /disk full/);
    await whenSettled;
    assert.equal(up.done, false);
    await assert.rejects(up.step(1) ?? Promise.resolve(), /disk full/, "every later step fails too");
  });
});
