import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, SequenceSource, SerializingTransport, StreamEnvironment } from "../../mod.ts";
import type { Transport } from "../../mod.ts";
import { systemScheduler } from "../../platforms/system.ts";
import type { OperatorSnapshot, Sink, SinkWriter } from "../../mod.ts";
import { sleep, until } from "../helpers.ts";

/** A sink whose writes wait until the test opens the gate. */
class GatedSink implements Sink<number> {
  received = 0;
  #open!: () => void;
  #gate = new Promise<void>((r) => (this.#open = r));
  open(): void {
    this.#open();
  }
  createWriter(): SinkWriter {
    return {
      open: () => {},
      write: (values: unknown[]) => {
        this.received += values.length;
        return this.#gate;
      },
      snapshotState: (): OperatorSnapshot => ({}),
      notifyCheckpointComplete: () => {},
    };
  }
}

const transports: [string, () => Transport | undefined][] = [
  ["in memory", () => undefined],
  ["serialized, delivered asynchronously", () => new SerializingTransport({ scheduler: systemScheduler })],
];

describe("backpressure", () => {
  for (const [name, transport] of transports) test(`a slow sink slows the source through every channel, and no queue exceeds its capacity (${name})`, async () => {
    const batchSize = 100;
    const channelCapacity = 4;
    const env = new StreamEnvironment({ jobName: "bp", storage: new MemoryStorage(), batchSize, channelCapacity, runtime: { transport: transport() } });
    const sink = new GatedSink();
    env.fromSource(new SequenceSource(0, 200_000), { uid: "src" })
      .rebalance()
      .map((n) => n + 1, { uid: "inc", disableChaining: true })
      .rebalance()
      .sinkTo(sink, { uid: "sink", disableChaining: true });
    const job = await env.execute();
    let maxQueued = 0;
    const sample = () => {
      for (const v of job.vertices()) for (const s of v.subtasks) maxQueued = Math.max(maxQueued, s.queuedBatches);
    };
    for (let i = 0; i < 20; i++) {
      await sleep(5);
      sample();
    }
    // The backpressure reaches the source through two channels: on a loaded machine that can
    // take longer than the 100 ms sampled above, so wait for it (still sampling the queues).
    await until("the backpressure reached the source", () => {
      sample();
      const [s, m, k] = job.vertices();
      return s.subtasks[0].outputBuffered > 0 && m.subtasks[0].outputBuffered > 0 && k.subtasks[0].queuedBatches === channelCapacity;
    });
    const [src, map, snk] = job.vertices();
    assert.equal(sink.received, batchSize, "the sink took one batch and is stuck on it");
    // Each of the two channels holds at most its capacity; each sender has at most one step's output waiting.
    const bound = sink.received + 2 * (channelCapacity + 1) * batchSize + 2 * batchSize;
    assert.ok(src.subtasks[0].recordsOut <= bound, `source emitted ${src.subtasks[0].recordsOut} records, bound ${bound}`);
    assert.ok(src.subtasks[0].recordsOut >= 2 * channelCapacity * batchSize, "the queues did fill up");
    assert.ok(maxQueued <= channelCapacity, `a queue held ${maxQueued} batches, capacity ${channelCapacity}`);
    assert.ok(src.subtasks[0].outputBuffered > 0 && map.subtasks[0].outputBuffered > 0, "both senders are backpressured");
    assert.equal(snk.subtasks[0].queuedBatches, channelCapacity);
    sink.open();
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.equal(sink.received, 200_000);
  });
});
