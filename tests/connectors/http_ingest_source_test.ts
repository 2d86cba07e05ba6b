import { describe, test } from "node:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import "../../mod.ts";
import { CollectSink, HttpIngestSource, MemoryStorage, StreamEnvironment, type WeirError } from "../../mod.ts";
import { FailOnce, sleep, until } from "../helpers.ts";

interface Event {
  n: number;
}

async function post(url: string, body: string, contentType = "application/json"): Promise<Response> {
  return await fetch(url, { method: "POST", body, headers: { "Content-Type": contentType } });
}

/** Waits until cond() holds, polling; fails after timeoutMs of wall time. */
function ingestJob(options: { storage?: MemoryStorage; failInMap?: FailOnce; maxLogBytes?: number; interval?: number; uid?: string } = {}) {
  const storage = options.storage ?? new MemoryStorage();
  const env = new StreamEnvironment({
    jobName: "ingest",
    parallelism: 2,
    storage,
    checkpoint: { interval: options.interval ?? 20 },
    restart: { strategy: "fixed-delay", attempts: 3, delay: 5 },
    http: { port: 0 },
  });
  const sink = new CollectSink<number>();
  env.fromSource(new HttpIngestSource<Event>({ maxLogBytes: options.maxLogBytes }), { uid: options.uid ?? "events" })
    .map((e) => {
      options.failInMap?.check(e.n, "map");
      return e.n;
    }, { uid: "n" })
    .sinkTo(sink, { uid: "out" });
  return { env, sink, storage };
}

describe("HttpIngestSource", () => {
  test("POSTed JSON and NDJSON are answered 202 and reach the job, each event once", async () => {
    const { env, sink } = ingestJob({ uid: "events-a" });
    const job = await env.execute();
    try {
      const url = `${job.url}/ingest/events-a`;
      const one = await post(url, JSON.stringify({ n: 0 }));
      assert.equal(one.status, 202);
      assert.deepEqual(await one.json(), { accepted: 1 });
      assert.equal((await post(url, JSON.stringify([{ n: 1 }, { n: 2 }]))).status, 202);
      const nd = await post(url, '{"n":3}\n\n{"n":4}\n', "application/x-ndjson");
      assert.deepEqual(await nd.json(), { accepted: 2 });
      await until("5 committed events", () => sink.committed.length >= 5);
      await sleep(100);
      assert.deepEqual([...sink.committed].sort((a, b) => a - b), [0, 1, 2, 3, 4]);
    } finally {
      await job.cancel();
    }
  });

  test("events accepted before a failure replay after the restart: none lost, none twice", async () => {
    const fail = new FailOnce((n) => n === 150);
    const { env, sink } = ingestJob({ failInMap: fail, uid: "events-b" });
    const job = await env.execute();
    try {
      const url = `${job.url}/ingest/events-b`;
      for (let b = 0; b < 10; b++) {
        const body = Array.from({ length: 30 }, (_, i) => JSON.stringify({ n: b * 30 + i })).join("\n");
        assert.equal((await post(url, body, "application/x-ndjson")).status, 202);
      }
      await until("300 committed events", () => sink.committed.length >= 300);
      await sleep(100);
      assert.ok(fail.fired, "the map failed once");
      assert.deepEqual([...sink.committed].sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i));
      assert.equal(job.restarts, 1, "the job restarted once");
    } finally {
      await job.cancel();
    }
  });

  test("a completed checkpoint trims the segments it consumed from storage", async () => {
    const storage = new MemoryStorage();
    const { env, sink } = ingestJob({ storage, uid: "events-c" });
    const job = await env.execute();
    try {
      const url = `${job.url}/ingest/events-c`;
      for (let i = 0; i < 5; i++) assert.equal((await post(url, JSON.stringify({ n: i }))).status, 202);
      assert.ok((await storage.list("ingest/_ingest/events-c/")).length >= 1);
      await until("5 committed events", () => sink.committed.length >= 5);
      await until("the log trimmed", async () => (await storage.list("ingest/_ingest/events-c/")).length === 0);
    } finally {
      await job.cancel();
    }
  });

  test("restoring a savepoint whose events a later checkpoint consumed fails naming the log, rather than skipping them", async () => {
    const storage = new MemoryStorage();
    const first = ingestJob({ storage, uid: "events-t" });
    const job = await first.env.execute();
    const url = `${job.url}/ingest/events-t`;
    for (let i = 0; i < 5; i++) assert.equal((await post(url, JSON.stringify({ n: i }))).status, 202);
    await until("5 committed events", () => first.sink.committed.length >= 5);
    const savepoint = await job.triggerSavepoint(mkdtempSync(join(tmpdir(), "weir-ingest-sp-")));
    for (let i = 5; i < 10; i++) assert.equal((await post(url, JSON.stringify({ n: i }))).status, 202);
    await until("10 committed events", () => first.sink.committed.length >= 10);
    await until("the log trimmed past the savepoint", async () => (await storage.list("ingest/_ingest/events-t/")).length === 0);
    await job.cancel();
    const again = ingestJob({ storage, uid: "events-t" });
    const restored = new StreamEnvironment({ jobName: "ingest", parallelism: 2, storage, restoreFrom: savepoint.external_path!, restart: { strategy: "none" }, http: { port: 0 } });
    restored.fromSource(new HttpIngestSource<Event>(), { uid: "events-t" }).map((e) => e.n, { uid: "n" }).sinkTo(again.sink, { uid: "out" });
    const result = await (await restored.execute().catch((e) => ({ done: Promise.resolve({ status: "failed", error: e }) }))).done;
    assert.equal(result.status, "failed");
    assert.match(String(result.error?.message), /consumed the log below segment \d+ .*the events accepted in between are gone/);
  });

  test("a full log answers 503 with Retry-After and keeps what it accepted", async () => {
    // No periodic checkpoint: nothing trims the log, so it fills.
    const storage = new MemoryStorage();
    const { env } = ingestJob({ storage, maxLogBytes: 2048, interval: 0, uid: "events-d" });
    const job = await env.execute();
    try {
      const url = `${job.url}/ingest/events-d`;
      const body = JSON.stringify({ n: 1, pad: "x".repeat(200) });
      let accepted = 0;
      let res: Response | undefined;
      for (let i = 0; i < 50; i++) {
        res = await post(url, body);
        if (res.status !== 202) break;
        await res.body?.cancel();
        accepted++;
      }
      assert.ok(res, "posted");
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("retry-after"), "1");
      const err = await res.json() as { code: string; errors: string[] };
      assert.equal(err.code, "ingest_log_full");
      assert.ok(accepted > 0 && accepted < 50, `accepted ${accepted} before the log was full`);
      const stored = await Promise.all((await storage.list("ingest/_ingest/events-d/")).map(async (k) => JSON.parse(new TextDecoder().decode(await storage.get(k))).length as number));
      assert.equal(stored.reduce((a, b) => a + b, 0), accepted, "every accepted event is stored");
    } finally {
      await job.cancel();
    }
  });

  test("a body that is not JSON gets 400 naming the line, and nothing is stored", async () => {
    const storage = new MemoryStorage();
    const { env } = ingestJob({ storage, interval: 0, uid: "events-e" });
    const job = await env.execute();
    try {
      const url = `${job.url}/ingest/events-e`;
      const res = await post(url, '{"n":1}\n{"n":\n', "application/x-ndjson");
      assert.equal(res.status, 400);
      const err = await res.json() as { code: string; errors: string[] };
      assert.equal(err.code, "invalid_json");
      assert.match(err.errors[0], /line 2/);
      assert.equal((await post(url, "{nope")).status, 400);
      assert.deepEqual(await storage.list("ingest/_ingest/events-e/"), []);
      assert.equal((await fetch(`${job.url}/ingest/elsewhere`, { method: "POST", body: "1" })).status, 404);
    } finally {
      await job.cancel();
    }
  });

  test("bad options are refused naming the option", () => {
    for (const options of [{ path: "ingest" }, { path: "/jobs/x" }, { maxLogBytes: 10 }, { bogus: 1 }]) {
      assert.throws(() => new HttpIngestSource(options as never), (e: WeirError) => e.code === "invalid_option" && /HttpIngestSource/.test(e.message));
    }
  });
});
