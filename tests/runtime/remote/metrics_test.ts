/**
 * Remote subtasks' figures reach the master: each host reports them every
 * `runtime.metricsIntervalMs` of its clock, and the job's vertices (REST metrics,
 * backpressure) show them beside the local subtasks'.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../../actors/memory_transport.ts";
import type { SubtaskAddress } from "../../../actors/transport.ts";
import { MemoryStorage } from "../../../mod.ts";
import { RateMeter, subtaskMetricValues } from "../../../http/vertex_metrics.ts";
import type { ControlHandlers, RemoteHost, TaskExecutorGateway } from "../../../runtime/remote/gateway.ts";
import { LoopbackHost } from "../../../runtime/remote/loopback.ts";
import { assertExactlyOnce, countingJob } from "../../helpers.ts";
import { VirtualWorld } from "../../virtual_world.ts";

/** A loopback host that counts the metrics messages it sends. */
class CountingHost implements RemoteHost {
  readonly hostId: string;
  readonly inner: LoopbackHost;
  reports = 0;
  constructor(inner: LoopbackHost) {
    this.hostId = inner.hostId;
    this.inner = inner;
  }
  connect(handlers: ControlHandlers): TaskExecutorGateway {
    return this.inner.connect({
      deliver: (m) => (m.kind === "metrics" && this.reports++, handlers.deliver(m)),
      failed: (e) => handlers.failed(e),
    });
  }
}

test("a remote subtask's records in and out show in the job's vertices, reported at a bounded rate", async () => {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const transport = new MemoryTransport();
  const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 50 }, batchSize: 64, channelCapacity: 2, ratePerSecond: 10_000 });
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const host = new CountingHost(new LoopbackHost({ hostId: "keyed", graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler }));
  const hostOf = (s: SubtaskAddress) => (s.vertexId === keyed ? "keyed" : "master");
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf, remoteHosts: { keyed: host }, metricsIntervalMs: 100 });
  let job: Awaited<ReturnType<typeof env.execute>> | undefined;
  env.execute().then((j) => (job = j));
  await world.drive(() => job !== undefined);
  const started = world.clock.now();
  const keyedVertex = () => job!.vertices().find((v) => v.id === keyed)!;
  assert.deepEqual(keyedVertex().subtasks.map((s) => s.index), [0, 1, 2], "the remote subtasks are listed from the start");

  await world.drive(() => keyedVertex().subtasks.every((s) => s.recordsIn > 0));
  const figures = keyedVertex().subtasks;
  const read = job!.vertices().find((v) => v.uids.includes("numbers"))!.subtasks.reduce((x, s) => x + s.recordsOut, 0);
  const keyedIn = figures.reduce((x, s) => x + s.recordsIn, 0);
  assert.ok(keyedIn > 0 && keyedIn <= read, `the keyed stage took in ${keyedIn} of the ${read} records read so far`);
  assert.ok(figures.every((s) => s.recordsOut <= s.recordsIn), "a rolling sum emits at most one record per record taken in");
  const rest = subtaskMetricValues(job!.id, keyedVertex(), new RateMeter(), world.clock.now());
  assert.equal(rest.get(0)!.numRecordsIn, figures[0].recordsIn, "REST vertex metrics show the reported counts");

  const result = await world.untilDone(job!);
  assert.equal(result.status, "finished", String(result.error));
  const elapsed = world.clock.now() - started;
  // One per 100 ms, and one at each of the 3 subtasks' end of input and final commit.
  const bound = Math.floor(elapsed / 100) + 1 + 2 * 3;
  assert.ok(host.reports >= 1 && host.reports <= bound, `${host.reports} reports in ${elapsed} ms: at most ${bound}`);
  assertExactlyOnce(sink.committed, n);
});

test("runtime.metricsIntervalMs must be a positive number", async () => {
  const { env } = countingJob({});
  (env.options as { runtime?: unknown }).runtime = { metricsIntervalMs: -1 };
  await assert.rejects(() => env.execute(), (e: Error & { code?: string }) => e.code === "invalid_option" && /metricsIntervalMs/.test(e.message));
});
