import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SerializingTransport } from "../../actors/serializing_transport.ts";
import { WeirError } from "../../errors.ts";
import { runTransportConformance } from "./transport_conformance.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { systemScheduler } from "../../platforms/system.ts";
import { assertExactlyOnce, countingJob } from "../helpers.ts";

runTransportConformance("SerializingTransport", (scheduler) => {
  const transport = new SerializingTransport({ scheduler });
  return { transport, idle: () => transport.inFlight === 0 };
});

// Small frames: every message of the suite travels as several frames, joined before delivery.
runTransportConformance("SerializingTransport (64-byte frames)", (scheduler) => {
  const transport = new SerializingTransport({ scheduler, maxFrameBytes: 64 });
  return { transport, idle: () => transport.inFlight === 0 };
});

describe("SerializingTransport", () => {
  const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity: 4 };

  test("a message over the frame limit travels in frames of at most that many bytes and arrives whole", async () => {
    const world = new VirtualWorld();
    const t = new SerializingTransport({ scheduler: world.scheduler, maxFrameBytes: 1024 });
    const got: unknown[] = [];
    const out = t.openSender(address, { deliver() {}, failed: (e) => assert.fail(String(e)) });
    t.openReceiver(address, { deliver: (m) => got.push(m), failed: (e) => assert.fail(String(e)) });
    const big = Array.from({ length: 1000 }, (_, i) => `record ${i}`);
    out.send({ kind: "item", seq: 0, item: big });
    assert.ok(t.stats.frames >= Math.ceil(t.stats.bytes / 1024) && t.stats.frames > 10, `${t.stats.bytes} bytes in ${t.stats.frames} frames`);
    await world.drive(() => t.inFlight === 0);
    assert.equal(got.length, 1);
    assert.deepEqual((got[0] as { item: unknown[] }).item, big);
  });

  test("a record that does not encode fails the send, naming the record's class", () => {
    const t = new SerializingTransport({ scheduler: new VirtualWorld().scheduler });
    const out = t.openSender(address, { deliver() {}, failed() {} });
    t.openReceiver(address, { deliver() {}, failed() {} });
    class Unregistered {}
    assert.throws(() => out.send({ kind: "item", seq: 0, item: [new Unregistered()] }), (e: unknown) => e instanceof WeirError && e.code === "value_not_persistable" && /Unregistered/.test(e.message));
  });

  for (const unaligned of [false, true]) {
    test(`every subtask on a host of its own (its own dispatcher), channels serialized between them: exactly-once (${unaligned ? "unaligned" : "aligned"})`, async () => {
      const hosts = new Set<string>();
      const transport = new SerializingTransport({ scheduler: systemScheduler });
      const { env, sink, n } = countingJob({
        checkpoint: { interval: 20, unaligned },
        batchSize: 64,
        channelCapacity: 2,
        runtime: { transport, hostOf: (s) => (hosts.add(`${s.vertexId}/${s.subtaskIndex}`), `${s.vertexId}/${s.subtaskIndex}`) },
      });
      const job = await env.execute();
      const result = await job.done;
      assert.equal(result.status, "finished", String(result.error));
      assert.equal(hosts.size, 5, "2 source subtasks and 3 sum subtasks, each on its own host");
      assert.ok(transport.stats.messages > 0);
      assert.ok(job.checkpointStats().counts.completed > 0);
      assertExactlyOnce(sink.committed, n);
    });
  }
});
