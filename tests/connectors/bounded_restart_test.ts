/**
 * DESIGN, "Bounded stream sources stop at the end position resolved when the job first
 * started": a job that restarts before its first checkpoint starts its sources over, and
 * they must not resolve their end (or Redis's "$") again. They did, so a bounded source read
 * the records added in between, and a "$" source skipped them (a new user's trial).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNats } from "../../connectors/clients/nats.ts";
import { connectRedis } from "../../connectors/clients/redis.ts";
import { CollectSink, FileSource, MemoryStorage, NatsJetStreamSource, RedisStreamSource, type Source, StreamEnvironment } from "../../mod.ts";
import { NATS_SERVERS, REDIS_URL, uniqueName } from "./servers.ts";

/** Where a source reads: `add` appends the next ids, `id` reads one back from a record. */
interface Input {
  source(): Source<unknown>;
  add(n: number): Promise<void>;
  id(record: unknown): number;
  close(): Promise<void>;
}

async function redisInput(o: { startId?: string; bounded: boolean }): Promise<Input> {
  const redis = await connectRedis(REDIS_URL);
  const stream = uniqueName("bounded_restart");
  let next = 0;
  return {
    source: () => new RedisStreamSource({ url: REDIS_URL, stream, bounded: o.bounded, startId: o.startId, batchSize: 10 }),
    async add(n) {
      const p = redis.pipeline();
      for (let i = 0; i < n; i++) p.xadd(stream, "*", "id", String(next++));
      await p.exec();
    },
    id: (r) => Number((r as { fields: Record<string, string> }).fields.id),
    async close() {
      await redis.del(stream);
      redis.disconnect();
    },
  };
}

async function natsInput(): Promise<Input> {
  const nats = await connectNats(NATS_SERVERS);
  const stream = uniqueName("bounded_restart");
  await nats.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  let next = 0;
  return {
    source: () => new NatsJetStreamSource({ servers: NATS_SERVERS, stream, bounded: true, batchSize: 10 }),
    async add(n) {
      for (let i = 0; i < n; i++) await nats.js.publish(`${stream}.ids`, String(next++));
    },
    id: (r) => Number((r as { data: string }).data),
    async close() {
      await nats.jsm.streams.delete(stream);
      await nats.close();
    },
  };
}

function fileInput(): Promise<Input> {
  const dir = mkdtempSync(join(tmpdir(), "weir-bounded-restart-"));
  let next = 0;
  return Promise.resolve({
    source: () => new FileSource(dir, { format: "jsonl" }),
    add(n) {
      let text = "";
      for (let i = 0; i < n; i++) text += `${next++}\n`;
      writeFileSync(join(dir, `part-${String(next).padStart(6, "0")}.jsonl`), text);
      return Promise.resolve();
    },
    id: (r) => r as number,
    close() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
}

/**
 * Runs the source with no checkpoints; the record with id `failAt` adds 100 more records
 * and throws once, so the job restarts from nothing. Returns the ids that reached the sink.
 */
async function runThroughRestart(input: Input, failAt: number): Promise<number[]> {
  const sink = new CollectSink<number>();
  const env = new StreamEnvironment({ jobName: "bounded-restart", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "fixed-delay", attempts: 2, delay: 10 }, batchSize: 8 });
  let armed = true;
  env.fromSource(input.source(), { uid: "source" })
    .map(async (r: unknown) => {
      const id = input.id(r);
      if (armed && id === failAt) {
        armed = false;
        await input.add(100);
        throw new Error("injected failure before the first checkpoint");
      }
      return id;
    }, { uid: "id" })
    .sinkTo(sink, { uid: "out" });
  const job = await env.execute();
  const result = await job.done;
  assert.equal(result.status, "finished", result.error?.message);
  assert.equal(job.restarts, 1);
  return sink.committed;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe("bounded sources restarted before their first checkpoint", () => {
  for (const [name, open] of [["RedisStreamSource", () => redisInput({ bounded: true })], ["NatsJetStreamSource", natsInput], ["FileSource", fileInput]] as const) {
    test(`${name} stops where the input ended when the job first started, not after the records added before the restart`, async () => {
      const input = await open();
      try {
        await input.add(100);
        const ids = await runThroughRestart(input, 50);
        assert.deepEqual([...ids].sort((a, b) => a - b), range(0, 100));
      } finally {
        await input.close();
      }
    });
  }

  test('RedisStreamSource with startId "$" reads what was added after the first start, also across a restart before a checkpoint', async () => {
    const input = await redisInput({ startId: "$", bounded: false });
    try {
      await input.add(10);
      const env = new StreamEnvironment({ jobName: "dollar-restart", parallelism: 1, storage: new MemoryStorage(), restart: { strategy: "fixed-delay", attempts: 2, delay: 10 }, batchSize: 8 });
      let armed = true;
      /** Ids the attempt after the restart read (no checkpoint: nothing is committed). */
      const afterRestart = new Set<number>();
      env.fromSource(input.source(), { uid: "source" })
        .map((r: unknown) => {
          const id = input.id(r);
          if (armed && id === 15) {
            armed = false;
            throw new Error("injected failure before the first checkpoint");
          }
          if (!armed) afterRestart.add(id);
          return id;
        }, { uid: "id" })
        .sinkTo(new CollectSink<number>(), { uid: "out" });
      const job = await env.execute();
      // The reader resolves "$" as it opens; what is added after that is read.
      await new Promise((r) => setTimeout(r, 300));
      await input.add(100);
      const deadline = Date.now() + 20_000;
      // Through the restart (the job is not RUNNING for a moment), until all arrived or it ended.
      const ended = () => ["FAILED", "CANCELED", "FINISHED", "STOPPED"].includes(job.status);
      while (afterRestart.size < 100 && Date.now() < deadline && !ended()) await new Promise((r) => setTimeout(r, 20));
      await job.cancel();
      assert.equal(job.restarts, 1);
      assert.deepEqual([...afterRestart].sort((a, b) => a - b), range(10, 110), "every entry added after the first start, none before");
    } finally {
      await input.close();
    }
  });
});
