import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectRedis } from "../../connectors/clients/redis.ts";
import { CollectSink, MemoryStorage, RedisStreamSource, type RedisStreamEntry, StreamEnvironment, type WeirError } from "../../mod.ts";
import { sleep } from "../helpers.ts";
import { runSourceConformance } from "./source_conformance.ts";
import { REDIS_URL, uniqueName } from "./servers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

async function fill(stream: string, from: number, to: number): Promise<void> {
  const redis = await connectRedis(REDIS_URL);
  try {
    for (let i = from; i < to; i += 500) {
      const p = redis.pipeline();
      for (let j = i; j < Math.min(to, i + 500); j++) p.xadd(stream, "*", "id", String(j));
      await p.exec();
    }
  } finally {
    redis.disconnect();
  }
}

async function drop(stream: string): Promise<void> {
  const redis = await connectRedis(REDIS_URL);
  await redis.del(stream);
  redis.disconnect();
}

runSourceConformance<RedisStreamEntry>("RedisStreamSource", {
  async setup(n) {
    const stream = uniqueName("weir-src");
    await fill(stream, 0, n);
    return {
      source: () => new RedisStreamSource({ url: REDIS_URL, stream, bounded: true, batchSize: 64 }),
      id: (e: RedisStreamEntry) => Number(e.fields.id),
      bounded: true,
      child: { kind: "redis", config: { url: REDIS_URL, stream, batchSize: 64 } },
      cleanup: () => drop(stream),
    };
  },
});

describe("RedisStreamSource", () => {
  test("bounded ends at the last entry of the first start; entries added later are not read", async () => {
    const stream = uniqueName("weir-src");
    await fill(stream, 0, 100);
    try {
      const env = new StreamEnvironment({ jobName: "redis-bounded", parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 10 } });
      const sink = new CollectSink<number>();
      let added = false;
      env.fromSource(new RedisStreamSource({ url: REDIS_URL, stream, bounded: true, batchSize: 10 }), { uid: "s" })
        .map(async (e) => {
          if (!added) {
            added = true;
            await fill(stream, 100, 150);
          }
          return Number(e.fields.id);
        }, { uid: "id" })
        .sinkTo(sink, { uid: "out" });
      const result = await (await env.execute()).done;
      assert.equal(result.status, "finished");
      assert.deepEqual([...sink.committed].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
    } finally {
      await drop(stream);
    }
  });

  test("unbounded reads entries as they arrive, with fields as an object; startId skips older ones", async () => {
    const stream = uniqueName("weir-src");
    const redis = await connectRedis(REDIS_URL);
    const firstId = await redis.xadd(stream, "*", "n", "0") as string;
    const env = new StreamEnvironment({ jobName: "redis-live", parallelism: 2, storage: new MemoryStorage(), checkpoint: { interval: 10 } });
    const sink = new CollectSink<RedisStreamEntry>();
    env.fromSource(new RedisStreamSource({ url: REDIS_URL, stream, startId: firstId }), { uid: "s" }).sinkTo(sink, { uid: "out" });
    const job = await env.execute();
    try {
      await sleep(50);
      await redis.xadd(stream, "*", "n", "1", "who", "ada");
      const end = Date.now() + 20_000;
      while (sink.committed.length < 1 && Date.now() < end) await sleep(10);
      assert.equal(sink.committed.length, 1);
      assert.deepEqual(sink.committed[0].fields, { n: "1", who: "ada" });
      assert.match(sink.committed[0].id, /^\d+-\d+$/);
    } finally {
      await job.cancel();
      await redis.del(stream);
      redis.disconnect();
    }
  });

  test("a server that disappears for a moment: the job restarts, reconnects, and loses nothing", async () => {
    const stream = uniqueName("weir-src");
    const proxy = new TcpProxy(Number(new URL(REDIS_URL).port || 6379));
    await proxy.start();
    const url = `redis://127.0.0.1:${proxy.port}`;
    await fill(stream, 0, 300);
    const env = new StreamEnvironment({
      jobName: "redis-outage", parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 10 },
      restart: { strategy: "fixed-delay", attempts: 50, delay: 50 }, batchSize: 16, channelCapacity: 2,
    });
    const sink = new CollectSink<number>();
    env.fromSource(new RedisStreamSource({ url, stream, batchSize: 20 }), { uid: "s" })
      .map(async (e) => {
        await sleep(1);
        return Number(e.fields.id);
      }, { uid: "id" })
      .sinkTo(sink, { uid: "out" });
    const job = await env.execute();
    try {
      const end = Date.now() + 30_000;
      while (sink.committed.length < 50 && Date.now() < end) await sleep(5);
      proxy.down();
      await sleep(300);
      proxy.up();
      await fill(stream, 300, 400);
      while (sink.committed.length < 400 && Date.now() < end) await sleep(10);
      await sleep(50);
      assert.ok(job.restarts >= 1, "the outage failed the source and the job restarted");
      assert.deepEqual([...sink.committed].sort((a, b) => a - b), Array.from({ length: 400 }, (_, i) => i));
    } finally {
      await job.cancel();
      await proxy.close();
      await drop(stream);
    }
  });

  test("bad options are refused naming the option; a server that is down fails the start naming it", async () => {
    for (const options of [{ url: "localhost:6379", stream: "s" }, { url: REDIS_URL, stream: "" }, { url: REDIS_URL, stream: "s", startId: "x" }, { url: REDIS_URL, stream: "s", extra: 1 }]) {
      assert.throws(() => new RedisStreamSource(options as never), (e: WeirError) => e.code === "invalid_option" && /RedisStreamSource/.test(e.message));
    }
    const env = new StreamEnvironment({ jobName: "redis-down", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new RedisStreamSource({ url: "redis://127.0.0.1:1", stream: "s" }), { uid: "s" }).sinkTo(new CollectSink(), { uid: "out" });
    const result = await (await env.execute().catch((e) => ({ done: Promise.resolve({ status: "failed", error: e }) }))).done;
    assert.equal(result.status, "failed");
    assert.match(result.error!.message, /Redis server redis:\/\/127\.0\.0\.1:1 is unavailable/);
  });

  test("a key that holds no stream fails the job as stream_not_found saying so, not as a server that is down", async () => {
    const key = uniqueName("not_a_stream");
    const redis = await connectRedis(REDIS_URL);
    await redis.set(key, "a string");
    try {
      const env = new StreamEnvironment({ jobName: "redis-wrongtype", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" } });
      env.fromSource(new RedisStreamSource({ url: REDIS_URL, stream: key, bounded: true }), { uid: "s" }).sinkTo(new CollectSink(), { uid: "out" });
      const result = await (await env.execute().catch((e) => ({ done: Promise.resolve({ status: "failed", error: e }) }))).done;
      assert.equal(result.status, "failed");
      assert.match(result.error!.message, /is not a stream: WRONGTYPE/);
      assert.doesNotMatch(result.error!.message, /unavailable/);
    } finally {
      await redis.del(key);
      redis.disconnect();
    }
  });
});
