/**
 * Shared by the REST API, CLI and dashboard tests: a running job on a free port, JSON
 * requests, and bounded polling.
 * @module
 */
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { CheckpointOptions, JobHandle, StateBackendOptions } from "../../mod.ts";
import { serverClosed } from "../../http/server.ts";

/** A job that keeps running (rate-limited source over a huge range) with the REST API on port 0. */
export async function startJob(options: { token?: string; checkpoint?: CheckpointOptions; jobName?: string; parallelism?: number; state?: StateBackendOptions } = {}): Promise<{ job: JobHandle; url: string }> {
  const env = new StreamEnvironment({
    jobName: options.jobName ?? "http-test",
    parallelism: options.parallelism ?? 2,
    storage: new MemoryStorage(),
    checkpoint: options.checkpoint ?? { interval: 0 },
    http: { port: 0, hostname: "127.0.0.1", token: options.token },
    state: options.state,
  });
  env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 2000 }), { uid: "numbers" })
    .map((n) => n * 2, { uid: "double" })
    .keyBy((n) => n % 10)
    .reduce((a, b) => a + b, { uid: "sum" })
    .sinkTo(new CollectSink<number>(), { uid: "out" });
  const job = await env.execute();
  if (!job.url) throw new Error("The job has no REST API URL");
  await until(() => job.status === "RUNNING", "job running");
  return { job, url: job.url };
}

/**
 * A job whose graph fans out: the source vertex feeds a keyed sum (HASH) and, rebalanced,
 * a second sink; the sum's vertex then feeds a third sink at another parallelism
 * (REBALANCE). Vertices: v0 source, v1 sum, v2 side sink, v3 sum sink.
 */
export async function startFanOutJob(options: { jobName?: string } = {}): Promise<{ job: JobHandle; url: string }> {
  const env = new StreamEnvironment({
    jobName: options.jobName ?? "fan-out",
    parallelism: 2,
    storage: new MemoryStorage(),
    checkpoint: { interval: 0 },
    http: { port: 0, hostname: "127.0.0.1" },
  });
  const numbers = env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 2000 }), { uid: "numbers" });
  const sums = numbers.keyBy((n) => n % 10).reduce((a, b) => a + b, { uid: "sum" });
  numbers.rebalance().sinkTo(new CollectSink<number>(), { uid: "side" });
  sums.sinkTo(new CollectSink<number>(), { uid: "sums-out", parallelism: 1 });
  const job = await env.execute();
  if (!job.url) throw new Error("The job has no REST API URL");
  await until(() => job.status === "RUNNING", "job running");
  return { job, url: job.url };
}

/**
 * Cancels the job (if still running). Its server closes on its own shortly after; waiting
 * for that would cost every test the server's linger time.
 */
export async function stopJob(job: JobHandle): Promise<void> {
  await job.cancel();
}

/** Waits until the job's server has closed (after its linger time). */
export function jobServerClosed(job: JobHandle): Promise<void> {
  return serverClosed(job.url);
}

/** A request with an optional JSON body; resolves to status, headers and the parsed body. */
export async function api(
  url: string,
  path: string,
  init: { method?: string; json?: unknown; body?: string; token?: string; headers?: Record<string, string> } = {},
  // deno-lint-ignore no-explicit-any -- JSON answers are checked field by field in each test
): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(`${url}${path}`, { method: init.method ?? "GET", headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}

/**
 * Polls `check` every 25 ms until it is truthy; fails after `timeoutMs` naming `what`. The
 * default stays below bun test's 5 s default timeout so that the clearer message wins.
 */
export async function until<T>(check: () => T | Promise<T>, what: string, timeoutMs = 4_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Triggers a checkpoint over HTTP and polls it to COMPLETED; resolves to the trigger's operation. */
export async function checkpointOverHttp(url: string, jobId: string, token?: string): Promise<Record<string, unknown>> {
  const posted = await api(url, `/jobs/${jobId}/checkpoints`, { method: "POST", token });
  if (posted.status !== 202) throw new Error(`POST checkpoints answered ${posted.status}: ${JSON.stringify(posted.body)}`);
  const state = await until(async () => {
    const r = await api(url, `/jobs/${jobId}/checkpoints/${posted.body["request-id"]}`);
    return r.body.status.id === "COMPLETED" ? r.body : undefined;
  }, "checkpoint trigger to complete");
  return state.operation;
}
