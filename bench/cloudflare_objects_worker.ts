/**
 * The Worker of bench/cloudflare.ts's "across objects" rows: the bench's counting job as
 * weir deploys it on Cloudflare, its master in `WeirJob` and each of its five subtasks in
 * a `WeirSubtask` object (BenchSubtask). Variables: N (records), INTERVAL (checkpoint ms),
 * UNALIGNED, SLOW_EVERY/SLOW_MS (backpressure), CAPACITY/BATCH (channelCapacity, batchSize),
 * RATE (records/s of the source), BUFFER_TIMEOUT (the environment's bufferTimeout; WeirJob's
 * default when unset). `GET /_bench/stats` sums the subtask objects' transport figures and
 * what their sinks counted.
 */
import type { DurableObjectNamespaceLike } from "../platforms/cloudflare/bindings.ts";
import { subtaskObjectName, WeirJob, WeirSubtask, weirWorker } from "../platforms/cloudflare/mod.ts";
import { countingBenchJob } from "./cloudflare_job.ts";
import type { CountingSink } from "./counting_sink.ts";

export { WeirJob };

/** Every sink built in this isolate (one per object that built the graph). */
const sinks: CountingSink[] = [];

export class BenchSubtask extends WeirSubtask {
  override fetch(request: Request): Promise<Response> {
    if (new URL(request.url).pathname !== "/_bench/stats") return super.fetch(request);
    return Promise.resolve(Response.json({ transport: this.transport.stats, counted: sinks.reduce((n, s) => n + s.count, 0) }));
  }
}

/** The job's subtask objects: source x2 (v0), keyed count + sink x3 (v1). */
const OBJECTS = [["v0", 2], ["v1", 3]].flatMap(([v, p]) => Array.from({ length: p as number }, (_, i) => subtaskObjectName("bench", v as string, i)));

export default weirWorker(({ storage, bindings }) => {
  const num = (k: string, d: number) => (typeof bindings[k] === "string" ? Number(bindings[k]) : d);
  const { env, sink } = countingBenchJob(num("N", 1_000_000), {
    storage,
    checkpoint: { interval: num("INTERVAL", 1000), unaligned: bindings.UNALIGNED === "true" },
    slowEvery: num("SLOW_EVERY", 0),
    slowMs: num("SLOW_MS", 0),
    ...(typeof bindings.CAPACITY === "string" ? { channelCapacity: num("CAPACITY", 8) } : {}),
    ...(typeof bindings.BATCH === "string" ? { batchSize: num("BATCH", 1024) } : {}),
    ...(typeof bindings.RATE === "string" ? { ratePerSecond: num("RATE", 1000) } : {}),
    ...(typeof bindings.BUFFER_TIMEOUT === "string" ? { bufferTimeout: num("BUFFER_TIMEOUT", 0) } : {}),
  });
  sinks.push(sink);
  return env;
}, {
  routes: async (request, job) => {
    if (new URL(request.url).pathname !== "/_bench/stats") return undefined;
    const ns = job.bindings.WEIR_SUBTASK as DurableObjectNamespaceLike;
    const stats = await Promise.all(OBJECTS.map(async (o) => (await ns.get(ns.idFromName(o)).fetch(new Request("https://bench/_bench/stats"))).json() as Promise<{ transport: { calls: number; batches: number; messages: number; records: number }; counted: number }>));
    return Response.json({
      calls: stats.reduce((n, s) => n + s.transport.calls, 0),
      batches: stats.reduce((n, s) => n + s.transport.batches, 0),
      records: stats.reduce((n, s) => n + s.transport.records, 0),
      // Every object reports the isolate's sinks: workerd runs a Worker's objects in one isolate.
      counted: stats[0].counted,
    });
  },
});
