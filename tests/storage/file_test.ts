import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage, WeirError } from "../../mod.ts";
import { runStorageConformance } from "./conformance.ts";

const fresh = () => new FileStorage(mkdtempSync(join(tmpdir(), "weir-fs-")));

runStorageConformance("FileStorage", fresh);

describe("FileStorage", () => {
  test("a torn write (temp file left by a crash) is invisible to get() and list()", async () => {
    const s = fresh();
    await s.put("job/chk-1/_metadata", new Uint8Array([1]));
    // What a crash between write and rename leaves behind.
    writeFileSync(join(s.root, "job", "chk-1", ".tmp-999-1"), new Uint8Array([7, 7]));
    assert.deepEqual(await s.list("job/"), ["job/chk-1/_metadata"]);
    assert.deepEqual(await s.get("job/chk-1/_metadata"), new Uint8Array([1]));
  });

  test("put() leaves no temp file behind", async () => {
    const s = fresh();
    await s.put("x/y", new Uint8Array([1]));
    assert.deepEqual(readdirSync(join(s.root, "x")), ["y"]);
  });

  test("putParts() whose producer fails leaves no temp file behind, and the old file as it was", async () => {
    const s = fresh();
    await s.put("x/y", new Uint8Array([1]));
    const failing = function* () {
      yield new Uint8Array(1 << 20);
      throw new Error("the producer crashed");
    };
    await assert.rejects(s.putParts("x/y", failing()), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && e.message.includes("x/y"));
    assert.deepEqual(readdirSync(join(s.root, "x")), ["y"]);
    assert.deepEqual(await s.get("x/y"), new Uint8Array([1]));
  });

  test("an empty root path is a WeirError naming it", () => {
    assert.throws(() => new FileStorage(""), (e: unknown) => e instanceof WeirError && e.code === "invalid_option");
  });
});

describe("directory paths", () => {
  test("without a directory opener, a path where storage goes is a clear error", async () => {
    const { openDirectory, setDirectoryOpener } = await import("../../storage/directory.ts");
    const { openFileDirectory } = await import("../../storage/file.ts");
    setDirectoryOpener(undefined as never);
    try {
      assert.throws(() => openDirectory("./savepoints", "The savepoint target directory"), (e: unknown) =>
        e instanceof WeirError && e.code === "storage_unavailable" && e.message.includes("./savepoints"));
    } finally {
      setDirectoryOpener(openFileDirectory);
    }
  });
});
