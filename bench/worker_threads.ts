/**
 * Records per second of a 2-stage job (source + map → keyBy → rolling sum) in one thread,
 * and with its keyed stage in a Worker thread (WorkerHost + WorkerThreadTransport), in one
 * run: `bun bench/worker_threads.ts [records]` or `deno run -A bench/worker_threads.ts`.
 */
import { systemScheduler } from "../platforms/system.ts";
import { WorkerHost } from "../platforms/worker_threads/worker_host.ts";
import { WorkerThreadTransport } from "../platforms/worker_threads/transport.ts";
import { benchJob } from "./worker_threads_job.ts";

const n = Number((globalThis as { process?: { argv: string[] } }).process?.argv[2] ?? 2_000_000);

async function oneThread(): Promise<number> {
  const env = benchJob({ n });
  const t0 = performance.now();
  const r = await (await env.execute()).done;
  if (r.status !== "finished") throw new Error(`one thread: ${r.status} ${r.error}`);
  return n / ((performance.now() - t0) / 1000);
}

async function twoThreads(): Promise<number> {
  const env = benchJob({ n });
  const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
  const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed ? "w1" : "main");
  const transport = new WorkerThreadTransport({ scheduler: systemScheduler, threadOf: hostOf });
  const host = new WorkerHost({ hostId: "w1", module: new URL("./worker_threads_job.ts", import.meta.url).href, export: "benchJob", args: { n }, transport });
  (env.options as { runtime?: unknown }).runtime = { transport, hostOf, remoteHosts: { w1: host } };
  try {
    const t0 = performance.now();
    const r = await (await env.execute()).done;
    if (r.status !== "finished") throw new Error(`two threads: ${r.status} ${r.error}`);
    return n / ((performance.now() - t0) / 1000);
  } finally {
    host.terminate();
  }
}

const one = await oneThread();
const two = await twoThreads();
const runtime = "Bun" in globalThis ? "Bun" : "Deno" in globalThis ? "Deno" : "?";
console.log(`${runtime}, ${n} records: one thread ${Math.round(one).toLocaleString("en")} records/s; keyed stage in a Worker ${Math.round(two).toLocaleString("en")} records/s (x${(two / one).toFixed(2)})`);
