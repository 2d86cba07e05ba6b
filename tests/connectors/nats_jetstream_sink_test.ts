import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, NatsJetStreamSink, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { connectNats, type NatsClient } from "../../connectors/clients/nats.ts";
import { Kvm } from "@nats-io/kv";
import { NATS_COMMITS_BUCKET, publishTransaction } from "../../connectors/nats_jetstream_sink.ts";
import { runSinkExactlyOnceConformance, runSinkOutageConformance, runSinkTransactionConformance, type Row, type SinkHarness } from "./sink_conformance.ts";
import { NATS_SERVERS, uniqueName } from "./servers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

let nats: NatsClient;
before(async () => {
  nats = await connectNats(NATS_SERVERS);
});
after(() => nats.close());

async function messages(stream: string): Promise<string[]> {
  const total = (await nats.jsm.streams.info(stream)).state.messages;
  const out: string[] = [];
  if (total === 0) return out;
  const consumer = await nats.js.consumers.get(stream);
  while (out.length < total) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, total - out.length), expires: 2000 });
    for await (const m of batch) out.push(m.string());
  }
  return out;
}

async function newStream(): Promise<{ stream: string; subject: string }> {
  const stream = uniqueName("weir_sink");
  const subject = `${stream}.out`;
  await nats.jsm.streams.add({ name: stream, subjects: [subject] });
  return { stream, subject };
}

async function targetAt(servers: string) {
  const { stream, subject } = await newStream();
  return {
    sink: new NatsJetStreamSink<Row>({ servers, subject }),
    committed: async () => (await messages(stream)).map((m) => JSON.parse(m)),
    spec: { kind: "nats", servers, subject },
    cleanup: async () => void await nats.jsm.streams.delete(stream),
  };
}

const harness: SinkHarness = {
  name: "NatsJetStreamSink",
  target: () => targetAt(NATS_SERVERS),
  server: { port: Number(NATS_SERVERS.split(":").at(-1)), targetVia: (port) => targetAt(`127.0.0.1:${port}`) },
};

runSinkTransactionConformance(harness);
runSinkExactlyOnceConformance(harness);
runSinkOutageConformance(harness);

describe("NatsJetStreamSink", () => {
  test("servers as host:port, as a URL or an array; records as text (strings as they are, others JSON)", async () => {
    const { stream, subject } = await newStream();
    const env = new StreamEnvironment({ jobName: "nats-shape", storage: new MemoryStorage() });
    const records: unknown[] = ["plain", { a: 1 }, 7];
    env.fromSource(new SequenceSource(0, 3), { uid: "n" }).map((i) => records[i], { uid: "rec" })
      .sinkTo(new NatsJetStreamSink({ servers: [`nats://${NATS_SERVERS}`, NATS_SERVERS], subject }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "finished", String(result.error));
    assert.deepEqual(await messages(stream), ["plain", '{"a":1}', "7"]);
    await nats.jsm.streams.delete(stream);
  });

  test("a subject no stream captures fails the job at start naming it", async () => {
    const subject = `${uniqueName("weir_nostream")}.out`;
    const env = new StreamEnvironment({ jobName: "nats-missing", storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, 3), { uid: "n" }).sinkTo(new NatsJetStreamSink({ servers: NATS_SERVERS, subject }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    const e = result.error as WeirError;
    assert.equal(e.code, "stream_not_found");
    assert.ok(e.message.includes(subject), e.message);
  });

  test("bad options are refused naming the option", () => {
    for (const [options, option] of [
      [{ servers: "http://x", subject: "s" }, "NatsJetStreamSink.servers"],
      [{ servers: NATS_SERVERS, subject: "a.*" }, "NatsJetStreamSink.subject"],
      [{ servers: NATS_SERVERS, subject: "x..b" }, "NatsJetStreamSink.subject"],
      [{ servers: NATS_SERVERS, subject: ".a" }, "NatsJetStreamSink.subject"],
      [{ servers: NATS_SERVERS, subject: "s", stream: "x" }, "NatsJetStreamSink.stream"],
    ] as const) {
      assert.throws(() => new NatsJetStreamSink(options as never), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && e.message.includes(option), option);
    }
  });

  test("a server that is down: the job fails with an error naming it", async () => {
    const proxy = new TcpProxy(4222);
    await proxy.start();
    await proxy.close(); // A loopback port nothing listens on.
    const servers = `127.0.0.1:${proxy.port}`;
    const env = new StreamEnvironment({ jobName: "nats-down", storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, 3), { uid: "n" }).sinkTo(new NatsJetStreamSink({ servers, subject: "s" }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    const e = result.error as WeirError;
    assert.equal(e.code, "connector_unavailable");
    assert.ok(e.message.includes(servers), e.message);
  });

  test("a commit cut after a window and repeated past the stream's duplicate window publishes each message once (the KV progress mark)", async () => {
    const stream = uniqueName("weir_sink_window");
    const subject = `${stream}.out`;
    // A duplicate window of 100 ms (in ns), waited out before the retry.
    await nats.jsm.streams.add({ name: stream, subjects: [subject], duplicate_window: 100_000_000 });
    try {
      const kv = await new Kvm(nats.js).create(NATS_COMMITS_BUCKET);
      const scope = `${stream}-writer`;
      const t = { id: `${stream}-t5`, scope, checkpointId: 5, records: Array.from({ length: 10 }, (_, i) => `m${i}`) };
      // Windows of 3: the third window's publishes fail, as a connection cut there.
      const cut = { publish: (subj: string, data: string, o: { msgID: string }) => (Number(o.msgID.split("-").at(-1)) >= 6 ? Promise.reject(new Error("connection closed")) : nats.js.publish(subj, data, o)) };
      await assert.rejects(publishTransaction(cut as unknown as typeof nats.js, kv, subject, t, 3));
      assert.deepEqual(await messages(stream), ["m0", "m1", "m2", "m3", "m4", "m5"]);
      await new Promise((r) => setTimeout(r, 300));
      await publishTransaction(nats.js, kv, subject, t, 3);
      await publishTransaction(nats.js, kv, subject, t, 3); // Committed: nothing more.
      assert.deepEqual(await messages(stream), t.records);
      // The writer's next checkpoint starts from its first message.
      await publishTransaction(nats.js, kv, subject, { ...t, id: `${stream}-t6`, checkpointId: 6, records: ["n0", "n1", "n2", "n3"] }, 3);
      assert.deepEqual((await messages(stream)).slice(10), ["n0", "n1", "n2", "n3"]);
      await kv.delete(scope);
      await kv.delete(`${scope}.progress`);
    } finally {
      await nats.jsm.streams.delete(stream);
    }
  });

  test("a record larger than the server's max_payload with its message id header is refused as it is written, naming the limit, not at every commit", async () => {
    const { stream, subject } = await newStream();
    try {
      const max = nats.connection.info!.max_payload;
      const env = new StreamEnvironment({ jobName: "nats-big", storage: new MemoryStorage(), restart: { strategy: "none" } });
      // Within max_payload, but not with its message id header.
      env.fromSource(new SequenceSource(0, 2), { uid: "n" }).map((i) => (i === 1 ? "x".repeat(max - 10) : "small"), { uid: "rec" })
        .sinkTo(new NatsJetStreamSink({ servers: NATS_SERVERS, subject }), { uid: "out" });
      const result = await (await env.execute()).done;
      assert.equal(result.status, "failed");
      assert.match(String(result.error), new RegExp(`record of ${max - 10} bytes .*at most ${max} bytes \\(its max_payload\\), \\d+ of them for the message id header`));
      assert.equal((await nats.jsm.streams.info(stream)).state.messages, 0);
      // The largest record the check lets through is published, header and all.
      const largest = max - 160 - 3 * "out".length;
      const env2 = new StreamEnvironment({ jobName: "nats-largest", storage: new MemoryStorage(), restart: { strategy: "none" } });
      env2.fromSource(new SequenceSource(0, 1), { uid: "n" }).map(() => "y".repeat(largest), { uid: "rec" })
        .sinkTo(new NatsJetStreamSink({ servers: NATS_SERVERS, subject }), { uid: "out" });
      const r2 = await (await env2.execute()).done;
      assert.equal(r2.status, "finished", String(r2.error));
      assert.equal((await nats.jsm.streams.info(stream)).state.messages, 1);
    } finally {
      await nats.jsm.streams.delete(stream);
    }
  });
});

