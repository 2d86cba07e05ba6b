/**
 * The simulator's network (issue 14 item 7): the faulty transport is a transport like any
 * other (it passes the conformance suite when it injects no failure), it reorders
 * channels relative to each other but never within one, and seeds that fail RPCs still
 * end exactly-once, replayably.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InputChannel } from "../../actors/input_channel.ts";
import type { Batch } from "../../actors/messages.ts";
import { OutputChannel } from "../../actors/output_channel.ts";
import { runSeed } from "../../sim/driver.ts";
import { FaultyTransport, type NetworkConfig } from "../../sim/faulty_transport.ts";
import { SimPrng } from "../../sim/prng.ts";
import { failureReport } from "../../sim/report.ts";
import { runTransportConformance } from "../actors/transport_conformance.ts";
import { VirtualWorld } from "../virtual_world.ts";

const calm: NetworkConfig = { latencyMaxMs: 0.5, spike: 0.05, spikeMaxMs: 3, failRpc: 0 };

runTransportConformance("sim FaultyTransport (no failures)", (scheduler) => {
  let scheduled = 0;
  const t = new FaultyTransport(calm, new SimPrng("conformance"), {
    schedule: (delayMs, _label, fn) => {
      scheduled++;
      scheduler.after(delayMs, () => {
        scheduled--;
        fn();
      });
    },
    faultNow: () => false,
    fault: () => assert.fail("no fault is injected"),
  });
  return { transport: t, idle: () => scheduled === 0 };
});

describe("sim network", () => {
  test("channels are reordered relative to each other, never within one", async () => {
    const world = new VirtualWorld();
    const t = new FaultyTransport({ latencyMaxMs: 2, spike: 0, spikeMaxMs: 0, failRpc: 0 }, new SimPrng("reorder"), {
      schedule: (d, _l, fn) => world.scheduler.after(d, fn),
      faultNow: () => false,
      fault: () => {},
    });
    const arrivals: string[] = [];
    const channels = [0, 1].map((i) => {
      const address = { jobId: "j", attempt: 0, sender: { vertexId: "a", subtaskIndex: i }, receiver: { vertexId: "b", subtaskIndex: 0 }, inputIndex: i, capacity: 100 };
      const owner = { wake() {}, priorityBarrier() {}, fail: (e: unknown) => assert.fail(String(e)) };
      const input = new InputChannel(address, t, { ...owner, wake: () => arrivals.push(`${i}:${(input.peek() as Batch)?.[0]}`) });
      return { input, output: new OutputChannel(address, t, owner) };
    });
    const sent: string[] = [];
    for (let n = 0; n < 50; n++) {
      for (const [i, c] of channels.entries()) {
        c.output.send([n]);
        sent.push(`${i}:${n}`);
      }
    }
    await world.drive(() => channels.every((c) => c.input.length === 50));
    for (const [i, c] of channels.entries()) {
      const got: unknown[] = [];
      while (c.input.length > 0) got.push((c.input.shift() as Batch)[0]);
      assert.deepEqual(got, Array.from({ length: 50 }, (_, n) => n), `channel ${i} in order`);
    }
    const order = (list: string[]) => list.map((x) => x.startsWith("0:") ? 0 : 1).join("");
    assert.notEqual(order(arrivals.slice(0, 100)), order(sent), "the two channels' messages interleave differently than sent");
  });

  test("a seed whose RPCs fail restarts from its latest checkpoint and ends exactly-once, replayably", async () => {
    const a = await runSeed(17, "unaligned");
    assert.ok(a.ok, failureReport(a, 40));
    assert.ok((a.faults.rpc_failed ?? 0) > 0, "the seed no longer fails an RPC; pick another");
    assert.ok(a.config.network !== undefined);
    const b = await runSeed(17, "unaligned");
    assert.equal(a.hash, b.hash);
  });

  test("--no-network: a seed draws no network and its other settings stay as they were", async () => {
    const a = await runSeed(17, "unaligned", undefined, { network: false });
    assert.equal(a.config.network, undefined);
    assert.equal(a.faults.rpc_failed, undefined);
    const withNet = await runSeed(17, "unaligned");
    assert.deepEqual({ ...withNet.config, network: undefined }, { ...a.config, network: undefined });
  });
});
