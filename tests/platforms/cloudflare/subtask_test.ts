import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { sleep } from "../../helpers.ts";
import { startWorker, type WorkerdHost, workerdSkip } from "./workerd.ts";

let host: Promise<WorkerdHost> | undefined;
const worker = () => (host ??= startWorker("./fixtures/subtask_worker.ts", { WEIR_SUBTASK: "PipeSubtask" }));
after(async () => {
  if (host) await (await host).dispose();
});

interface Stats { calls: number; batches: number; messages: number; largestFrameBytes: number }
interface Count { records: number; batches: number; outOfOrder: number; largestRecordBytes: number; failures: string[]; stats: Stats }
interface Sent { sent: number; failures: string[]; backpressuredWaits: number; stats: Stats }

async function get<T>(path: string): Promise<T> {
  const res = await (await worker()).fetch(path);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as T;
}

/** A sink in object `snk`, a source in `src`, n records; resolves with both sides' figures once all arrived. */
async function pipe(job: string, query: string, n: number): Promise<{ sent: Sent; count: Count }> {
  await get(`/pipe/sink?object=${job}/snk/0&job=${job}&${query}`);
  const sent = await get<Sent>(`/pipe/source?object=${job}/src/0&job=${job}&n=${n}&${query}`);
  let count = await get<Count>(`/pipe/count?object=${job}/snk/0`);
  for (let i = 0; i < 3000 && count.records < n && sent.failures.length === 0; i++) {
    await sleep(10);
    count = await get<Count>(`/pipe/count?object=${job}/snk/0`);
  }
  return { sent, count };
}

if (workerdSkip) {
  describe("WeirSubtask under workerd", () => test("skipped", { skip: workerdSkip }, () => {}));
} else {
  describe("WeirSubtask under workerd", () => {
    test("records cross between WeirSubtask objects over the RPC transport in order, within credit, batches per call", { timeout: 120_000 }, async () => {
      // Object names are the transport's placement: job/vertex/index, here job "pipe".
      const n = 200_000;
      const { sent, count } = await pipe("pipe", "capacity=4&batch=1000", n);
      assert.deepEqual(sent.failures, []);
      assert.equal(count.records, n);
      assert.equal(count.outOfOrder, 0);
      assert.equal(sent.stats.batches, 200);
      assert.ok(sent.backpressuredWaits > 0, "the source waited for credit from the other object");
      assert.ok(sent.stats.calls <= sent.stats.batches, `${sent.stats.calls} calls for ${sent.stats.batches} batches`);
    });

    test("a 40 MiB batch crosses in frames under Cloudflare's 32 MiB RPC limit and arrives whole", { timeout: 120_000 }, async () => {
      const big = 40 * 1024 * 1024;
      const { sent, count } = await pipe("big", `capacity=2&bigRecordBytes=${big}`, 1);
      assert.deepEqual(sent.failures, []);
      assert.equal(count.records, 1);
      assert.equal(count.largestRecordBytes, big);
      const stats = await get<Stats>("/pipe/stats?object=big/src/0&job=big");
      assert.ok(stats.largestFrameBytes < 32 * 1024 * 1024, `largest frame ${stats.largestFrameBytes} bytes`);
      assert.ok(stats.calls >= 5, `${stats.calls} calls`);
    });

    test("a frame the receiving object refuses fails the sender's attempt with the receiver's error", { timeout: 120_000 }, async () => {
      // The receiver grants 1 batch of credit, the sender believes 4: the receiver's channel
      // refuses the second batch (credit it never granted) and answers the call with 500.
      const { sent } = await pipe("refused", "capacity=4&sinkCapacity=1&batch=10", 1000);
      assert.equal(sent.failures.length, 1, JSON.stringify(sent));
      assert.match(sent.failures[0], /refused\/snk\/0.*over its capacity 1/);
    });
  });
}
