/**
 * A deploy carries where the restored checkpoint is, not its state: the host reads its own
 * subtasks' files itself, so the message stays small however large the state (a Durable
 * Object RPC carries at most 32 MiB).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../../actors/memory_transport.ts";
import type { SubtaskAddress } from "../../../actors/transport.ts";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../../mod.ts";
import { LoopbackHost } from "../../../runtime/remote/loopback.ts";
import { assertExactlyOnce, type Pair } from "../../helpers.ts";
import { memoryDirectories, VirtualWorld } from "../../virtual_world.ts";

/** Bytes of padding kept in keyed state per key (7 keys). */
const PAD_BYTES = 1_200_000;

test("a deploy restoring many MB of keyed state stays under 64 KiB; the restore is exactly-once; the host writes its savepoint files itself", async () => {
  const dirs = memoryDirectories();
  try {
    await bigStateJob(dirs.storage);
  } finally {
    dirs.restore();
  }
});

/** The job's storage, counting reads of the keyed stage's state files (the master reads none of them). */
class CountingStorage extends MemoryStorage {
  readonly reads: string[] = [];
  stateFile: RegExp | undefined;
  override get(key: string): Promise<Uint8Array | undefined> {
    if (this.stateFile?.test(key)) this.reads.push(key);
    return super.get(key);
  }
}

async function bigStateJob(directories: MemoryStorage) {
  const world = new VirtualWorld();
  const storage = new CountingStorage();
  const transport = new MemoryTransport();
  const n = 6_000;
  // Armed by the test once a checkpoint with the full state completed: the failure then
  // happens on the remote host, and the restart restores that state there.
  const failure = { armed: false, fired: false };
  const sink = new CollectSink<Pair>();
  const env = new StreamEnvironment({
    jobName: "big-state", parallelism: 2, storage, checkpoint: { interval: 100 }, batchSize: 64, channelCapacity: 2,
    restart: { strategy: "fixed-delay", attempts: 3, delay: 5 },
  });
  env.fromSource(new SequenceSource(0, n, { ratePerSecond: 3_000 }), { uid: "numbers" })
    .map((x): Pair => [x % 7, 1], { uid: "pair" })
    .keyBy((p) => p[0])
    .process<Pair>((p, ctx) => {
      const pad = ctx.valueState<string>("pad");
      if (pad.value() === undefined) pad.update(String(p[0]).repeat(PAD_BYTES));
      const sum = ctx.valueState<number>("sum");
      const next = (sum.value() ?? 0) + p[1];
      if (failure.armed && !failure.fired) {
        failure.fired = true;
        throw new Error("injected failure on the remote host");
      }
      sum.update(next);
      ctx.emit([p[0], next]);
    }, { uid: "sum", parallelism: 3 })
    .sinkTo(sink, { uid: "out", parallelism: 3 });
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  storage.stateFile = new RegExp(`/chk-\\d+/${keyed}-\\d+$`);
  const host = new LoopbackHost({ hostId: "keyed", graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler });
  const hostOf = (s: SubtaskAddress) => (s.vertexId === keyed ? "keyed" : "master");
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf, remoteHosts: { keyed: host } });

  let job: Awaited<ReturnType<StreamEnvironment["execute"]>> | undefined;
  void env.execute().then((j) => (job = j));
  await world.drive(() => job !== undefined);
  const stateSize = () => job!.checkpointStats().latest.completed?.state_size ?? 0;
  await world.drive(() => stateSize() > 7 * PAD_BYTES);
  failure.armed = true;
  // Restarted and running again (the failure reached the master and the hosts redeployed).
  await world.drive(() => job!.checkpointStats().latest.restored !== null && job!.status === "RUNNING");
  let savepoint: string | undefined;
  void job!.triggerSavepoint("sp-big").then((d) => (savepoint = d.external_path ?? `${d.status}: ${d.failure_message}`), (e) => (savepoint = String(e)));
  await world.drive(() => savepoint !== undefined);
  const result = await world.untilDone(job!);

  assert.equal(result.status, "finished", String(result.error));
  assert.ok(failure.fired, "the failure happened on the remote host");
  assert.ok(result.restarts >= 1);
  const restored = job!.checkpointStats().latest.restored;
  assert.ok(restored, "the restart restored a checkpoint");
  assert.ok(stateSize() > 7 * PAD_BYTES, `the checkpoints hold the padding (${stateSize()} bytes)`);
  assert.equal(host.stats.incarnations, 1);
  assert.equal(storage.reads.length, 3, `the host alone read the 3 keyed state files: ${storage.reads.join(", ")}`);
  assert.ok(host.stats.largestToHost < 64 * 1024, `the largest message to the host was ${host.stats.largestToHost} bytes`);
  // The savepoint's keyed files (MBs) went from the host straight into the directory.
  assert.match(savepoint!, /^mem:sp-big\/savepoint-/);
  const spDir = savepoint!.slice("mem:sp-big/".length);
  const spFiles = await directories.list(`${spDir}/`);
  assert.ok(spFiles.includes(`${spDir}/_metadata`) && spFiles.filter((k) => k.startsWith(`${spDir}/${keyed}-`)).length === 3, spFiles.join());
  assert.ok(host.stats.largestToMaster < 64 * 1024, `the largest message to the master was ${host.stats.largestToMaster} bytes`);
  assertExactlyOnce(sink.committed, n);
}
