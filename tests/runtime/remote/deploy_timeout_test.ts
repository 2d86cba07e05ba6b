/**
 * A remote host that never answers its deploy fails the attempt with `deploy_timeout` after
 * `runtime.deployTimeoutMs` of the (virtual) clock; the restart strategy restarts the job
 * and the abandoned host is started anew.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../../actors/memory_transport.ts";
import type { SubtaskAddress } from "../../../actors/transport.ts";
import { MemoryStorage, type StorageAdapter, type WeirError } from "../../../mod.ts";
import type { ControlHandlers, RemoteHost, TaskExecutorGateway } from "../../../runtime/remote/gateway.ts";
import { LoopbackHost } from "../../../runtime/remote/loopback.ts";
import { FailOnce, assertExactlyOnce, countingJob } from "../../helpers.ts";
import { VirtualWorld } from "../../virtual_world.ts";

/** A host whose first incarnation is dead: it swallows every message until the master abandons it. */
class DeadOnceHost implements RemoteHost {
  readonly hostId: string;
  readonly inner: LoopbackHost;
  dead = true;
  abandoned = 0;
  constructor(inner: LoopbackHost) {
    this.hostId = inner.hostId;
    this.inner = inner;
  }
  connect(handlers: ControlHandlers): TaskExecutorGateway {
    if (this.dead) return { send() {}, close() {} };
    return this.inner.connect(handlers);
  }
  abandon(): void {
    this.abandoned++;
    this.dead = false;
    this.inner.abandon();
  }
}

function setup(restart: { strategy: "fixed-delay"; attempts: number; delay: number } | { strategy: "none" }) {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const transport = new MemoryTransport();
  const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 20 }, batchSize: 64, channelCapacity: 2 });
  (env.options as { restart?: unknown }).restart = restart;
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const inner = new LoopbackHost({ hostId: "keyed", graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler });
  const host = new DeadOnceHost(inner);
  const hostOf = (s: SubtaskAddress) => (s.vertexId === keyed ? "keyed" : "master");
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf, remoteHosts: { keyed: host }, deployTimeoutMs: 5_000 });
  return { world, env, sink, n, host };
}

async function run(world: VirtualWorld, env: ReturnType<typeof setup>["env"]) {
  let job: Awaited<ReturnType<typeof env.execute>> | undefined;
  let error: unknown;
  env.execute().then((j) => (job = j), (e) => (error = e));
  await world.drive(() => job !== undefined || error !== undefined);
  if (error !== undefined) throw error;
  return job!;
}

test("a host that never answers the deploy fails the attempt with deploy_timeout; the restart deploys it anew: exactly-once", async () => {
  const { world, env, sink, n, host } = setup({ strategy: "fixed-delay", attempts: 3, delay: 10 });
  const job = await run(world, env);
  const result = await world.untilDone(job);
  assert.equal(result.status, "finished", String(result.error));
  assert.equal(result.restarts, 1);
  assert.equal(host.abandoned, 1, "the silent host was abandoned once");
  assert.equal(host.inner.stats.incarnations, 1, "the second attempt started the host");
  const cause = job.lastError as WeirError;
  assert.equal(cause.code, "deploy_timeout");
  assert.match(cause.message, /keyed did not answer the deploy of attempt 0 and sent nothing for 5000 ms/);
  assertExactlyOnce(sink.committed, n);
});

test("without restarts, a deploy that times out fails the job with deploy_timeout", async () => {
  const { world, env, host } = setup({ strategy: "none" });
  const job = await run(world, env);
  const result = await world.untilDone(job);
  assert.equal(result.status, "failed");
  assert.equal((result.error as WeirError).code, "deploy_timeout");
  assert.equal(host.abandoned, 1);
});

test("runtime.deployTimeoutMs must be a positive number", async () => {
  const { env } = setup({ strategy: "none" });
  (env.options.runtime as { deployTimeoutMs?: unknown }).deployTimeoutMs = 0;
  await assert.rejects(() => env.execute(), (e: WeirError) => e.code === "invalid_option" && /deployTimeoutMs/.test(e.message));
});

/** The job's storage as a host sees it: each read takes `delayMs` of virtual time while `slow()`. */
class SlowReads implements StorageAdapter {
  readonly description = "slow-reads";
  slowReads = 0;
  constructor(readonly inner: MemoryStorage, readonly slow: () => boolean, readonly sleep: (ms: number) => Promise<void>, readonly delayMs: number) {}
  async get(key: string): Promise<Uint8Array | undefined> {
    if (this.slow()) {
      this.slowReads++;
      await this.sleep(this.delayMs);
    }
    return this.inner.get(key);
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.inner.put(key, bytes);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }
  deletePrefix(prefix: string): Promise<void> {
    return this.inner.deletePrefix(prefix);
  }
}

test("a host whose restore takes over three deploy timeouts keeps reporting and is waited for: no deploy_timeout, exactly-once", async () => {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const transport = new MemoryTransport();
  let job: Awaited<ReturnType<typeof env.execute>> | undefined;
  const fail = new FailOnce(() => job !== undefined && job.checkpointStats().counts.completed >= 1);
  const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 20 }, batchSize: 64, channelCapacity: 2, failInReduce: fail, ratePerSecond: 10_000 });
  (env.options as { restart?: unknown }).restart = { strategy: "fixed-delay", attempts: 3, delay: 10 };
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  // Once the failure happened, every read of the host's restore takes 16 s: over three 5 s timeouts.
  const hostStorage = new SlowReads(storage, () => fail.fired, (ms) => world.sleep(ms), 16_000);
  const host = new LoopbackHost({ hostId: "keyed", graph: () => env.jobGraph(), storage: hostStorage, transport, clock: world.clock, scheduler: world.scheduler });
  const hostOf = (s: SubtaskAddress) => (s.vertexId === keyed ? "keyed" : "master");
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf, remoteHosts: { keyed: host }, deployTimeoutMs: 5_000, metricsIntervalMs: 1_000 });
  let error: unknown;
  env.execute().then((j) => (job = j), (e) => (error = e));
  await world.drive(() => job !== undefined || error !== undefined);
  if (error !== undefined) throw error;
  const result = await world.untilDone(job!);
  assert.equal(result.status, "finished", String(result.error));
  assert.equal(result.restarts, 1, String(job!.lastError));
  assert.ok(fail.fired);
  assert.ok(hostStorage.slowReads > 0, "the restore read through the slow storage");
  assertExactlyOnce(sink.committed, n);
});
