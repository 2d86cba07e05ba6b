import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameReader } from "../../platforms/sqlite_writer_frames.ts";
import { SimPrng } from "../../sim/prng.ts";

/** A frame as the writer's pipe carries it: head (body length, seq) and body. */
function frame(seq: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  const head = new DataView(out.buffer);
  head.setUint32(0, body.length);
  head.setUint32(4, seq);
  out.set(body, 8);
  return out;
}

test("FrameReader hands out every frame whole and in order, however the stream cuts it: empty, small and 1 MiB bodies", () => {
  const prng = new SimPrng("frames");
  const bodies = Array.from({ length: 300 }, (_, i) => {
    const n = i % 50 === 0 ? 0 : i % 97 === 0 ? 1 << 20 : prng.int(3000);
    return Uint8Array.from({ length: n }, (_, j) => (i * 31 + j) & 255);
  });
  const stream = new Uint8Array(bodies.reduce((n, b) => n + 8 + b.length, 0));
  let at = 0;
  bodies.forEach((b, i) => {
    stream.set(frame(i + 1, b), at);
    at += 8 + b.length;
  });
  const got: { seq: number; body: number[] }[] = [];
  // The body is a view valid during the call only: copied here, as the writer uses it at once.
  const reader = new FrameReader((length, seq, body) => {
    assert.equal(body.length, length);
    got.push({ seq, body: [...body] });
  }, (length) => length);
  for (let from = 0; from < stream.length;) {
    // Chunks of 1 byte to 200 KiB, as a pipe may give them.
    const n = 1 + prng.int(prng.int(4) === 0 ? 8 : 200 * 1024);
    reader.push(stream.subarray(from, from + n));
    from += n;
  }
  assert.equal(got.length, bodies.length);
  got.forEach((f, i) => {
    assert.equal(f.seq, i + 1);
    assert.deepEqual(f.body, [...bodies[i]], `frame ${i + 1}`);
  });
});
