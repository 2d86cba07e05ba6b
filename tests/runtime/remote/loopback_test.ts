/**
 * The control plane to remote hosts, proven in one process on virtual time: the keyed
 * stage of the foundation's exactly-once job runs on a LoopbackHost (a TaskExecutor that
 * hears the master only through encoded messages), channels cross the transport.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../../actors/memory_transport.ts";
import type { SubtaskAddress } from "../../../actors/transport.ts";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../../mod.ts";
import type { StreamEnvironment as Env } from "../../../mod.ts";
import { LoopbackHost } from "../../../runtime/remote/loopback.ts";
import { assertExactlyOnce, countingJob, FailOnce, type Pair } from "../../helpers.ts";
import { memoryDirectories, VirtualWorld } from "../../virtual_world.ts";

/** The keyed stage (the vertex holding "sum") on host "keyed", everything else in the master's process. */
function keyedRemote(env: Env, world: VirtualWorld, storage: MemoryStorage, transport: MemoryTransport, restoreStorage?: MemoryStorage) {
  const keyedVertex = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const host = new LoopbackHost({ hostId: "keyed", graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler, restoreStorage });
  const placed = new Map<string, string>();
  const hostOf = (s: SubtaskAddress) => {
    const h = s.vertexId === keyedVertex ? "keyed" : "master";
    placed.set(`${s.vertexId}/${s.subtaskIndex}`, h);
    return h;
  };
  return { host, hostOf, placed, keyedVertex };
}

/** execute() resolves once every host deployed, which takes turns of the virtual scheduler. */
async function executeOn(world: VirtualWorld, env: Env) {
  let job: Awaited<ReturnType<Env["execute"]>> | undefined;
  let error: unknown;
  env.execute().then((j) => (job = j), (e) => (error = e));
  await world.drive(() => job !== undefined || error !== undefined);
  if (error !== undefined) throw error;
  assert.ok(job, "execute() resolved");
  return job;
}

describe("remote hosts over a loopback connection", () => {
  for (const unaligned of [false, true]) {
    test(`the keyed stage on a remote host, a failure there: exactly-once (${unaligned ? "unaligned" : "aligned"})`, async () => {
      const world = new VirtualWorld();
      const storage = new MemoryStorage();
      const transport = new MemoryTransport();
      const failInReduce = new FailOnce((c) => c === 1_000);
      const { env, sink, n } = countingJob({ storage, failInReduce, checkpoint: { interval: 20, unaligned }, batchSize: 64, channelCapacity: 2 });
      const r = keyedRemote(env, world, storage, transport);
      // The runtime options are read at execute(); the environment was built by countingJob.
      (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf: r.hostOf, remoteHosts: { keyed: r.host } });
      const job = await executeOn(world, env);
      let seenRemote = 0;
      await world.drive(() => (seenRemote = r.host.executor?.subtaskCount ?? 0) > 0);
      const result = await world.untilDone(job);
      assert.equal(result.status, "finished", String(result.error));
      assert.ok(failInReduce.fired, "the failure was injected on the remote host");
      assert.ok(result.restarts >= 1, "the failure restarted the job");
      assert.equal(seenRemote, 3, "the 3 keyed subtasks ran on the remote host");
      assert.ok(job.checkpointStats().counts.completed > 0);
      assert.ok(r.host.stats.toHost > 0 && r.host.stats.toMaster > 0, "control messages crossed both ways");
      assert.equal(transport.openChannels, 0, "every attempt closed its channels");
      assertExactlyOnce(sink.committed, n);
    });
  }

  test("a remote host that dies fails the attempt; the restart deploys a new incarnation from the latest checkpoint", async () => {
    const world = new VirtualWorld();
    const storage = new MemoryStorage();
    const transport = new MemoryTransport();
    const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 20 }, batchSize: 64, channelCapacity: 2, ratePerSecond: 20_000 });
    const r = keyedRemote(env, world, storage, transport);
    (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf: r.hostOf, remoteHosts: { keyed: r.host } });
    const job = await executeOn(world, env);
    await world.drive(() => job.checkpointStats().counts.completed >= 2);
    r.host.crash();
    const result = await world.untilDone(job);
    assert.equal(result.status, "finished", String(result.error));
    assert.equal(result.restarts, 1);
    assert.equal(r.host.stats.incarnations, 2, "the dead host was started again");
    assert.ok(job.checkpointStats().latest.restored, "the restart restored a checkpoint");
    assertExactlyOnce(sink.committed, n);
  });

  test("a savepoint of a job with a remote keyed stage restores at another parallelism, the keyed stage remote again", async () => {
    const dirs = memoryDirectories();
    try {
      const n = 6_000;
      const run = (keyedParallelism: number, restoreFrom?: { storage: MemoryStorage; path: string }) => {
        const world = new VirtualWorld();
        const storage = new MemoryStorage();
        const transport = new MemoryTransport();
        const sink = new CollectSink<Pair>();
        const env = new StreamEnvironment({ jobName: "rescale", parallelism: 2, storage, restoreFrom, checkpoint: { interval: 20 }, batchSize: 32, channelCapacity: 2 });
        env.fromSource(new SequenceSource(0, n, { ratePerSecond: 10_000 }), { uid: "numbers" })
          .map((x): Pair => [x % 7, 1], { uid: "pair" })
          .keyBy((p) => p[0])
          .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "sum", parallelism: keyedParallelism })
          .sinkTo(sink, { uid: "out", parallelism: keyedParallelism });
        // The host reads its part of the savepoint itself, from the storage restoreFrom names.
        const r = keyedRemote(env, world, storage, transport, restoreFrom?.storage);
        // Another job id per run: a run restoring a stop-with-savepoint of its own id would commit it again.
        const jobId = `${keyedParallelism}`.repeat(32);
        (env.options as { runtime?: unknown }).runtime = world.runtime({ jobId, transport, hostOf: r.hostOf, remoteHosts: { keyed: r.host } });
        return { env, sink, world, r };
      };
      const first = run(3);
      const job1 = await executeOn(first.world, first.env);
      await first.world.drive(() => first.sink.committed.length > 500);
      let location: string | undefined;
      job1.stop({ savepoint: "sp-remote" }).then((l) => (location = l));
      await first.world.drive(() => location !== undefined);
      const r1 = await first.world.untilDone(job1);
      assert.equal(r1.status, "stopped", String(r1.error));
      assert.ok(first.sink.committed.length < n, "the first run stopped before the end");

      // The savepoint directory lives in the in-memory storage behind "mem:sp-remote".
      const second = run(2, { storage: dirs.storage, path: location!.replace(/^mem:sp-remote\//, "") });
      const job2 = await executeOn(second.world, second.env);
      const r2 = await second.world.untilDone(job2);
      assert.equal(r2.status, "finished", String(r2.error));
      assert.equal([...second.r.placed.values()].filter((h) => h === "keyed").length, 2, "2 keyed subtasks on the remote host");
      assertExactlyOnce([...first.sink.committed, ...second.sink.committed], n);
    } finally {
      dirs.restore();
    }
  });
});
