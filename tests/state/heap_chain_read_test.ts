/** A damaged shared file of an incremental heap checkpoint is named with what is wrong with it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../storage/memory.ts";
import { WeirError } from "../../errors.ts";
import type { IncrementalKeyedState, KeyedStateHandle, KeyedStateSnapshot } from "../../state/backend.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { VirtualWorld } from "../virtual_world.ts";

const ALL = { start: 0, end: 15 };

function backend(storage: MemoryStorage, world: VirtualWorld): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: 16, range: ALL, incremental: true, storage, uid: "op", subtaskIndex: 0, jobId: "j", clock: world.clock });
}

async function finish(snap: KeyedStateSnapshot): Promise<KeyedStateHandle> {
  for (;;) {
    let done = snap.step(100);
    if (done instanceof Promise) done = await done;
    if (done) break;
  }
  const r = snap.result();
  snap.release();
  return r;
}

test("a shared heap file changed in place is checkpoint_corrupt naming its checksum, a cut one naming its size", async () => {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const b = backend(storage, world);
  for (let k = 0; k < 100; k++) {
    b.setCurrentKey(k);
    b.valueState<number>("n").update(k);
  }
  const h = (await finish(b.snapshot(1))) as IncrementalKeyedState;
  assert.equal(h.format, "incremental");
  const key = h.shared[0].key;
  const good = (await storage.get(key))!;

  const flipped = good.slice();
  flipped[flipped.length >> 1] ^= 0xff;
  await storage.put(key, flipped);
  await assert.rejects(async () => await backend(storage, world).restore([h]), (e) =>
    e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(key) && /checksum differs/.test(e.message) && !/expected/.test(e.message));

  await storage.put(key, good.subarray(0, good.length - 3));
  await assert.rejects(async () => await backend(storage, world).restore([h]), (e) =>
    e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(`${good.length - 3} bytes, the checkpoint wrote ${good.length}`));
});
