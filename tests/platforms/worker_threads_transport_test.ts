import { test } from "node:test";
import assert from "node:assert/strict";
import { type ThreadFrame, WorkerThreadTransport } from "../../platforms/worker_threads/transport.ts";
import type { ChannelAddress, CreditMessage, DataMessage, LinkHandlers, Transport } from "../../actors/transport.ts";
import type { Scheduler } from "../../actors/time.ts";
import { systemScheduler } from "../../platforms/system.ts";
import { runTransportConformance } from "../actors/transport_conformance.ts";

/**
 * Two threads' transports joined by a real MessageChannel (postMessage, transferred
 * buffers): every sender end in "a", every receiver end in "b".
 */
function pair(scheduler: Scheduler) {
  const channel = new MessageChannel();
  const inFlight = { n: 0 };
  const a = new WorkerThreadTransport({ scheduler, threadOf: () => "b" });
  const b = new WorkerThreadTransport({ scheduler, threadOf: () => "a" });
  const post = (port: MessagePort) => ({
    postMessage(m: unknown, transfer?: Transferable[]) {
      inFlight.n++;
      port.postMessage(m, transfer ?? []);
    },
  });
  a.addPeer("b", post(channel.port1));
  b.addPeer("a", post(channel.port2));
  channel.port2.onmessage = (e) => (inFlight.n--, b.receive(e.data));
  channel.port1.onmessage = (e) => (inFlight.n--, a.receive(e.data));
  const transport: Transport = {
    name: "worker-thread",
    openSender: (address: ChannelAddress, h: LinkHandlers<CreditMessage>) => a.openSender(address, h),
    openReceiver: (address: ChannelAddress, h: LinkHandlers<DataMessage>) => b.openReceiver(address, h),
  };
  const idle = () => a.queued === 0 && b.queued === 0 && inFlight.n === 0;
  return { transport, idle, close: () => (channel.port1.close(), channel.port2.close()) };
}

runTransportConformance("WorkerThreadTransport (over a MessageChannel)", (scheduler) => pair(scheduler));

/** Three threads' transports whose ports deliver when drained: "a" and "c" reach each other only through "m". */
function star() {
  const queues = new Map<string, ThreadFrame[]>();
  const port = (to: string) => ({ postMessage: (f: unknown) => void queues.get(to)!.push(f as ThreadFrame) });
  const threadOf = (s: { vertexId: string }) => s.vertexId;
  const scheduler = systemScheduler;
  const t = {
    a: new WorkerThreadTransport({ scheduler, threadOf: () => "m" }),
    m: new WorkerThreadTransport({ scheduler, threadOf }),
    c: new WorkerThreadTransport({ scheduler, threadOf: () => "m" }),
  };
  for (const id of ["a", "m", "c"]) queues.set(id, []);
  t.a.addPeer("m", port("m"));
  t.c.addPeer("m", port("m"));
  t.m.addPeer("a", port("a"));
  t.m.addPeer("c", port("c"));
  const drain = async () => {
    for (let round = 0; round < 20; round++) {
      await new Promise((r) => setTimeout(r, 0));
      for (const [id, q] of queues) for (const f of q.splice(0)) t[id as "a" | "m" | "c"].receive(f);
    }
  };
  return { t, drain };
}

const address: ChannelAddress = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "c", subtaskIndex: 0 }, inputIndex: 0, capacity: 2 };
const ignore = { deliver() {}, failed(e: unknown) { throw e; } };

test("WorkerThreadTransport relays a message between two other threads once, both ways", async () => {
  const { t, drain } = star();
  const credits: CreditMessage[] = [];
  const data: DataMessage[] = [];
  const out = t.a.openSender(address, { ...ignore, deliver: (m) => void credits.push(m) });
  const back = t.c.openReceiver(address, { ...ignore, deliver: (m) => void data.push(m) });
  out.send({ kind: "item", seq: 1, item: Object.assign([1, 2]) } as DataMessage);
  back.send({ kind: "credit", batches: 1 });
  await drain();
  assert.deepEqual(data.map((m) => m.kind), ["item"]);
  assert.deepEqual(credits.map((m) => m.kind), ["credit"]);
  assert.equal(t.m.relayed, 2);
});

test("WorkerThreadTransport drops a relayed message whose end closed instead of passing it back", async () => {
  const { t, drain } = star();
  const out = t.a.openSender(address, ignore);
  out.send({ kind: "item", seq: 1, item: Object.assign([1]) } as DataMessage);
  await drain();
  assert.equal(t.m.relayed, 1, "relayed to c once");
  assert.equal(t.a.relayed + t.c.relayed, 0, "c, holding no end, did not send it back");
  assert.equal(t.a.queued + t.m.queued + t.c.queued, 0);
});
