import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, StorageSink } from "../../mod.ts";
import { assertExactlyOnce } from "../helpers.ts";
import { countJob, type Pair } from "../platforms/cloudflare/fixtures/count_job.ts";

describe("StorageSink", () => {
  test("StorageSink commits exactly-once into the job's storage through an injected failure", async () => {
    const storage = new MemoryStorage();
    const n = 20_000;
    const job = await countJob({ n, sink: new StorageSink<Pair>(), storage, failAt: 12_345, checkpoint: { interval: 5 } }).execute();
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.ok(result.restarts >= 1);
    const committed = await StorageSink.readCommitted<Pair>(storage, "sinks/out");
    assertExactlyOnce(committed, n);
    const keys = await storage.list("sinks/out/");
    assert.ok(keys.length >= 1 && keys.every((k) => /^sinks\/out\/out-\d-\d{10}-[0-9a-f]{32}\.jsonl$/.test(k)), keys.join());
  });

  test("StorageSink refuses a prefix that is not a storage key", () => {
    assert.throws(() => new StorageSink({ prefix: "/abs" }), /StorageSink prefix/);
  });
});
