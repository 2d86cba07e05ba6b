/** KeyedStateCapture of a heap snapshot: the file's parts and what they decode to. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decode } from "../../../codec/cbor.ts";
import { KeyedStateCapture } from "../../../dataflow/operators/keyed_capture.ts";
import { HeapKeyedStateBackend } from "../../../state/heap_backend.ts";
import { readOperatorSnapshot } from "../../../checkpoint/operator_snapshot_read.ts";
import { MemoryStorage } from "../../../storage/memory.ts";

describe("KeyedStateCapture", () => {
  test("a heap snapshot's encoded chunks go on as they are: no part of 4 KiB or more is a copy", () => {
    const b = new HeapKeyedStateBackend({ maxParallelism: 4, range: { start: 0, end: 3 } });
    const count = b.reducingState<number>("n", (a, v) => a + v);
    for (let k = 0; k < 20_000; k++) count.addFor(`key-${k}`, k);
    const c = new KeyedStateCapture(b.snapshot(1), "the state of operator \"t\"");
    while (!c.step(1000));
    const parts = c.parts();
    const large = parts.filter((p) => p.length >= 4096);
    assert.ok(large.length >= 8, `${large.length} parts of 4 KiB or more`);
    // A writer's chunk is a view of a larger buffer (cut where the next entry did not fit);
    // a joined run is a buffer of its own size.
    for (const p of large) assert.ok(p.buffer.byteLength > p.length, `a part of ${p.length} bytes is a buffer of its own`);
    const state = decode<{ keyed: { n: { groups: [number, [string, number][]][] } } }>(c.bytes());
    const entries = state.keyed.n.groups.flatMap((g) => g[1]);
    assert.equal(entries.length, 20_000);
    assert.equal(new Map(entries).get("key-1234"), 1234);
    c.release();
  });

  test("an incremental snapshot's handle is stored with its files relative to the directory they share, and reads back whole", async () => {
    const storage = new MemoryStorage();
    const b = new HeapKeyedStateBackend({ maxParallelism: 4, range: { start: 0, end: 3 }, incremental: true, storage });
    const count = b.reducingState<number>("n", (a, v) => a + v);
    // Enough keys that a changelog of one key stays far below half the base (else a base comes).
    for (let k = 0; k < 1000; k++) count.addFor(`key-${k}`, 0);
    let handle;
    for (let id = 1; id <= 3; id++) {
      count.addFor(`key-${id}`, id);
      const c = new KeyedStateCapture(b.snapshot(id), "the state of operator \"t\"");
      while (!(await c.step(1000)));
      const raw = decode<{ keyedHandle: { sharedDir: string; shared: [string, number, string][] } }>(c.bytes());
      assert.equal(raw.keyedHandle.shared.length, id, "the chain: a base, then a changelog each");
      assert.ok(raw.keyedHandle.shared.every((r) => !r[0].includes("/")), JSON.stringify(raw.keyedHandle));
      handle = readOperatorSnapshot(c.bytes(), "doc").keyedHandle!;
      assert.deepEqual(handle.shared.map((r) => r.key), raw.keyedHandle.shared.map((r) => raw.keyedHandle.sharedDir + r[0]));
      c.release();
    }
    const restored = new HeapKeyedStateBackend({ maxParallelism: 4, range: { start: 0, end: 3 }, incremental: true, storage: new MemoryStorage() });
    await restored.restore([{ ...handle!, storage }]);
    const back = restored.reducingState<number>("n", (a, v) => a + v);
    assert.deepEqual([1, 2, 3].map((k) => back.addFor(`key-${k}`, 0)), [1, 2, 3]);
  });
});
