import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../../mod.ts";
import { cloudflareDirectories } from "../../../platforms/cloudflare/directories.ts";
import type { R2BucketLike } from "../../../platforms/cloudflare/bindings.ts";

const bucket: R2BucketLike = { get: () => Promise.resolve(null), put: () => Promise.resolve(null), list: () => Promise.resolve({ objects: [], truncated: false }), delete: () => Promise.resolve() } as unknown as R2BucketLike;

test("cloudflareDirectories() opens relative paths and the homes a path names: the bound bucket, the job's storage", () => {
  const withBucket = cloudflareDirectories({ jobStorage: new MemoryStorage(), jobName: "clicks", bucket, bucketBinding: "WEIR_SAVEPOINTS" });
  assert.equal(withBucket("savepoints").root, "r2://WEIR_SAVEPOINTS/savepoints");
  assert.equal(withBucket("r2://WEIR_SAVEPOINTS/x/y").root, "r2://WEIR_SAVEPOINTS/x/y");
  assert.equal(withBucket("do://clicks/x").root, "do://clicks/x", "the job's storage even with a bucket bound");
  const noBucket = cloudflareDirectories({ jobStorage: new MemoryStorage(), jobName: "clicks" });
  assert.equal(noBucket("savepoints").root, "do://clicks/savepoints");
});

test("cloudflareDirectories() refuses an unknown bucket binding, job, scheme or a file system path, naming it", () => {
  const withBucket = cloudflareDirectories({ jobStorage: new MemoryStorage(), jobName: "clicks", bucket, bucketBinding: "WEIR_SAVEPOINTS" });
  const noBucket = cloudflareDirectories({ jobStorage: new MemoryStorage(), jobName: "clicks" });
  for (const [open, path, named] of [
    [withBucket, "r2://NOPE/x", /binding NOPE.*bound as WEIR_SAVEPOINTS/],
    [noBucket, "r2://WEIR_SAVEPOINTS/x", /binding WEIR_SAVEPOINTS.*binds no R2 bucket/],
    [withBucket, "do://other/x", /job other.*clicks/],
    [withBucket, "s3://b/x", /scheme s3:/],
    [withBucket, "file:/tmp/x", /scheme file:/],
    [withBucket, "/tmp/x", /"\/tmp\/x" .*|file system path/],
  ] as const) {
    assert.throws(() => open(path), (e: Error & { code?: string }) => {
      assert.equal(e.code, "invalid_option", path);
      assert.match(e.message, named, path);
      assert.ok(e.message.includes(JSON.stringify(path)), `${path}: ${e.message}`);
      return true;
    });
  }
});

test("cloudflareDirectories() opens a checkpoint's address, do://<WeirJob binding>/…, in the job's storage", async () => {
  const storage = new MemoryStorage();
  await storage.put("counting/ab/chk-3/_metadata", new Uint8Array([1]));
  const open = cloudflareDirectories({ jobStorage: new MemoryStorage(), jobName: "counting", checkpoints: { binding: "WEIR_JOB", storage } });
  const { storage: dir, root } = open("do://WEIR_JOB/counting/ab/chk-3");
  assert.equal(root, "do://WEIR_JOB/counting/ab/chk-3");
  assert.deepEqual(await dir.get("_metadata"), new Uint8Array([1]));
});
