import { WorkerThreadTransport } from "../../platforms/worker_threads/transport.ts";
import type { ChannelAddress, CreditMessage, DataMessage, LinkHandlers, Transport } from "../../actors/transport.ts";
import type { Scheduler } from "../../actors/time.ts";
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
