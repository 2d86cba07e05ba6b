/**
 * A running remote host that falls silent (its metrics reports are the heartbeat) fails the
 * attempt after `runtime.heartbeatTimeoutMs` of the (virtual) clock; the host is abandoned
 * and the restart deploys it anew.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../../actors/memory_transport.ts";
import type { SubtaskAddress } from "../../../actors/transport.ts";
import { MemoryStorage, type WeirError } from "../../../mod.ts";
import type { ControlHandlers, RemoteHost, TaskExecutorGateway } from "../../../runtime/remote/gateway.ts";
import { LoopbackHost } from "../../../runtime/remote/loopback.ts";
import { assertExactlyOnce, countingJob } from "../../helpers.ts";
import { VirtualWorld } from "../../virtual_world.ts";

/** A host whose messages stop reaching the master once `silent` is set, until the master abandons it. */
class FallsSilentHost implements RemoteHost {
  readonly hostId: string;
  readonly inner: LoopbackHost;
  silent = false;
  abandoned = 0;
  constructor(inner: LoopbackHost) {
    this.hostId = inner.hostId;
    this.inner = inner;
  }
  connect(handlers: ControlHandlers): TaskExecutorGateway {
    return this.inner.connect({ deliver: (m) => void (this.silent || handlers.deliver(m)), failed: (e) => handlers.failed(e) });
  }
  abandon(): void {
    this.abandoned++;
    this.silent = false;
    this.inner.abandon();
  }
}

test("a host that falls silent fails the attempt after the heartbeat timeout; the restart deploys it anew: exactly-once", async () => {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const transport = new MemoryTransport();
  const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 50 }, batchSize: 64, channelCapacity: 2, ratePerSecond: 5_000 });
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const host = new FallsSilentHost(new LoopbackHost({ hostId: "keyed", graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler }));
  const hostOf = (s: SubtaskAddress) => (s.vertexId === keyed ? "keyed" : "master");
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf, remoteHosts: { keyed: host }, metricsIntervalMs: 100, heartbeatTimeoutMs: 1_000 });
  let job: Awaited<ReturnType<typeof env.execute>> | undefined;
  env.execute().then((j) => (job = j));
  await world.drive(() => job !== undefined && job.checkpointStats().counts.completed >= 1);
  host.silent = true;
  const result = await world.untilDone(job!);
  assert.equal(result.status, "finished", String(result.error));
  assert.equal(result.restarts, 1);
  assert.equal(host.abandoned, 1);
  assert.equal(host.inner.stats.incarnations, 2, "the restart started the abandoned host again");
  const cause = job!.lastError as WeirError;
  assert.equal(cause.code, "host_failed");
  assert.match(cause.message, /Remote host keyed sent nothing for \d+ ms \(runtime.heartbeatTimeoutMs 1000\)/);
  assertExactlyOnce(sink.committed, n);
});

test("two hosts silent at once are both abandoned and both deployed anew: one restart, exactly-once", async () => {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const transport = new MemoryTransport();
  const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 50 }, batchSize: 64, channelCapacity: 2, ratePerSecond: 5_000 });
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const hostOn = (hostId: string) => new FallsSilentHost(new LoopbackHost({ hostId, graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler }));
  const hosts = { source: hostOn("source"), keyed: hostOn("keyed") };
  const hostOf = (s: SubtaskAddress) => (s.vertexId === keyed ? "keyed" : "source");
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf, remoteHosts: hosts, metricsIntervalMs: 100, heartbeatTimeoutMs: 1_000 });
  let job: Awaited<ReturnType<typeof env.execute>> | undefined;
  env.execute().then((j) => (job = j));
  await world.drive(() => job !== undefined && job.checkpointStats().counts.completed >= 1);
  hosts.source.silent = hosts.keyed.silent = true;
  const result = await world.untilDone(job!);
  assert.equal(result.status, "finished", String(result.error));
  assert.equal(result.restarts, 1, "a host left running would have held up the next deploy");
  for (const h of Object.values(hosts)) {
    assert.equal(h.abandoned, 1, h.hostId);
    assert.equal(h.inner.stats.incarnations, 2, h.hostId);
  }
  assert.match((job!.lastError as WeirError).message, /Remote hosts (source|keyed) sent nothing for \d+ ms, (keyed|source) sent nothing/);
  assertExactlyOnce(sink.committed, n);
});

test("runtime.heartbeatTimeoutMs must be longer than the metrics interval", async () => {
  const { env } = countingJob({});
  (env.options as { runtime?: unknown }).runtime = { metricsIntervalMs: 500, heartbeatTimeoutMs: 500 };
  await assert.rejects(() => env.execute(), (e: WeirError) => e.code === "invalid_option" && /heartbeatTimeoutMs/.test(e.message));
});
