import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { MemoryStorage, RedisStreamSink, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { runSinkExactlyOnceConformance, runSinkOutageConformance, runSinkTransactionConformance, type Row, type SinkHarness } from "./sink_conformance.ts";
import { REDIS_URL, uniqueName } from "./servers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

const redis = new Redis(REDIS_URL);
after(() => redis.disconnect());

async function entries(stream: string): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  for (const [, flat] of await redis.xrange(stream, "-", "+")) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
    out.push(fields);
  }
  return out;
}

function targetAt(url: string) {
  const stream = uniqueName("weir_sink");
  return Promise.resolve({
    sink: new RedisStreamSink<Row>({ url, stream }),
    committed: async () => (await entries(stream)).map((f) => ({ key: Number(f.key), count: Number(f.count) })),
    spec: { kind: "redis", url, stream },
    cleanup: async () => void await redis.del(stream, `${stream}:weir-commits`),
  });
}

const harness: SinkHarness = {
  name: "RedisStreamSink",
  target: () => targetAt(REDIS_URL),
  server: { port: 6379, targetVia: (port) => targetAt(`redis://127.0.0.1:${port}`) },
};

runSinkTransactionConformance(harness);
runSinkExactlyOnceConformance(harness);
runSinkOutageConformance(harness);

describe("RedisStreamSink", () => {
  test("records become entries: an object's properties are its fields, anything else one JSON field", async () => {
    const stream = uniqueName("weir_sink_shape");
    const env = new StreamEnvironment({ jobName: "redis-shape", storage: new MemoryStorage() });
    const records: unknown[] = [{ word: "a", n: 1, tags: ["x"] }, "plain", 7];
    env.fromSource(new SequenceSource(0, 3), { uid: "n" }).map((i) => records[i], { uid: "rec" }).sinkTo(new RedisStreamSink({ url: REDIS_URL, stream }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "finished", String(result.error));
    assert.deepEqual(await entries(stream), [{ word: "a", n: "1", tags: '["x"]' }, { value: '"plain"' }, { value: "7" }]);
    await redis.del(stream, `${stream}:weir-commits`);
  });

  test("bad options are refused naming the option", () => {
    for (const [options, option] of [
      [{ url: "http://x", stream: "s" }, "RedisStreamSink.url"],
      [{ url: REDIS_URL, stream: "" }, "RedisStreamSink.stream"],
      [{ url: REDIS_URL, stream: "s", maxLen: 5 }, "RedisStreamSink.maxLen"],
    ] as const) {
      assert.throws(() => new RedisStreamSink(options as never), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && e.message.includes(option), option);
    }
  });

  test("a server that is down: the job fails with an error naming it", async () => {
    const proxy = new TcpProxy(6379);
    await proxy.start();
    await proxy.close(); // A loopback port nothing listens on.
    const env = new StreamEnvironment({ jobName: "redis-down", storage: new MemoryStorage(), restart: { strategy: "fixed-delay", attempts: 2, delay: 5 } });
    env.fromSource(new SequenceSource(0, 3), { uid: "n" }).sinkTo(new RedisStreamSink({ url: `redis://127.0.0.1:${proxy.port}`, stream: "s" }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    assert.equal(result.restarts, 2, "the restart strategy retried");
    const e = result.error as WeirError;
    assert.equal(e.code, "connector_unavailable");
    assert.ok(e.message.includes(`127.0.0.1:${proxy.port}`), e.message);
  });
});
