/**
 * Issue 8, fault 2: a retained unaligned checkpoint that holds in-flight records
 * (persisted_data > 0) restores at another parallelism (Flink 1.13) and the output stays
 * exactly-once: records of a hash edge go to the subtask that now owns their key group,
 * those of a rebalance edge are dealt over the new subtasks, and both the receivers'
 * queued input and the senders' output buffers are replayed before any new data.
 * Virtual time throughout: queues fill because the keyed operator and the relay wait
 * virtual milliseconds per record.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { StorageAdapter } from "../../mod.ts";
import { type ChannelTopology, checkChannelState, routeChannelState } from "../../checkpoint/channel_state_restore.ts";
import type { SubtaskStateFile } from "../../checkpoint/pending_snapshot.ts";
import { decodeRecords, encodeRecords } from "../../codec/cbor.ts";
import type { WeirError } from "../../errors.ts";
import { keyGroupOf, subtaskForKeyGroup } from "../../state/key_group.ts";
import { loadCheckpoint } from "../../checkpoint/restore.ts";
import { assertExactlyOnce, type Pair } from "../helpers.ts";
import { VirtualWorld } from "../virtual_world.ts";

const N = 3_000;
const JOB = "rescale-unaligned";

/**
 * numbers (2 subtasks) → [n % 7, 1] → keyBy → slow rolling count (p) → rebalance →
 * slow relay (p) → sink, so that the hash edge and the rebalance edge both carry
 * in-flight records at a checkpoint.
 */
function job(
  world: VirtualWorld,
  o: { p: number; storage: StorageAdapter; sink: CollectSink<Pair>; restoreFrom?: string; consumed?: number[] },
) {
  const env = new StreamEnvironment({
    jobName: JOB,
    parallelism: 2,
    storage: o.storage,
    batchSize: 16,
    channelCapacity: 4,
    checkpoint: { unaligned: true, retained: 5 },
    restart: { strategy: "none" },
    restoreFrom: o.restoreFrom === undefined ? undefined : { storage: o.storage, path: o.restoreFrom },
    runtime: world.runtime(),
  });
  env.fromSource(new SequenceSource(0, N), { uid: "numbers" })
    // The number travels along (third element), to see in which order records are consumed.
    .map((x): [number, number, number] => [x % 7, 1, x], { uid: "pair" })
    .keyBy((p) => p[0])
    .process<Pair>(async (p, ctx) => {
      o.consumed?.push(p[2]);
      await world.sleep(1);
      const s = ctx.valueState<number>("sum");
      const next = (s.value() ?? 0) + p[1];
      s.update(next);
      ctx.emit([p[0], next]);
    }, { uid: "sum", parallelism: o.p })
    .rebalance()
    .map(async (p) => (await world.sleep(0.5), p), { uid: "relay", parallelism: o.p })
    .sinkTo(o.sink, { uid: "out", parallelism: o.p });
  return env;
}

/** Runs the job at parallelism `from` until an unaligned checkpoint holds in-flight records, then cancels it. */
async function firstRun(world: VirtualWorld, from: number, storage: StorageAdapter, sink: CollectSink<Pair>) {
  const h = await job(world, { p: from, storage, sink }).execute();
  await world.drive(() => false, 300);
  const d = (await world.settle(h.triggerCheckpoint(), 10_000))?.value;
  assert.equal(d?.status, "COMPLETED");
  assert.equal(d!.checkpoint_type, "UNALIGNED_CHECKPOINT");
  assert.ok(d!.persisted_data > 0, "the checkpoint holds in-flight records");
  const byTask = Object.values(d!.tasks);
  assert.ok(byTask.find((t) => t.name.startsWith("Source"))!.persisted_data > 0, "output buffers of the sources were persisted");
  assert.ok(byTask.find((t) => t.name.startsWith("sum"))!.persisted_data > 0, "queued input of the keyed operator was persisted");
  await world.settle(h.cancel(), 10_000);
  assert.ok(sink.committed.length < N, "the first run stopped mid-way");
  return `${JOB}/${h.id}/chk-${d!.id}`;
}

async function rescaled(from: number, to: number) {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  // One sink for both runs, as an external system: commits are idempotent by transaction.
  const sink = new CollectSink<Pair>();
  const dir = await firstRun(world, from, storage, sink);
  const loaded = await loadCheckpoint(storage, dir);
  assert.ok(loaded.files.some((f) => f.inputChannels.length > 0), "input channel state");
  assert.ok(loaded.files.some((f) => f.outputChannels.length > 0), "output channel state");

  const consumed: number[] = [];
  const h = await job(world, { p: to, storage, sink, restoreFrom: dir, consumed }).execute();
  let result: Awaited<typeof h.done> | undefined;
  h.done.then((r) => (result = r));
  await world.drive(() => result !== undefined, 120_000);
  assert.equal(result?.status, "finished", String(result?.error));
  assert.equal(h.checkpointStats().latest.restored?.id, loaded.metadata.checkpointId);
  assertExactlyOnce(sink.committed, N);

  // Each keyed subtask replays its share of the in-flight records before any new record.
  const inFlight = new Set<number>();
  for (const f of loaded.files) {
    for (const [, list] of [...f.inputChannels, ...f.outputChannels]) {
      for (const b of list) for (const r of decodeRecords(b) as number[][]) if (r.length === 3) inFlight.add(r[2]);
    }
  }
  assert.ok(inFlight.size > 0);
  for (let j = 0; j < to; j++) {
    const mine = consumed.filter((x) => subtaskForKeyGroup(keyGroupOf(x % 7, 128), to, 128) === j);
    const firstNew = mine.findIndex((x) => !inFlight.has(x));
    const replayed = mine.filter((x) => inFlight.has(x)).length;
    assert.equal(firstNew < 0 ? mine.length : firstNew, replayed, `subtask ${j} of "sum" took a new record before its last in-flight one`);
  }
}

describe("rescaling an unaligned checkpoint", () => {
  test("a checkpoint with in-flight records taken at parallelism 2 restores at 3, exactly-once", async () => {
    await rescaled(2, 3);
  });

  test("a checkpoint with in-flight records taken at parallelism 3 restores at 2, exactly-once", async () => {
    await rescaled(3, 2);
  });

  test("routeChannelState() sends each record of a hash edge to the subtask that owns its key group now, and deals rebalanced batches", () => {
    // Old: v0 (2 subtasks) -hash-> v1 (2) -rebalance-> v2 (2); new: v1 and v2 at 3.
    const file = (vertexId: string, subtaskIndex: number, o: Partial<SubtaskStateFile>): SubtaskStateFile => ({
      checkpointId: 7, vertexId, subtaskIndex, parallelism: 2, keyGroupRange: { start: 0, end: 0 }, operators: {},
      inputChannels: [], outputChannels: [], ...o,
    });
    const keys = Array.from({ length: 40 }, (_, i) => i);
    const loaded = {
      metadata: { checkpointId: 7, vertices: [{ id: "v0", parallelism: 2 }, { id: "v1", parallelism: 2 }, { id: "v2", parallelism: 2 }] },
      files: [
        // v1/0 had keys queued from v0/1 (input 1); v0/0 still buffered keys for v1/1 (gate 0, channel 1).
        file("v1", 0, { inputChannels: [[1, [encodeRecords(keys.slice(0, 20))]]], channelPeers: { inputs: [[1, "v0", 1]], outputs: [] } }),
        file("v0", 0, { outputChannels: [["0:1", [encodeRecords(keys.slice(20))]]], channelPeers: { inputs: [], outputs: [["0:1", "v1", 1]] } }),
        // v2/1 had three batches queued from v1/0.
        file("v2", 1, { inputChannels: [[0, [encodeRecords([1]), encodeRecords([2]), encodeRecords([3])]]], channelPeers: { inputs: [[0, "v1", 0]], outputs: [] } }),
      ],
    };
    const topology: ChannelTopology = {
      maxParallelism: 128,
      vertices: [
        { id: "v0", name: "src", parallelism: 2, uids: ["src"] },
        { id: "v1", name: "sum", parallelism: 3, uids: ["sum"] },
        { id: "v2", name: "relay", parallelism: 3, uids: ["relay"] },
      ],
      edges: [
        { from: "v0", to: "v1", partitioning: { kind: "hash", keySelector: (x) => x, maxParallelism: 128 }, pointwise: false },
        { from: "v1", to: "v2", partitioning: { kind: "rebalance" }, pointwise: false },
      ],
    };
    const routes = routeChannelState(loaded, topology);
    const got = new Map<string, unknown[]>();
    for (const [target, list] of routes) {
      for (const { from, sender, batches } of list) {
        const key = `${target}<-${from}/${sender}`;
        got.set(key, [...(got.get(key) ?? []), ...batches.flat()]);
      }
    }
    const hashed: number[] = [];
    for (let j = 0; j < 3; j++) {
      for (const from of ["v0/0", "v0/1"]) {
        for (const k of (got.get(`v1/${j}<-${from}`) ?? []) as number[]) {
          assert.equal(subtaskForKeyGroup(keyGroupOf(k, 128), 3, 128), j, `key ${k} went to v1/${j}`);
          hashed.push(k);
        }
      }
    }
    assert.deepEqual(hashed.sort((a, b) => a - b), keys, "every in-flight record of the hash edge arrives once");
    // The input side of an old channel replays before its output side: per sender, order is kept.
    const fromSender1 = (got.get("v1/0<-v0/1") ?? []) as number[];
    assert.deepEqual(fromSender1, [...fromSender1].sort((a, b) => a - b));
    assert.deepEqual(
      [0, 1, 2].map((j) => got.get(`v2/${j}<-v1/0`)),
      [[1], [2], [3]],
      "rebalanced batches are dealt round-robin over the new subtasks",
    );
  });

  test("in-flight records of a broadcast edge are refused at another parallelism, naming the edge", () => {
    const loaded = {
      metadata: { checkpointId: 3, vertices: [{ id: "v0", parallelism: 1 }, { id: "v1", parallelism: 2 }] },
      files: [{
        checkpointId: 3, vertexId: "v1", subtaskIndex: 0, parallelism: 2, keyGroupRange: { start: 0, end: 63 }, operators: {},
        inputChannels: [[0, [encodeRecords([1])]]] as [number, Uint8Array[]][], outputChannels: [],
        channelPeers: { inputs: [[0, "v0", 0]] as [number, string, number][], outputs: [] },
      }],
    };
    const topology: ChannelTopology = {
      maxParallelism: 128,
      vertices: [{ id: "v0", name: "src", parallelism: 1, uids: ["src"] }, { id: "v1", name: "b", parallelism: 3, uids: ["b"] }],
      edges: [{ from: "v0", to: "v1", partitioning: { kind: "broadcast" }, pointwise: false }],
    };
    assert.throws(() => checkChannelState(loaded, topology), (e: WeirError) => e.code === "incompatible_restore" && /broadcast edge v0 -> v1/.test(e.message));
    assert.doesNotThrow(() => checkChannelState(loaded, { ...topology, vertices: [topology.vertices[0], { ...topology.vertices[1], parallelism: 2 }] }));
  });
});
