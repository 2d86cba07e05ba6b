import { test } from "node:test";
import assert from "node:assert/strict";
import type { Barrier } from "../../actors/messages.ts";
import { decode } from "../../codec/cbor.ts";
import { PendingSnapshot, type SubtaskStateFile } from "../../checkpoint/pending_snapshot.ts";
import type { StateCapture } from "../../dataflow/operator.ts";

const barrier: Barrier = { kind: "barrier", checkpointId: 3, timestamp: 0, type: "CHECKPOINT", exactlyOnce: true, unaligned: false, alignedTimeoutMs: 0 };
const meta = { vertexId: "v", subtaskIndex: 0, parallelism: 1, keyGroupRange: { start: 0, end: 127 } };

/** An operator state captured as parts, as a heap snapshot's key groups' chunks are. */
function capturedAsParts(parts: Uint8Array[]): StateCapture {
  return { step: () => true, bytes: () => assert.fail("joined"), parts: () => parts, release: () => {} };
}

test("toParts: an operator state's parts of 4 KiB and more go to storage as they are, not copied into joined buffers", () => {
  // The parts of one CBOR byte string's body: 10 chunks of 8 KiB, 16 KiB (as a key group's writer grows).
  const chunks = Array.from({ length: 10 }, (_, i) => new Uint8Array(i % 2 === 0 ? 8192 : 16384).fill(i));
  const snap = new PendingSnapshot(barrier, { op: capturedAsParts(chunks) }, false, { startDelayMs: 0, alignmentDurationMs: 0 }, 1 << 20);
  snap.captured("op");
  const file = snap.toParts(meta);
  assert.ok(Array.isArray(file));
  for (const c of chunks) assert.ok(file.includes(c), "a chunk was copied into a joined buffer");
  let size = 0;
  for (const p of file) size += p.length;
  const whole = new Uint8Array(size);
  let at = 0;
  for (const p of file) {
    whole.set(p, at);
    at += p.length;
  }
  const decoded = decode<SubtaskStateFile>(whole);
  assert.equal(decoded.checkpointId, 3);
  assert.equal(decoded.operators.op.length, 5 * 8192 + 5 * 16384);
  assert.deepEqual([...decoded.operators.op.subarray(8192, 8192 + 16384)], new Array(16384).fill(1));
});

test("toParts: small parts (heads, a small operator state) are joined, so storage does not get one write per head", () => {
  const small = Uint8Array.of(1, 2, 3);
  const snap = new PendingSnapshot(barrier, { a: small, b: Uint8Array.of(4) }, false, { startDelayMs: 0, alignmentDurationMs: 0 }, 1 << 20);
  const file = snap.toParts(meta);
  assert.ok(Array.isArray(file));
  assert.equal(file.length, 1);
  assert.deepEqual([...decode<SubtaskStateFile>(file[0]).operators.a], [1, 2, 3]);
});
