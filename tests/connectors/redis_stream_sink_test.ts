import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { MemoryStorage, RedisStreamSink, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { appendTransaction, commitSlices, FIELDS_MAX } from "../../connectors/redis_stream_sink.ts";
import { connectRedis } from "../../connectors/clients/redis.ts";
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

  test("a transaction of 400 000 records commits (in slices: one call's arguments overflowed the stack, and the job never committed)", async () => {
    const stream = uniqueName("weir_sink_big");
    const env = new StreamEnvironment({ jobName: "redis-big", storage: new MemoryStorage(), restart: { strategy: "none" } });
    // No periodic checkpoint: the final one at the end holds every record in one transaction.
    env.fromSource(new SequenceSource(0, 400_000), { uid: "n" }).sinkTo(new RedisStreamSink({ url: REDIS_URL, stream }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "finished", String(result.error));
    assert.equal(await redis.xlen(stream), 400_000);
    const [[, first]] = await redis.xrange(stream, "-", "+", "COUNT", 1);
    const [[, last]] = await redis.xrevrange(stream, "+", "-", "COUNT", 1);
    assert.deepEqual([first, last], [["value", "0"], ["value", "399999"]]);
    assert.equal(await redis.hlen(`${stream}:weir-commits`), 1, "the checkpoint recorded, no slice mark left");
    await redis.del(stream, `${stream}:weir-commits`);
  });

  test("a commit cut between two slices and repeated appends each slice once, in order", async () => {
    const stream = uniqueName("weir_sink_slices");
    const sink = new RedisStreamSink({ url: REDIS_URL, stream });
    const records = Array.from({ length: 10 }, (_, i) => ["n", String(i)]);
    // 3 arguments an entry, 9 a slice: slices of 3, 3, 3 and 1 entries.
    assert.deepEqual(commitSlices(records, 9).map((s) => s.length), [9, 9, 9, 3]);
    const t = { id: "t-5", scope: "run-a/out/0", checkpointId: 5, records };
    const client = await connectRedis(REDIS_URL, { option: "url" });
    try {
      // The first two slices land, then the connection is cut.
      const cut = { ...client, eval: (...a: Parameters<typeof client.eval>) => (Number(a[6]) >= 2 ? Promise.reject(new Error("connection reset")) : client.eval(...a)) };
      await assert.rejects(appendTransaction(cut as typeof client, sink, t, 9), (e: unknown) => e instanceof WeirError && e.code === "connector_unavailable");
      assert.equal(await redis.xlen(stream), 6);
      await appendTransaction(client, sink, t, 9);
      await appendTransaction(client, sink, t, 9); // Committed: nothing more.
      assert.deepEqual((await entries(stream)).map((f) => f.n), records.map(([, n]) => n));
      // A later checkpoint of the same writer still commits.
      await appendTransaction(client, sink, { ...t, id: "t-6", checkpointId: 6, records: [["n", "10"]] }, 9);
      assert.equal(await redis.xlen(stream), 11);
    } finally {
      client.disconnect();
      await redis.del(stream, `${stream}:weir-commits`);
    }
  });

  test("a record of more fields than an entry takes is refused as it is written, naming the limit; one of FIELDS_MAX fields commits", async () => {
    const wide = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, i]));
    const run = async (fields: number) => {
      const stream = uniqueName("weir_sink_wide");
      const env = new StreamEnvironment({ jobName: "redis-wide", storage: new MemoryStorage(), restart: { strategy: "none" } });
      env.fromSource(new SequenceSource(0, 2), { uid: "n" }).map((i) => (i === 1 ? wide(fields) : { small: i }), { uid: "rec" })
        .sinkTo(new RedisStreamSink({ url: REDIS_URL, stream }), { uid: "out" });
      const result = await (await env.execute()).done;
      const entries = await redis.xlen(stream);
      await redis.del(stream, `${stream}:weir-commits`);
      return { result, entries };
    };
    const ok = await run(FIELDS_MAX);
    assert.equal(ok.result.status, "finished", String(ok.result.error));
    assert.equal(ok.entries, 2);
    // Before, the checkpoint completed and every commit failed in the script, after appending the entries before it again.
    const refused = await run(FIELDS_MAX + 1);
    assert.equal(refused.result.status, "failed");
    const e = refused.result.error as WeirError;
    assert.match(e.message, new RegExp(`${FIELDS_MAX + 1} fields.*at most ${FIELDS_MAX}`));
    assert.equal(refused.entries, 0, "nothing appended");
  });
});

