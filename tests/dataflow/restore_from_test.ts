/**
 * `restoreFrom` accepts a savepoint's or retained checkpoint's `_metadata` file as well as
 * its directory, as Flink does (issue 8, fault 9: it failed with a raw ENOTDIR).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, MemoryStorage, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import type { EnvironmentOptions, JobHandle } from "../../mod.ts";
import { checkpointDirOf } from "../../checkpoint/metadata.ts";

/** A paced, practically endless job, so stop() and checkpoints never race its end. */
function start(options: EnvironmentOptions): Promise<JobHandle> {
  const env = new StreamEnvironment({ jobName: "restore-from", storage: new MemoryStorage(), restart: { strategy: "none" }, ...options });
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 2_000 }), { uid: "numbers" })
    .keyBy((n) => n % 3)
    .reduce((a, b) => a + b, { uid: "sum" })
    .sinkTo(new CollectSink<number>(), { uid: "out" });
  return env.execute();
}

/** Starts from `from`, checks which checkpoint it restored, and cancels. */
async function restoredId(from: EnvironmentOptions["restoreFrom"]): Promise<number | undefined> {
  const h = await start({ restoreFrom: from });
  const id = h.checkpointStats().latest.restored?.id;
  await h.cancel();
  return id;
}

describe("restoreFrom with a _metadata file", () => {
  test("checkpointDirOf() maps a _metadata path to its directory and leaves directories alone", () => {
    assert.equal(checkpointDirOf("/a/savepoint-x/_metadata"), "/a/savepoint-x");
    assert.equal(checkpointDirOf("/a/savepoint-x/_metadata/"), "/a/savepoint-x");
    assert.equal(checkpointDirOf("C:\\sp\\savepoint-x\\_metadata"), "C:\\sp\\savepoint-x");
    assert.equal(checkpointDirOf("/a/savepoint-x/"), "/a/savepoint-x");
    assert.equal(checkpointDirOf("/a/savepoint-x"), "/a/savepoint-x");
    assert.equal(checkpointDirOf("/a/my_metadata"), "/a/my_metadata");
    assert.equal(checkpointDirOf("_metadata"), "");
    assert.equal(checkpointDirOf("/_metadata"), "/");
  });

  test("a savepoint restores from its _metadata file as from its directory", async () => {
    const h1 = await start({});
    const location = await h1.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-rf-")) });
    const savepointId = (await h1.done).checkpoints.completed;
    assert.ok(savepointId >= 1);
    const viaDir = await restoredId(location);
    assert.equal(await restoredId(join(location, "_metadata")), viaDir);
    assert.equal(await restoredId(`file:${location}/_metadata`), viaDir);
    assert.equal(viaDir, h1.checkpointStats().latest.savepoint?.id);
  });

  test("a retained checkpoint restores from its _metadata file (path and { storage, path })", async () => {
    const root = mkdtempSync(join(tmpdir(), "weir-rf-"));
    const storage = new FileStorage(root);
    const h1 = await start({ storage });
    const chk = await h1.triggerCheckpoint();
    assert.equal(chk.status, "COMPLETED");
    await h1.cancel();
    assert.equal(await restoredId(`${chk.external_path}/_metadata`), chk.id);
    assert.equal(await restoredId({ storage, path: `restore-from/${h1.id}/chk-${chk.id}/_metadata` }), chk.id);
  });

  test("{ storage, path } takes a checkpoint's external_path as it is (it names the storage first), for MemoryStorage and FileStorage", async () => {
    for (const storage of [new MemoryStorage(), new FileStorage(mkdtempSync(join(tmpdir(), "weir-rf-")))]) {
      const h1 = await start({ storage });
      const chk = await h1.triggerCheckpoint();
      await h1.cancel();
      assert.ok(chk.external_path!.startsWith(`${storage.description}/`), chk.external_path);
      assert.equal(await restoredId({ storage, path: chk.external_path! }), chk.id, storage.description);
      assert.equal(await restoredId({ storage, path: `${chk.external_path}/_metadata` }), chk.id, storage.description);
    }
  });

  test("a storage key that starts as the storage's description does (a job named \"memory\") is read as the key first", async () => {
    const storage = new MemoryStorage();
    const h1 = await start({ storage, jobName: storage.description });
    const chk = await h1.triggerCheckpoint();
    await h1.cancel();
    assert.equal(await restoredId({ storage, path: `memory/${h1.id}/chk-${chk.id}` }), chk.id);
    assert.equal(await restoredId({ storage, path: chk.external_path! }), chk.id);
  });

  test("a _metadata path that does not exist is a clear error naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-rf-"));
    await assert.rejects(start({ restoreFrom: join(dir, "_metadata") }), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_not_found" && e.message.includes("_metadata") && e.message.includes(dir));
  });
});
