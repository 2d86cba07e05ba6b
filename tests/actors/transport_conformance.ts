/**
 * The conformance suite every Transport passes (rivetkit's driver-test-suite style): each
 * transport's test file calls runTransportConformance() with a factory. The cases drive
 * the real InputChannel and OutputChannel over the transport on virtual time, then run
 * the foundation's exactly-once job over it on the real clock, with a send that fails.
 * @module
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { InputChannel } from "../../actors/input_channel.ts";
import { type Barrier, type Batch, type ChannelItem, isBatch, withTimestamps } from "../../actors/messages.ts";
import { OutputChannel } from "../../actors/output_channel.ts";
import type { Scheduler } from "../../actors/time.ts";
import type { ChannelAddress, Transport } from "../../actors/transport.ts";
import { systemScheduler } from "../../platforms/system.ts";
import type { JobHandle } from "../../runtime/job_handle.ts";
import { assertExactlyOnce, countingJob, FailOnce } from "../helpers.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { FailingTransport } from "./failing_transport.ts";

/** A transport under test, and whether it has nothing in flight. */
export interface TransportUnderTest {
  transport: Transport;
  /** True when every message sent so far was delivered (or dropped after a close). */
  idle(): boolean;
}

/** Makes a fresh transport whose asynchronous deliveries (if any) run on `scheduler`. */
export type TransportFactory = (scheduler: Scheduler) => TransportUnderTest;

const barrier = (id: number, unaligned = false): Barrier => ({
  kind: "barrier", checkpointId: id, timestamp: 0, type: "CHECKPOINT", exactlyOnce: true, unaligned, alignedTimeoutMs: 0,
});

const address = (capacity: number, attempt = 0): ChannelAddress => ({
  jobId: "conformance", attempt, sender: { vertexId: "up", subtaskIndex: 1 }, receiver: { vertexId: "down", subtaskIndex: 0 }, inputIndex: 0, capacity,
});

/** Both sides of one channel over the transport under test, on virtual time. */
async function channel(create: TransportFactory, capacity: number) {
  const world = new VirtualWorld();
  const under = create(world.scheduler);
  const sender = { wakes: 0, failures: [] as unknown[], wake() { this.wakes++; }, fail(e: unknown) { this.failures.push(e); } };
  const priority: { barrier: Barrier; overtakes: number }[] = [];
  const receiver = {
    wakes: 0,
    failures: [] as unknown[],
    wake() { this.wakes++; },
    priorityBarrier: (_c: number, b: Barrier, overtakes: number) => void priority.push({ barrier: b, overtakes }),
    fail(e: unknown) { this.failures.push(e); },
  };
  const input = new InputChannel(address(capacity), under.transport, receiver);
  const output = new OutputChannel(address(capacity), under.transport, sender);
  /** Lets the transport deliver everything in flight. */
  const settle = async () => {
    await world.drive(() => under.idle());
    assert.ok(under.idle(), "the transport delivered everything in flight");
    assert.deepEqual([...sender.failures, ...receiver.failures], [], "no failure");
  };
  /** Consumes everything queued now, in order. */
  const drain = (): ChannelItem[] => {
    const out: ChannelItem[] = [];
    while (input.peek() !== undefined) out.push(input.shift()!);
    return out;
  };
  return { world, under, input, output, sender, receiver, priority, settle, drain };
}

const values = (items: ChannelItem[]) => items.map((i) => (isBatch(i) ? [...i] : i));

export function runTransportConformance(name: string, create: TransportFactory): void {
  describe(`${name} transport conformance`, () => {
    test("items of one channel arrive in order, each once: batches and every event kind", async () => {
      const c = await channel(create, 64);
      const sent: ChannelItem[] = [];
      for (let i = 0; i < 40; i++) sent.push([i, `r${i}`, { nested: [i] }]);
      sent.splice(10, 0, barrier(1));
      sent.splice(20, 0, { kind: "watermark", timestamp: 99 }, { kind: "watermarkStatus", idle: true });
      sent.push({ kind: "eop" });
      for (const item of sent) c.output.send(item);
      await c.settle();
      assert.deepEqual(values(c.drain()), values(sent));
      assert.equal(c.input.creditedBatches, 0);
    });

    test("credit is never exceeded: batches queued at the receiver plus credit left always equal the capacity once settled", async () => {
      const capacity = 3;
      const c = await channel(create, capacity);
      for (let i = 0; i < 20; i++) c.output.send([i]);
      const got: unknown[] = [];
      for (let round = 0; round < 40 && got.length < 20; round++) {
        await c.settle();
        assert.ok(c.input.creditedBatches <= capacity, `receiver holds ${c.input.creditedBatches} batches, capacity ${capacity}`);
        assert.equal(c.input.creditedBatches + c.output.credit, capacity, "credit is conserved across the seam");
        const item = c.input.shift();
        if (item !== undefined) got.push((item as Batch)[0]);
      }
      assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
    });

    test("backpressure: a receiver that stops consuming stops its sender; consuming again wakes it", async () => {
      const c = await channel(create, 2);
      for (let i = 0; i < 5; i++) c.output.send([i]);
      await c.settle();
      assert.equal(c.input.queuedBatches, 2);
      assert.equal(c.output.buffered, 3);
      assert.ok(c.output.backpressured);
      assert.equal(c.sender.wakes, 0);
      c.input.shift();
      c.input.shift();
      await c.settle();
      assert.equal(c.output.buffered, 1, "two credits returned, two batches moved");
      c.input.shift();
      await c.settle();
      assert.equal(c.output.backpressured, false);
      assert.equal(c.sender.wakes, 1, "the sender is woken once its output buffer drained");
      assert.deepEqual(values(c.drain()), [[3], [4]]);
    });

    test("a priority barrier overtakes queued and buffered data; what it overtook is exactly the data sent before it", async () => {
      const c = await channel(create, 2);
      for (let i = 1; i <= 4; i++) c.output.send([i]);
      await c.settle();
      c.input.shift(); // [1] consumed before the barrier: not in flight any more
      await c.settle(); // the credit moved [3] over; [4] still buffered
      const outputState = c.output.sendPriority(barrier(7, true));
      c.output.send([5]);
      await c.settle();
      assert.deepEqual(outputState, [[4]], "the sender's output buffer is its output channel state");
      assert.equal(c.priority.length, 1);
      assert.equal(c.priority[0].barrier.checkpointId, 7);
      const { overtakes } = c.priority[0];
      assert.deepEqual(values(c.input.overtakenData(overtakes).batches), [[2], [3]], "the receiver's queue before the barrier");
      c.input.shift(); // consumed before the barrier was handled: processed before the snapshot
      assert.deepEqual(values(c.input.overtakenData(overtakes).batches), [[3]]);
      const rest: ChannelItem[] = [];
      for (let round = 0; round < 10 && rest.length < 3; round++) {
        await c.settle();
        rest.push(...c.drain());
      }
      assert.deepEqual(values(rest), [[3], [4], [5]], "overtaken output data still follows, then new data");
      assert.deepEqual(c.input.overtakenData(overtakes).batches, []);
    });

    test("restored channel state is replayed before new data and neither takes nor returns credit", async () => {
      const c = await channel(create, 2);
      c.input.restore([[-2], { kind: "watermark", timestamp: 5 }, [-1]]);
      c.output.send([1]);
      await c.settle();
      assert.equal(c.output.credit, 1);
      assert.deepEqual(values(c.drain()), [[-2], { kind: "watermark", timestamp: 5 }, [-1], [1]]);
      await c.settle();
      assert.equal(c.output.credit, 2, "only the credited batch returned credit");
    });

    test("records arrive as values with their timestamps, and the receiver's copy is its own", async () => {
      const c = await channel(create, 4);
      const batch = withTimestamps([{ user: "a", clicks: [1, 2] }, "b", 3n, null], [10, 20, 30, NaN]);
      c.output.send(batch);
      await c.settle();
      const got = c.input.shift() as Batch;
      assert.deepEqual([...got], [...batch]);
      assert.deepEqual(got.timestamps, batch.timestamps);
    });

    test("after a close nothing more is delivered either way, and a later attempt's link works", async () => {
      const c = await channel(create, 2);
      c.output.send([1]);
      c.input.close();
      c.output.send([2]);
      await c.settle();
      c.output.close();
      const input = new InputChannel(address(2, 1), c.under.transport, c.receiver);
      const output = new OutputChannel(address(2, 1), c.under.transport, c.sender);
      output.send(["next attempt"]);
      await c.settle();
      assert.deepEqual(values([input.shift()!]), [["next attempt"]]);
    });

    const modes = [
      { name: "aligned", checkpoint: { interval: 20 }, slow: false },
      { name: "unaligned", checkpoint: { interval: 20, unaligned: true }, slow: false },
      { name: "unaligned, slow downstream", checkpoint: { interval: 20, unaligned: true }, slow: true },
    ];
    for (const mode of modes) {
      test(`the foundation's job runs exactly-once over it (${mode.name}); a send that fails fails the attempt and the job restarts from its latest checkpoint`, async () => {
        // Armed once a checkpoint completed: on a loaded machine the first checkpoint can
        // complete after any fixed number of messages, and the test is about restoring from one.
        // A holder, since the predicate is built before the job it reads (deno lint's prefer-const).
        const running: { job?: JobHandle } = {};
        const armed = () => (running.job?.checkpointStats().counts.completed ?? 0) >= 1;
        const failing = new FailingTransport(create(systemScheduler).transport, systemScheduler, 20, armed);
        const fail = new FailOnce((count) => count === 2_000);
        const { env, sink, n } = countingJob({
          checkpoint: mode.checkpoint,
          batchSize: 64,
          channelCapacity: 4,
          runtime: { transport: failing },
          ...(mode.slow ? { slowReduceMs: 0, failInReduce: fail } : { ratePerSecond: 50_000 }),
        });
        const job = (running.job = await env.execute());
        const result = await job.done;
        assert.ok(failing.fired, "the send failure was injected");
        assert.equal(result.status, "finished", String(result.error));
        assert.ok(result.restarts >= 1, "the failed send restarted the job");
        const stats = job.checkpointStats();
        assert.ok(stats.counts.restored >= 1 && (stats.latest.restored?.id ?? 0) >= 1, "restored from a completed checkpoint");
        if (mode.slow) assert.ok(stats.history.some((d) => d.status === "COMPLETED" && d.persisted_data > 0), "some checkpoint persisted in-flight data");
        assertExactlyOnce(sink.committed, n);
      });
    }
  });
}
