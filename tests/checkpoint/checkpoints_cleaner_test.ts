import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CheckpointsCleaner } from "../../checkpoint/checkpoints_cleaner.ts";
import { MemoryStorage } from "../../storage/memory.ts";

/** A cleaner keeping two completed checkpoints, and checkpoints 1–4 in storage. */
async function cleanerWithCheckpoints() {
  const storage = new MemoryStorage();
  for (let id = 1; id <= 4; id++) await storage.put(`j/id/chk-${id}/_metadata`, new Uint8Array(1));
  const cleaner = new CheckpointsCleaner({ storage, jobName: "j", jobId: "id", retained: 2, onDiscarded: () => {} });
  const stored = async () => [...new Set((await storage.list("j/id/")).map((k) => Number(k.split("/")[2].slice(4))))].sort();
  /** Checkpoint `id`'s metadata landed after it failed. */
  const landed = (id: number, jobEnded = false) => cleaner.landedAfterFailing(id, { storage, dir: `j/id/chk-${id}` }, { savepoint: false, jobEnded });
  return { cleaner, stored, landed };
}

describe("CheckpointsCleaner", () => {
  test("a checkpoint whose metadata landed after it failed goes once a newer one completed", async () => {
    const { cleaner, stored, landed } = await cleanerWithCheckpoints();
    cleaner.completed(1);
    cleaner.completed(2);
    landed(3);
    await cleaner.settled();
    assert.deepEqual(await stored(), [1, 2, 3, 4], "the latest in storage: recovery may pick it");
    cleaner.completed(4);
    await cleaner.settled();
    assert.deepEqual(await stored(), [2, 4]);
  });

  test("one that landed after a newer one completed goes at once, and one of an ended job too", async () => {
    const { cleaner, stored, landed } = await cleanerWithCheckpoints();
    cleaner.completed(2);
    landed(1);
    landed(4, true);
    await cleaner.settled();
    assert.deepEqual(await stored(), [2, 3]);
  });

  test("one a restore brought back counts as completed", async () => {
    const { cleaner, stored, landed } = await cleanerWithCheckpoints();
    cleaner.completed(2);
    landed(3);
    cleaner.retain([3]);
    cleaner.completed(4);
    await cleaner.settled();
    // chk-1 is no completed checkpoint of this cleaner's: it stays.
    assert.deepEqual(await stored(), [1, 3, 4], "chk-2 subsumed beyond retained 2, chk-3 kept");
  });

  test("at the job's end, one whose metadata landed after it failed goes even if nothing newer completed", async () => {
    const { cleaner, stored, landed } = await cleanerWithCheckpoints();
    cleaner.completed(2);
    landed(3);
    await cleaner.settled();
    assert.deepEqual(await stored(), [1, 2, 3, 4]);
    await cleaner.jobEnded(5);
    assert.deepEqual(await stored(), [1, 2, 4]);
  });

  test("a subsumed checkpoint's _metadata is deleted before its other files: a crash between them never leaves a listed checkpoint without state", async () => {
    const storage = new MemoryStorage();
    for (let id = 1; id <= 3; id++) {
      for (const f of ["_metadata", "a-0", "b-1"]) await storage.put(`j/id/chk-${id}/${f}`, new Uint8Array(1));
    }
    const deleted: string[] = [];
    const watched = Object.assign(Object.create(storage) as MemoryStorage, {
      delete: (key: string) => (deleted.push(key), storage.delete(key)),
      // A prefix goes in whatever order the storage likes (a recursive delete of a directory).
      deletePrefix: (prefix: string) => (deleted.push(`${prefix}*`), storage.deletePrefix(prefix)),
    });
    const cleaner = new CheckpointsCleaner({ storage: watched, jobName: "j", jobId: "id", retained: 1, onDiscarded: () => {} });
    for (let id = 1; id <= 3; id++) cleaner.completed(id);
    await cleaner.settled();
    for (const id of [1, 2]) {
      const mine = deleted.filter((k) => k.startsWith(`j/id/chk-${id}/`));
      assert.deepEqual(mine, [`j/id/chk-${id}/_metadata`, `j/id/chk-${id}/*`], `checkpoint ${id}`);
    }
    assert.deepEqual((await storage.list("j/id/")).sort(), ["j/id/chk-3/_metadata", "j/id/chk-3/a-0", "j/id/chk-3/b-1"]);
  });
  test("a new attempt deletes the directories below its first id that have no _metadata (a crashed run's half-written checkpoints), and nothing else", async () => {
    const storage = new MemoryStorage();
    const put = (key: string) => storage.put(`j/id/${key}`, new Uint8Array(4));
    await put("chk-3/_metadata");
    await put("chk-3/v0-0");
    await put("chk-4/v0-0");
    await put("chk-4/.tmp-123-ab-1");
    await put("chk-5/_metadata");
    await put("chk-6/v1-0");
    // At or above the next id: this attempt's own.
    await put("chk-7/v0-0");
    await put("chk-12/v0-0");
    const cleaner = new CheckpointsCleaner({ storage, jobName: "j", jobId: "id", retained: 2, onDiscarded: () => {} });
    cleaner.retain([3, 5]);
    await cleaner.sweepBelow(7);
    assert.deepEqual((await storage.list("j/id/")).sort(), ["chk-12/v0-0", "chk-3/_metadata", "chk-3/v0-0", "chk-5/_metadata", "chk-7/v0-0"].map((k) => `j/id/${k}`));
  });
});
