import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "../../codec/cbor.ts";
import { decodeOperatorSnapshot, readOperatorSnapshot } from "../../checkpoint/operator_snapshot_read.ts";
import type { IncrementalKeyedState, SharedStateRef } from "../../state/backend.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { readKeyedHandle, storedKeyedHandle } from "../../state/keyed_handle_codec.ts";

const DIR = "wordcount/5d3c0e0f9a8b7c6d5e4f3a2b1c0d9e8f/shared/heap/5d3c0e0f9a8b7c6d5e4f3a2b1c0d9e8f/count/3/";

function chain(n: number, dir = DIR): SharedStateRef[] {
  return Array.from({ length: n }, (_, i) => ({ key: `${dir}${100 + i}-${i === 0 ? "base" : "changelog"}`, size: 1000 + i, checksum: `crc32c:${(0xabc00 + i).toString(16).padStart(8, "0")}` }));
}

function handle(shared: SharedStateRef[]): IncrementalKeyedState {
  return { format: "incremental", backend: "heap", version: 3, range: { start: 96, end: 127 }, shared };
}

describe("keyed state handle in a state file", () => {
  test("a chain of nine files reads back as written, and costs its directory once plus under 40 bytes a file", () => {
    const h = handle(chain(9));
    const bytes = encode({ keyedHandle: storedKeyedHandle(h) });
    const one = encode({ keyedHandle: storedKeyedHandle(handle(chain(1))) });
    // Each full key is ~95 characters: stored whole, eight more files would add over 800 bytes.
    assert.ok(bytes.length - one.length < 8 * 40, `eight more files cost ${bytes.length - one.length} bytes`);
    for (const read of [decodeOperatorSnapshot, readOperatorSnapshot]) {
      assert.deepEqual(read(bytes, "doc").keyedHandle, h);
    }
  });

  test("the storage a restore attached is not stored", () => {
    const stored = storedKeyedHandle({ ...handle(chain(2)), storage: new MemoryStorage() });
    assert.equal("storage" in stored, false);
  });

  test("files in different directories keep what they share, down to no prefix at all", () => {
    const mixed = [...chain(1), ...chain(1, DIR.replace("/3/", "/4/"))];
    const stored = storedKeyedHandle(handle(mixed));
    assert.equal(stored.sharedDir, DIR.replace("3/", ""));
    assert.deepEqual(readKeyedHandle(stored, "doc").shared, mixed);
    const apart = [{ key: "a/1-base", size: 1, checksum: "c" }, { key: "b/2-changelog", size: 2, checksum: "d" }];
    const storedApart = storedKeyedHandle(handle(apart));
    assert.equal(storedApart.sharedDir, "");
    assert.deepEqual(readKeyedHandle(storedApart, "doc").shared, apart);
    assert.equal(storedKeyedHandle(handle([])).sharedDir, "");
  });

  test("a handle written before the compact form (full refs, no sharedDir) still reads", () => {
    const h = handle(chain(3));
    const old = encode({ operator: [1], keyedHandle: h });
    for (const read of [decodeOperatorSnapshot, readOperatorSnapshot]) {
      const snap = read(old, "doc");
      assert.deepEqual(snap.keyedHandle, h);
      assert.deepEqual(snap.operator, [1]);
    }
  });

  test("a list of shared files that is not one is refused as checkpoint_corrupt, naming the state", () => {
    const stored = storedKeyedHandle(handle(chain(2)));
    const bad = [
      { ...stored, shared: [["1-base", "12", "crc32c:00000000"]] },
      { ...stored, shared: "1-base" },
      { ...stored, sharedDir: 7 },
      // A full ref does not go with a directory: its key would be read as relative.
      { ...stored, shared: chain(1) },
    ];
    for (const b of bad) {
      assert.throws(() => decodeOperatorSnapshot(encode({ keyedHandle: b }), `state of operator "count"`), (e: Error & { code?: string }) => e.code === "checkpoint_corrupt" && /operator "count"/.test(e.message));
    }
  });
});
