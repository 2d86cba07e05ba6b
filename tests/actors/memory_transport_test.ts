import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../actors/memory_transport.ts";
import { runTransportConformance } from "./transport_conformance.ts";
import { assertExactlyOnce, countingJob, FailOnce } from "../helpers.ts";

runTransportConformance("MemoryTransport", () => ({ transport: new MemoryTransport(), idle: () => true }));

describe("MemoryTransport shared by a job's attempts", () => {
  test("every attempt closes its channels when it stops: after a restart and the end, none is left open", async () => {
    const transport = new MemoryTransport();
    const fail = new FailOnce((x) => x === 5_000);
    const { env, sink, n } = countingJob({ checkpoint: { interval: 20 }, batchSize: 64, ratePerSecond: 50_000, failInMap: fail, runtime: { transport } });
    const job = await env.execute();
    assert.ok(transport.openChannels > 0, "the running attempt's channels are open");
    const result = await job.done;
    assert.equal(result.status, "finished", String(result.error));
    assert.equal(result.restarts, 1);
    assert.equal(transport.openChannels, 0, "no channel of either attempt is left open");
    assertExactlyOnce(sink.committed, n);
  });
});
