import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../mod.ts";
import { WeirError } from "../../errors.ts";
import { runStorageConformance } from "./conformance.ts";

runStorageConformance("MemoryStorage", () => new MemoryStorage());

describe("MemoryStorage.putParts", () => {
  test("stores the parts joined in a buffer of its own (no part is kept) through put(), and a failing producer as storage_failed", async () => {
    const puts: number[] = [];
    const s = new class extends MemoryStorage {
      override put(key: string, bytes: Uint8Array): Promise<void> {
        puts.push(bytes.length);
        return super.put(key, bytes);
      }
    }();
    const a = Uint8Array.of(1, 2);
    const b = Uint8Array.of(3);
    await s.putParts("k", [a, b]);
    a[0] = 9;
    assert.deepEqual([...(await s.get("k"))!], [1, 2, 3]);
    assert.deepEqual(puts, [3], "a subclass's put() sees the write");
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Uint8Array.of(4);
      throw new Error("producer broke");
    }
    await assert.rejects(s.putParts("k", failing()), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && /\bk\b/.test(e.message) && /producer broke/.test(e.message));
    assert.deepEqual([...(await s.get("k"))!], [1, 2, 3]);
  });
});
