import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PendingWrites } from "../../state/sqlite_pending_writes.ts";
import { WriteBatch } from "../../state/sqlite_write_batch.ts";
import { CacheEntry } from "../../state/sqlite_cache_entry.ts";
import { keyBytes } from "../../state/sqlite_keys.ts";
import { WeirError } from "../../errors.ts";

/** A batch of `keys` of state `sid`, each put with the value byte `value` (undefined: deleted), and their entries. */
function batchOf(sid: number, keys: unknown[], value: number | undefined): [CacheEntry[], Uint8Array] {
  const b = new WriteBatch();
  const entries: CacheEntry[] = [];
  for (const k of keys) {
    if (value === undefined) b.remove(1, sid, keyBytes(k));
    else b.put(1, sid, keyBytes(k), null, Uint8Array.of(value));
    entries.push(new CacheEntry(sid, k, 1, undefined, value, 0));
  }
  return [entries, b.bytes()];
}

function valueOf(p: PendingWrites, sid: number, k: unknown): number | "deleted" | "none" {
  const i = p.latest(sid, k);
  if (i < 0) return "none";
  const v = p.value(i);
  return v === undefined ? "deleted" : v[0];
}

describe("PendingWrites", () => {
  test("latest() finds each key's newest record across batches and states, past the first 1 024 keys", () => {
    const p = new PendingWrites();
    const keys = Array.from({ length: 3000 }, (_, i) => (i % 2 === 0 ? i : `k${i}`));
    p.add(...batchOf(0, keys, 1));
    p.add(...batchOf(1, keys.slice(0, 1500), 2));
    p.add(...batchOf(0, keys.filter((_, i) => i % 3 === 0), 3));
    p.add(...batchOf(0, keys.filter((_, i) => i % 5 === 0), undefined));
    assert.equal(p.length, 3000 + 1500 + 1000 + 600);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      assert.equal(valueOf(p, 0, k), i % 5 === 0 ? "deleted" : i % 3 === 0 ? 3 : 1, `state 0, key ${String(k)}`);
      assert.equal(valueOf(p, 1, k), i < 1500 ? 2 : "none", `state 1, key ${String(k)}`);
      assert.equal(valueOf(p, 2, k), "none");
    }
    assert.equal(valueOf(p, 0, "absent"), "none");
  });

  test("NaN is one key, and -0 is 0", () => {
    const p = new PendingWrites();
    p.add(...batchOf(0, [NaN, -0], 1));
    p.add(...batchOf(0, [0 / 0], 2));
    assert.equal(valueOf(p, 0, NaN), 2);
    assert.equal(valueOf(p, 0, 0), 1);
  });

  test("reset() is refused while the keys are not committed or a capture holds them; after it the keys are forgotten and their entries unpinned", () => {
    const p = new PendingWrites();
    const [entries, bytes] = batchOf(0, ["a", "b"], 1);
    p.add(entries, bytes);
    assert.throws(() => p.reset(), (err: unknown) => err instanceof WeirError && err.code === "invariant_broken" && /not yet committed/.test(err.message));
    p.hold();
    p.drop();
    assert.equal(p.reusable, false);
    assert.equal(entries[0].pins, 1, "a capture holds the entries pinned");
    assert.throws(() => p.reset(), (err: unknown) => err instanceof WeirError && err.code === "invariant_broken" && /1 captures/.test(err.message));
    assert.equal(p.batches.length, 1, "a capture still reads the batch");
    p.letGo();
    assert.equal(entries[0].pins, 0);
    assert.equal(p.batches.length, 0, "nothing keeps the bytes of a committed batch no capture reads");
    assert.equal(p.reusable, true);
    p.reset();
    assert.equal(p.length, 0);
    assert.equal(p.batches.length, 0);
    assert.equal(valueOf(p, 0, "a"), "none");
    p.add(...batchOf(0, ["b"], 7));
    assert.equal(valueOf(p, 0, "b"), 7);
    assert.equal(valueOf(p, 0, "a"), "none");
    assert.equal(p.reusable, false);
  });
});
