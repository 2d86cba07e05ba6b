import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { connectNats } from "../../connectors/clients/nats.ts";
import { CollectSink, MemoryStorage, NatsJetStreamSource, type NatsJetStreamMessage, StreamEnvironment, type WeirError } from "../../mod.ts";
import { sleep } from "../helpers.ts";
import { runSourceConformance } from "./source_conformance.ts";
import { NATS_SERVERS, uniqueName } from "./servers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

/** Creates a stream on `<name>.>` and publishes ids from..to-1 to `<name>.ids` (and noise to `<name>.other` if asked). */
async function createStream(name: string): Promise<void> {
  const nats = await connectNats(NATS_SERVERS);
  try {
    await nats.jsm.streams.add({ name, subjects: [`${name}.>`] });
  } finally {
    await nats.close();
  }
}

async function publish(name: string, from: number, to: number, subject = `${name}.ids`): Promise<void> {
  const nats = await connectNats(NATS_SERVERS);
  try {
    const acks = [];
    for (let i = from; i < to; i++) {
      acks.push(nats.js.publish(subject, String(i)));
      if (acks.length >= 200) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
  } finally {
    await nats.close();
  }
}

async function dropStream(name: string): Promise<void> {
  const nats = await connectNats(NATS_SERVERS);
  await nats.jsm.streams.delete(name).catch(() => {});
  await nats.close();
}

runSourceConformance<NatsJetStreamMessage>("NatsJetStreamSource", {
  async setup(n) {
    const stream = uniqueName("WEIR_SRC");
    await createStream(stream);
    await publish(stream, 0, n);
    return {
      source: () => new NatsJetStreamSource({ servers: NATS_SERVERS, stream, bounded: true, batchSize: 64 }),
      id: (m: NatsJetStreamMessage) => Number(m.data),
      bounded: true,
      child: { kind: "nats", config: { servers: NATS_SERVERS, stream, batchSize: 64 } },
      cleanup: () => dropStream(stream),
    };
  },
});

describe("NatsJetStreamSource", () => {
  test("subject filters, records carry seq, subject and data; bounded ends at the first start's last sequence", async () => {
    const stream = uniqueName("WEIR_SRC");
    await createStream(stream);
    try {
      await publish(stream, 0, 10);
      await publish(stream, 100, 105, `${stream}.other`);
      await publish(stream, 10, 20);
      const env = new StreamEnvironment({ jobName: "nats-bounded", parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 10 } });
      const sink = new CollectSink<NatsJetStreamMessage>();
      let added = false;
      env.fromSource(new NatsJetStreamSource({ servers: NATS_SERVERS, stream, subject: `${stream}.ids`, bounded: true, batchSize: 4 }), { uid: "s" })
        .map(async (m) => {
          if (!added) {
            added = true;
            await publish(stream, 20, 30);
          }
          return m;
        }, { uid: "m" })
        .sinkTo(sink, { uid: "out" });
      const result = await (await env.execute()).done;
      assert.equal(result.status, "finished");
      const got = [...sink.committed].sort((a, b) => a.seq - b.seq);
      assert.deepEqual(got.map((m) => m.data), Array.from({ length: 20 }, (_, i) => String(i)));
      assert.ok(got.every((m) => m.subject === `${stream}.ids` && Number.isInteger(m.seq)));
      assert.equal(got[10].seq, 16, "sequences count the other subject's messages too");
    } finally {
      await dropStream(stream);
    }
  });

  test("on a quiet stream a message goes out as it arrives, not when the fetch waiting for more expires (up to 1 s)", async () => {
    const stream = uniqueName("nats_latency");
    await createStream(stream);
    const nats = await connectNats(NATS_SERVERS);
    const arrived = new Map<number, number>();
    const env = new StreamEnvironment({ jobName: "nats-latency", parallelism: 1, storage: new MemoryStorage() });
    env.fromSource(new NatsJetStreamSource({ servers: NATS_SERVERS, stream }), { uid: "s" })
      .map((m) => {
        arrived.set(Number(m.data), performance.now());
        return m.seq;
      }, { uid: "at" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const job = await env.execute();
    try {
      await sleep(300);
      const latencies: number[] = [];
      for (let i = 0; i < 8; i++) {
        const sent = performance.now();
        await nats.js.publish(`${stream}.ids`, String(i));
        const deadline = sent + 3000;
        while (!arrived.has(i) && performance.now() < deadline) await sleep(2);
        latencies.push(arrived.has(i) ? arrived.get(i)! - sent : Infinity);
        await sleep(120);
      }
      // Waiting for the fetch to expire spread them over 0–1000 ms: all eight under 500 ms by chance is 1 in 256.
      assert.ok(Math.max(...latencies) < 500, `latencies ${latencies.map((l) => l.toFixed(0)).join(", ")} ms`);
    } finally {
      await job.cancel();
      await nats.jsm.streams.delete(stream);
      await nats.close();
    }
  });

  test("a server that disappears for a moment: the job restarts, reconnects, and loses nothing", async () => {
    const stream = uniqueName("WEIR_SRC");
    await createStream(stream);
    const proxy = new TcpProxy(Number(NATS_SERVERS.split(":").at(-1)));
    await proxy.start();
    await publish(stream, 0, 300);
    const env = new StreamEnvironment({
      jobName: "nats-outage", parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 10 },
      restart: { strategy: "fixed-delay", attempts: 50, delay: 50 }, batchSize: 16, channelCapacity: 2,
    });
    const sink = new CollectSink<number>();
    env.fromSource(new NatsJetStreamSource({ servers: `127.0.0.1:${proxy.port}`, stream, batchSize: 20 }), { uid: "s" })
      .map(async (m) => {
        await sleep(1);
        return Number(m.data);
      }, { uid: "id" })
      .sinkTo(sink, { uid: "out" });
    const job = await env.execute();
    try {
      const end = Date.now() + 40_000;
      while (sink.committed.length < 50 && Date.now() < end) await sleep(5);
      proxy.down();
      await sleep(300);
      proxy.up();
      await publish(stream, 300, 400);
      while (sink.committed.length < 400 && Date.now() < end) await sleep(10);
      await sleep(50);
      assert.ok(job.restarts >= 1, "the outage failed the source and the job restarted");
      assert.deepEqual([...sink.committed].sort((a, b) => a - b), Array.from({ length: 400 }, (_, i) => i));
    } finally {
      await job.cancel();
      await proxy.close();
      await dropStream(stream);
    }
  });

  test("a stream that does not exist fails the start naming it; bad options are refused", async () => {
    const missing = uniqueName("WEIR_MISSING");
    const env = new StreamEnvironment({ jobName: "nats-missing", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new NatsJetStreamSource({ servers: NATS_SERVERS, stream: missing }), { uid: "s" }).sinkTo(new CollectSink(), { uid: "out" });
    const result = await (await env.execute().catch((e) => ({ done: Promise.resolve({ status: "failed", error: e }) }))).done;
    assert.equal(result.status, "failed");
    assert.match(result.error!.message, new RegExp(`stream "${missing}" does not exist`));
    const outside = new StreamEnvironment({ jobName: "nats-outside", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "none" } });
    const stream = uniqueName("nats_outside");
    await createStream(stream);
    outside.fromSource(new NatsJetStreamSource({ servers: NATS_SERVERS, stream, subject: "elsewhere.>", bounded: true }), { uid: "s" }).sinkTo(new CollectSink(), { uid: "out" });
    const refused = await (await outside.execute().catch((e) => ({ done: Promise.resolve({ status: "failed", error: e }) }))).done;
    assert.equal(refused.status, "failed");
    assert.match(refused.error!.message, new RegExp(`subject "elsewhere\\.>" is not within the subjects of stream "${stream}"`));
    const nats = await connectNats(NATS_SERVERS);
    await nats.jsm.streams.delete(stream);
    await nats.close();
    for (const options of [{ servers: [], stream: "S" }, { servers: NATS_SERVERS, stream: "a.b" }, { servers: NATS_SERVERS, stream: "S", subject: "" }, { servers: NATS_SERVERS, stream: "S", subject: "a..b" }, { servers: NATS_SERVERS, stream: "S", subject: "a.>.b" }, { servers: NATS_SERVERS, stream: "S", x: 1 }]) {
      assert.throws(() => new NatsJetStreamSource(options as never), (e: WeirError) => e.code === "invalid_option" && /NatsJetStreamSource/.test(e.message));
    }
  });
});
