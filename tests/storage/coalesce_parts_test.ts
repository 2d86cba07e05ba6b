import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { coalesceParts } from "../../storage/coalesce_parts.ts";

/** What coalesceParts() yields, each write copied as it comes (the gathered buffer is reused). */
async function writes(parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, writeBytes: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const w of coalesceParts(parts, writeBytes)) out.push(w.slice());
  return out;
}

const concat = (xs: Uint8Array[]) => Uint8Array.from(xs.flatMap((x) => [...x]));

describe("coalesceParts", () => {
  test("small parts are gathered into writes of at most writeBytes, in order", async () => {
    // 700 parts of 1..17 bytes, each filled with its index, like a heap snapshot's key-group chunks.
    const parts = Array.from({ length: 700 }, (_, i) => new Uint8Array(1 + (i % 17)).fill(i & 0xff));
    const out = await writes(parts, 256);
    assert.deepEqual(concat(out), concat(parts));
    assert.ok(out.every((w) => w.length <= 256), "no gathered write exceeds writeBytes");
    // Each write but the last is full to within one part.
    for (const w of out.slice(0, -1)) assert.ok(w.length > 256 - 17, `a write of ${w.length} bytes left room for the next part`);
    assert.ok(out.length < 30, `${out.length} writes for 700 parts`);
  });

  test("a part as long as writeBytes goes as it is, after what was gathered before it", async () => {
    const big = new Uint8Array(64).fill(9);
    const parts = [Uint8Array.of(1, 2), big, Uint8Array.of(3), new Uint8Array(0), Uint8Array.of(4)];
    const out: Uint8Array[] = [];
    for await (const w of coalesceParts(parts, 64)) out.push(w === big ? w : w.slice());
    assert.equal(out.length, 3);
    assert.deepEqual(out[0], Uint8Array.of(1, 2));
    assert.equal(out[1], big, "the long part itself, not a copy");
    assert.deepEqual(out[2], Uint8Array.of(3, 4));
  });

  test("an asynchronous producer's bytes arrive whole; what it throws is thrown after what it gave", async () => {
    async function* producer() {
      yield Uint8Array.of(1);
      yield Uint8Array.of(2);
      throw new Error("the producer broke");
    }
    const seen: number[] = [];
    await assert.rejects(async () => {
      for await (const w of coalesceParts(producer(), 8)) seen.push(...w);
    }, /the producer broke/);
    assert.deepEqual(seen, [], "nothing gathered is written once the producer failed");
  });

  test("no parts, or only empty ones, yield no write", async () => {
    assert.deepEqual(await writes([], 8), []);
    assert.deepEqual(await writes([new Uint8Array(0)], 8), []);
  });
});
