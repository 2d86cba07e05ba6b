import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage } from "../../../mod.ts";
import { DurableObjectRpcTransport } from "../../../platforms/cloudflare/rpc_transport.ts";
import { Mailbox } from "../../../platforms/cloudflare/mailbox.ts";
import { assertExactlyOnce } from "../../helpers.ts";
import { countJob, type Pair } from "./fixtures/count_job.ts";

/**
 * One DurableObjectRpcTransport per "object" (one per subtask: job/vertex/index), each with
 * its own mailbox, calling each other across a macrotask as RPCs do: every channel of the
 * job crosses the wire as frames, encoded and decoded.
 */
function rpcTransports(frameBytesMax?: number) {
  const objects = new Map<string, { transport: DurableObjectRpcTransport; mailbox: Mailbox }>();
  const object = (name: string) => {
    let o = objects.get(name);
    if (!o) {
      const transport: DurableObjectRpcTransport = new DurableObjectRpcTransport({
        self: name,
        placement: (job, s) => `${job}/${s.vertexId}/${s.subtaskIndex}`,
        frameBytesMax,
        call: async (to, frame) => {
          await new Promise((r) => setTimeout(r, 0));
          const peer = object(to);
          await peer.mailbox.post(() => peer.transport.receive(frame));
        },
      });
      objects.set(name, (o = { transport, mailbox: new Mailbox() }));
    }
    return o;
  };
  /** A Transport facade: each end opens on the transport of the object hosting its subtask. */
  const facade = {
    name: "durable-object-rpc (per-subtask objects in one process)",
    openSender: (a: Parameters<DurableObjectRpcTransport["openSender"]>[0], h: Parameters<DurableObjectRpcTransport["openSender"]>[1]) =>
      object(`${a.jobId}/${a.sender.vertexId}/${a.sender.subtaskIndex}`).transport.openSender(a, h),
    openReceiver: (a: Parameters<DurableObjectRpcTransport["openReceiver"]>[0], h: Parameters<DurableObjectRpcTransport["openReceiver"]>[1]) =>
      object(`${a.jobId}/${a.receiver.vertexId}/${a.receiver.subtaskIndex}`).transport.openReceiver(a, h),
  };
  const calls = () => [...objects.values()].reduce((n, o) => n + o.transport.stats.calls, 0);
  return { facade, calls };
}

describe("DurableObjectRpcTransport under a whole job", () => {
  for (const unaligned of [false, true]) {
    test(`the exactly-once job over the RPC transport ends exactly-once through a failure (${unaligned ? "unaligned, under backpressure" : "aligned"})`, { timeout: 120_000 }, async () => {
      const n = 20_000;
      const sink = new CollectSink<Pair>();
      const { facade, calls } = rpcTransports(unaligned ? 4096 : undefined);
      const env = countJob({
        n, sink, storage: new MemoryStorage(), failAt: 13_000, slowEvery: unaligned ? 100 : undefined,
        checkpoint: { interval: 5, unaligned }, batchSize: 100, channelCapacity: 4,
        runtime: { transport: facade },
      });
      const job = await env.execute();
      const result = await job.done;
      assert.equal(result.status, "finished", result.error?.message);
      assert.ok(result.restarts >= 1);
      assert.ok(calls() > 0);
      if (unaligned) {
        const persisted = job.checkpointStats().history.map((h) => h.persisted_data);
        assert.ok(Math.max(...persisted) > 0, `persisted_data ${persisted.join()}`);
      }
      assertExactlyOnce(sink.committed, n);
    });
  }
});
