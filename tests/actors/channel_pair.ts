/**
 * Both sides of one channel over an in-memory transport, with their owners' wake-ups and
 * priority barriers counted: what channel-level tests drive.
 * @module
 */
import { InputChannel } from "../../actors/input_channel.ts";
import { MemoryTransport } from "../../actors/memory_transport.ts";
import type { Barrier, ChannelStateItem } from "../../actors/messages.ts";
import { OutputChannel } from "../../actors/output_channel.ts";

/** A sender and receiver joined by a fresh MemoryTransport; `queue()` lists the receiver's unconsumed data and watermarks. */
export function channelPair(capacity: number) {
  const t = new MemoryTransport();
  const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: 0 }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: 0, capacity };
  const sender = { wakes: 0, wake() { this.wakes++; }, fail(e: unknown) { throw e; } };
  const priority: { barrier: Barrier; overtakes: number }[] = [];
  const receiver = { wakes: 0, wake() { this.wakes++; }, priorityBarrier: (_c: number, b: Barrier, overtakes: number) => void priority.push({ barrier: b, overtakes }), fail(e: unknown) { throw e; } };
  const input = new InputChannel(address, t, receiver);
  const output = new OutputChannel(address, t, sender);
  const queue = (): ChannelStateItem[] => input.overtakenData().batches;
  return { t, input, output, sender, receiver, priority, queue };
}
