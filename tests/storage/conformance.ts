/**
 * The conformance suite every StorageAdapter passes; each adapter's test file calls
 * runStorageConformance() with a factory.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { StorageAdapter } from "../../mod.ts";
import { putInParts } from "../../storage/adapter.ts";

export function runStorageConformance(name: string, create: () => Promise<StorageAdapter> | StorageAdapter): void {
  describe(`${name} conformance`, () => {
    test("get() of a missing key is undefined", async () => {
      const s = await create();
      assert.equal(await s.get("nope/nothing"), undefined);
    });

    test("put() then get() returns the same bytes, and a later put replaces them", async () => {
      const s = await create();
      await s.put("a/b/c", new Uint8Array([1, 2, 3]));
      assert.deepEqual(await s.get("a/b/c"), new Uint8Array([1, 2, 3]));
      await s.put("a/b/c", new Uint8Array([9]));
      assert.deepEqual(await s.get("a/b/c"), new Uint8Array([9]));
    });

    test("put() copies: changing the caller's buffer later changes nothing stored", async () => {
      const s = await create();
      const buf = new Uint8Array([5, 5]);
      await s.put("k", buf);
      buf[0] = 0;
      assert.deepEqual(await s.get("k"), new Uint8Array([5, 5]));
    });

    test("an adapter that says it keeps no buffers keeps no part of putInParts(): writing over the parts afterwards changes nothing stored", async (t) => {
      const s = await create();
      if (s.keepsNoBuffers !== true) return t.skip(`${s.description} may keep what it is given`);
      for (const parts of [[Uint8Array.of(1, 2, 3)], [Uint8Array.of(1, 2), new Uint8Array(300_000).fill(3), Uint8Array.of(4)]]) {
        const expected = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          expected.set(p, at);
          at += p.length;
        }
        await putInParts(s, "reused/parts", parts);
        for (const p of parts) p.fill(0xee);
        assert.deepEqual(await s.get("reused/parts"), expected, `${parts.length} part(s)`);
      }
    });

    test("empty values and large values round-trip", async () => {
      const s = await create();
      await s.put("empty", new Uint8Array(0));
      assert.deepEqual(await s.get("empty"), new Uint8Array(0));
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
      await s.put("big", big);
      assert.deepEqual(await s.get("big"), big);
    });

    test("list() returns keys under a prefix, sorted", async () => {
      const s = await create();
      for (const k of ["j/2/x", "j/1/y", "j/1/a", "other/z"]) await s.put(k, new Uint8Array([1]));
      assert.deepEqual(await s.list("j/"), ["j/1/a", "j/1/y", "j/2/x"]);
      assert.deepEqual(await s.list("j/1/"), ["j/1/a", "j/1/y"]);
      assert.deepEqual(await s.list("missing/"), []);
    });

    test("delete() removes a key and ignores a missing one", async () => {
      const s = await create();
      await s.put("d/1", new Uint8Array([1]));
      await s.delete("d/1");
      await s.delete("d/1");
      assert.equal(await s.get("d/1"), undefined);
    });

    test("deletePrefix() removes exactly the keys under the prefix", async () => {
      const s = await create();
      for (const k of ["p/chk-1/a", "p/chk-1/b", "p/chk-10/a", "p/chk-2/a"]) await s.put(k, new Uint8Array([1]));
      await s.deletePrefix("p/chk-1/");
      assert.deepEqual(await s.list("p/"), ["p/chk-10/a", "p/chk-2/a"]);
    });

    test("keys that could escape the root are refused", async () => {
      const s = await create();
      for (const bad of ["", "/abs", "a/../b", "a//b", "./a"]) {
        await assert.rejects(async () => await s.put(bad, new Uint8Array([1])), TypeError, `key ${JSON.stringify(bad)}`);
      }
    });

    test("concurrent puts to different keys all land", async () => {
      const s = await create();
      await Promise.all(Array.from({ length: 20 }, (_, i) => s.put(`c/${i}`, new Uint8Array([i]))));
      assert.equal((await s.list("c/")).length, 20);
    });

    test("putInParts() stores the parts' concatenation, from an array or a generator, and replaces", async () => {
      const s = await create();
      const big = new Uint8Array(2 * 1024 * 1024 + 7).map((_, i) => i % 253);
      await putInParts(s, "parts/a", [Uint8Array.of(1, 2), new Uint8Array(0), big.subarray(0, 1000), big.subarray(1000)]);
      const got = await s.get("parts/a");
      assert.equal(got?.length, 2 + big.length);
      assert.deepEqual(got?.subarray(0, 2), Uint8Array.of(1, 2));
      assert.deepEqual(got?.subarray(2), big);
      async function* slowly() {
        for (let i = 0; i < 5; i++) {
          await Promise.resolve();
          yield Uint8Array.of(i);
        }
      }
      await putInParts(s, "parts/a", slowly());
      assert.deepEqual(await s.get("parts/a"), Uint8Array.of(0, 1, 2, 3, 4));
      await putInParts(s, "parts/empty", []);
      assert.deepEqual(await s.get("parts/empty"), new Uint8Array(0));
    });

    test("putInParts() whose producer fails in the middle leaves the old bytes, or nothing, visible", async () => {
      const s = await create();
      await s.put("torn/old", Uint8Array.of(7));
      const failing = function* () {
        yield new Uint8Array(64 * 1024).fill(1);
        yield new Uint8Array(64 * 1024).fill(2);
        throw new Error("the producer crashed");
      };
      await assert.rejects(putInParts(s, "torn/old", failing()));
      await assert.rejects(putInParts(s, "torn/new", failing()));
      assert.deepEqual(await s.get("torn/old"), Uint8Array.of(7));
      assert.equal(await s.get("torn/new"), undefined);
      assert.deepEqual(await s.list("torn/"), ["torn/old"]);
    });
  });
}
