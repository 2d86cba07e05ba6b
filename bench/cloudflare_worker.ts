/**
 * The Worker bench/cloudflare.ts runs under local workerd:
 * - `BenchJob`: a weir job (SequenceSource at parallelism 2 → [x % 7, 1] → keyBy → rolling
 *   count at parallelism 3, keyed state checkpointed to the object's SQLite storage) inside
 *   one Durable Object; `/weir?n=&unaligned=&object=` runs it to the end.
 * - `Counter`: what a Cloudflare user writes without weir, a Durable Object per key taking one
 *   RPC and one durable `storage.put` per event; `/per-event?n=` sends n events to 7 keys.
 */
import { DurableObject } from "cloudflare:workers";
import { DurableObjectStorageAdapter } from "../platforms/cloudflare/do_storage.ts";
import type { DurableObjectSqlStorage } from "../platforms/cloudflare/do_storage.ts";
import { countingBenchJob } from "./cloudflare_job.ts";

interface Env {
  BENCH_JOB: DurableObjectNamespace;
  COUNTER: DurableObjectNamespace<Counter>;
}
interface DurableObjectNamespace<T = unknown> {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(r: Request): Promise<Response> } & T;
}

export class BenchJob {
  readonly #storage: DurableObjectStorageAdapter;
  constructor(ctx: { storage: DurableObjectSqlStorage }) {
    this.#storage = new DurableObjectStorageAdapter(ctx.storage, "bench");
  }

  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n"));
    const unaligned = url.searchParams.get("unaligned") === "true";
    const { env, sink } = countingBenchJob(n, {
      storage: this.#storage, fresh: true,
      checkpoint: { interval: Number(url.searchParams.get("interval") ?? 1000), unaligned },
      slowEvery: Number(url.searchParams.get("slowEvery") ?? 0), slowMs: Number(url.searchParams.get("slowMs") ?? 0),
    });
    const job = await env.execute();
    const result = await job.done;
    const stats = job.checkpointStats();
    return Response.json({ status: result.status, records: sink.count, checkpoints: result.checkpoints.completed, persisted: stats.history.map((h) => h.persisted_data), durations: stats.history.map((h) => h.end_to_end_duration) });
  }
}

export class Counter extends DurableObject {
  async add(n: number): Promise<number> {
    const count = ((await this.ctx.storage.get<number>("count")) ?? 0) + n;
    await this.ctx.storage.put("count", count);
    return count;
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/weir") {
      const object = url.searchParams.get("object") ?? "bench";
      return env.BENCH_JOB.get(env.BENCH_JOB.idFromName(object)).fetch(request);
    }
    if (url.pathname === "/per-event") {
      const n = Number(url.searchParams.get("n"));
      const inFlight = Number(url.searchParams.get("concurrency") ?? 1);
      const run = url.searchParams.get("run") ?? "0";
      const counters = Array.from({ length: 7 }, (_, k) => env.COUNTER.get(env.COUNTER.idFromName(`${run}-${k}`)));
      let next = 0;
      const worker = async () => {
        while (next < n) {
          const x = next++;
          await counters[x % 7].add(1);
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
      const totals = await Promise.all(counters.map((c) => c.add(0)));
      return Response.json({ records: totals.reduce((a, b) => a + b, 0) });
    }
    return new Response("not found", { status: 404 });
  }
};
