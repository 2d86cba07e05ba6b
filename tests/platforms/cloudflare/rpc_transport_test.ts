import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DurableObjectRpcTransport } from "../../../platforms/cloudflare/rpc_transport.ts";
import { Mailbox } from "../../../platforms/cloudflare/mailbox.ts";
import { pipeAddress, pump, sink } from "./fixtures/pipe.ts";

/**
 * Two "objects" in this process, each with its own transport and mailbox; a call crosses a
 * macrotask, as an RPC does, and can be made to fail.
 */
function objects(options: { frameBytesMax?: number; failCalls?: boolean; epochs?: Record<string, string> } = {}) {
  const hosts = new Map<string, { transport: DurableObjectRpcTransport; mailbox: Mailbox }>();
  for (const self of ["pipe/src/0", "pipe/snk/0"]) {
    const transport = new DurableObjectRpcTransport({
      self,
      placement: (job, s) => `${job}/${s.vertexId}/${s.subtaskIndex}`,
      frameBytesMax: options.frameBytesMax,
      epoch: options.epochs ? () => options.epochs![self] : undefined,
      call: async (to, frame) => {
        await new Promise((r) => setTimeout(r, 0));
        if (options.failCalls) throw new Error(`object ${to} was evicted`);
        const host = hosts.get(to)!;
        await host.mailbox.post(() => host.transport.receive(frame.slice()));
      },
    });
    hosts.set(self, { transport, mailbox: new Mailbox() });
  }
  return { src: hosts.get("pipe/src/0")!.transport, snk: hosts.get("pipe/snk/0")!.transport };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(cond(), what);
}

describe("DurableObjectRpcTransport", () => {
  test("carries batches between objects in order, within credit, several batches per call", async () => {
    const { src, snk } = objects();
    const address = pipeAddress(4);
    const s = sink(snk, address);
    const n = 200_000;
    const p = await pump(src, address, n, 1000);
    await until(() => s.records === n, `${s.records} of ${n} records arrived`);
    assert.equal(s.outOfOrder, 0);
    assert.deepEqual([p.failures, s.failures], [[], []]);
    assert.ok(p.backpressuredWaits > 0, "the sender waited for credit");
    assert.equal(src.stats.batches, 200);
    assert.ok(src.stats.calls < src.stats.batches, `${src.stats.calls} calls for ${src.stats.batches} batches`);
  });

  test("a receiver that stops consuming stops its sender: no more batches than its capacity in flight", async () => {
    const { src, snk } = objects();
    const address = pipeAddress(3);
    const s = sink(snk, address);
    s.hold = true;
    const sending = pump(src, address, 100_000, 1000);
    await until(() => s.input.queuedBatches === 3, "three batches queued at the receiver");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.input.queuedBatches, 3);
    assert.equal(src.stats.batches, 3, "no batch beyond the granted credit went out");
    s.hold = false;
    s.drain();
    await sending;
    await until(() => s.records === 100_000, "all records arrived after the receiver resumed");
  });

  test("a batch larger than a frame arrives whole; every frame stays under the bound", async () => {
    const { src, snk } = objects({ frameBytesMax: 64 * 1024 });
    const address = pipeAddress(2);
    const s = sink(snk, address);
    await pump(src, address, 1, 1, { bigRecordBytes: 1024 * 1024 });
    await until(() => s.records === 1, "the big record arrived");
    assert.equal(s.largestRecordBytes, 1024 * 1024);
    assert.ok(src.stats.largestFrameBytes <= 64 * 1024, `largest frame ${src.stats.largestFrameBytes}`);
    assert.ok(src.stats.calls >= 16);
  });

  test("a priority barrier overtakes what the receiver has queued, marked by sequence number", async () => {
    const { src, snk } = objects();
    const address = pipeAddress(2);
    const s = sink(snk, address);
    s.hold = true;
    const p = pump(src, address, 2000, 1000);
    await until(() => s.input.queuedBatches === 2, "two batches queued");
    await p;
    const { output } = await p;
    const barrier = { kind: "barrier" as const, checkpointId: 1, timestamp: 0, type: "CHECKPOINT" as const, exactlyOnce: true, unaligned: true, alignedTimeoutMs: 0 };
    output.sendPriority(barrier);
    await until(() => s.priority.length === 1, "the priority barrier arrived");
    assert.equal(s.priority[0].overtakes, 2);
    assert.equal(s.input.overtakenData(s.priority[0].overtakes).batches.length, 2);
  });

  test("a failed call fails the sending end (the attempt), naming the object", async () => {
    const { src, snk } = objects({ failCalls: true });
    const address = pipeAddress(2);
    sink(snk, address);
    const p = await pump(src, address, 5000, 1000);
    assert.equal(p.failures.length, 1);
    assert.match(p.failures[0], /pipe\/snk\/0.*evicted/);
  });

  test("a frame of another epoch (a job master's earlier incarnation) is refused and fails the stale sender; equal epochs pass", async () => {
    const stale = objects({ epochs: { "pipe/src/0": "master-1", "pipe/snk/0": "master-2" } });
    const address = pipeAddress(2);
    const got = sink(stale.snk, address);
    const p = await pump(stale.src, address, 5000, 1000);
    assert.equal(p.failures.length, 1);
    assert.match(p.failures[0], /epoch master-1 reached pipe\/snk\/0, which runs epoch master-2/);
    assert.equal(got.records, 0);
    const same = objects({ epochs: { "pipe/src/0": "master-2", "pipe/snk/0": "master-2" } });
    const ok = sink(same.snk, address);
    await pump(same.src, address, 5000, 1000);
    await until(() => ok.records === 5000, "records of the same epoch arrive");
  });

  test("frames above Cloudflare's 32 MiB RPC limit are refused as an option", () => {
    assert.throws(() => new DurableObjectRpcTransport({ self: "a", placement: () => "b", call: () => Promise.resolve(), frameBytesMax: 33 * 1024 * 1024 }), /frameBytesMax/);
  });
});
