/**
 * weir on Cloudflare Durable Objects under local workerd (miniflare 3, `cf: false`), beside
 * the same job in one local process and beside what a Cloudflare user writes without weir
 * (a Durable Object per key, one RPC and one durable storage.put per event), in one run:
 *
 *   bun bench/cloudflare.ts [--n 2000000] [--per-event 5000] [--objects-n 5000000]
 *                           [--rate 2000] [--rate-n 6000] [--rate-only]
 *
 * Figures: records/s through the counting job (source at parallelism 2 → keyed count at 3,
 * keyed state checkpointed every second to the object's SQLite storage), events/s of the
 * per-event pattern (sequential and 64 in flight), the same job as weir deploys it across
 * Durable Objects (master in WeirJob, a WeirSubtask object per subtask: records/s, transport
 * calls per batch, checkpoints under backpressure), their ratios, and checkpoint durations
 * aligned vs unaligned under backpressure; and a rate-limited source (`--rate` records/s)
 * across objects with buffer timeout 0, WeirJob's default and 50 ms: transport calls per
 * batch and records per call (`--rate-only` runs just that). Wall time is measured here, outside workerd
 * (inside, clocks stand still between I/O events).
 * @module
 */
import process from "node:process";
import { MemoryStorage } from "../mod.ts";
import { startWorker } from "../tests/platforms/cloudflare/workerd.ts";
import { countingBenchJob } from "./cloudflare_job.ts";
import { median, perSecond, table } from "./stats.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const n = arg("n", 2_000_000);
const perEventN = arg("per-event", 5_000);
const objectsN = arg("objects-n", 5_000_000);
const rate = arg("rate", 2_000);
const rateN = arg("rate-n", 6_000);
const rateOnly = process.argv.includes("--rate-only");

const host = await startWorker(new URL("./cloudflare_worker.ts", import.meta.url), { BENCH_JOB: "BenchJob", COUNTER: "Counter" });
const subtasks = await startWorker(new URL("../tests/platforms/cloudflare/fixtures/subtask_worker.ts", import.meta.url), { WEIR_SUBTASK: "PipeSubtask" });
interface PipeStats { calls: number; batches: number; messages: number; bytes: number }
async function subtaskGet<T>(path: string): Promise<T> {
  const res = await subtasks.fetch(path);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}
/** n records from a source subtask's object to a receiver's object over the RPC transport; rate and calls. */
async function acrossObjects(job: string, records: number): Promise<{ rate: number; dataCalls: number; creditCalls: number; batches: number }> {
  await subtaskGet(`/pipe/sink?object=${job}/snk/0&job=${job}&capacity=8`);
  const t0 = performance.now();
  const sent = await subtaskGet<{ failures: string[] }>(`/pipe/source?object=${job}/src/0&job=${job}&capacity=8&batch=1000&n=${records}`);
  if (sent.failures.length > 0) throw new Error(sent.failures.join());
  let got = 0;
  let sinkStats: PipeStats | undefined;
  while (got < records) {
    const c = await subtaskGet<{ records: number; outOfOrder: number; stats: PipeStats }>(`/pipe/count?object=${job}/snk/0`);
    if (c.outOfOrder > 0) throw new Error("records out of order");
    got = c.records;
    sinkStats = c.stats;
    if (got < records) await new Promise((r) => setTimeout(r, 2));
  }
  const ms = performance.now() - t0;
  const src = await subtaskGet<PipeStats>(`/pipe/stats?object=${job}/src/0&job=${job}`);
  return { rate: records / (ms / 1000), dataCalls: src.calls, creditCalls: sinkStats!.calls, batches: src.batches };
}
let run = 0;
async function timed<T>(path: string): Promise<{ ms: number; body: T }> {
  const t0 = performance.now();
  const res = await host.fetch(path);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text}`);
  return { ms: performance.now() - t0, body: JSON.parse(text) as T };
}
interface WeirRun { status: string; records: number; checkpoints: number; persisted: number[]; durations: number[] }

/**
 * The counting job as weir deploys it across Durable Objects: master in WeirJob, each
 * subtask in a WeirSubtask object. Wall time from the first request (which starts the job)
 * to FINISHED, the objects' transport calls per batch, and the checkpoints' figures.
 */
async function acrossObjectsJob(vars: Record<string, string>): Promise<WeirRun & { ms: number; calls: number; batches: number; transported: number }> {
  const w = await startWorker(new URL("./cloudflare_objects_worker.ts", import.meta.url), { WEIR_JOB: "WeirJob", WEIR_SUBTASK: "BenchSubtask" }, { bindings: vars });
  try {
    const get = async <T>(path: string): Promise<T> => {
      const res = await w.fetch(path);
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text}`);
      return JSON.parse(text) as T;
    };
    const t0 = performance.now();
    const id = (await get<{ jobs: { id: string }[] }>("/jobs")).jobs[0].id;
    let state = "";
    while (state !== "FINISHED") {
      state = (await get<{ state: string }>(`/jobs/${id}`)).state;
      if (state === "FAILED" || state === "CANCELED") throw new Error(`the job across objects ended ${state}`);
      if (state !== "FINISHED") await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - t0;
    const stats = await get<{ calls: number; batches: number; records: number; counted: number }>("/_bench/stats");
    const cps = await get<{ counts: { completed: number }; history: { status: string; persisted_data: number; end_to_end_duration: number }[] }>(`/jobs/${id}/checkpoints`);
    const done = cps.history.filter((h) => h.status === "COMPLETED");
    return {
      status: "finished", records: stats.counted, checkpoints: cps.counts.completed, ms, calls: stats.calls, batches: stats.batches, transported: stats.records,
      persisted: done.map((h) => h.persisted_data), durations: done.map((h) => h.end_to_end_duration),
    };
  } finally {
    await w.dispose();
  }
}

/**
 * The job across objects with a rate-limited source: what the buffer timeout does to the
 * calls between objects (each about 0.3 ms and one fsync on Cloudflare, whatever it carries).
 */
async function rateLimited(): Promise<void> {
  const rows: string[][] = [["bufferTimeout", "wall s", "batches", "transport calls", "calls per batch", "records per batch", "records per call"]];
  for (const timeout of ["0", undefined, "50"]) {
    const vars: Record<string, string> = { N: String(rateN), INTERVAL: "1000", RATE: String(rate) };
    if (timeout !== undefined) vars.BUFFER_TIMEOUT = timeout;
    const r = await acrossObjectsJob(vars);
    if (r.records !== rateN) throw new Error(`the rate-limited job counted ${r.records} of ${rateN}`);
    rows.push([
      timeout === undefined ? "unset (WeirJob's default)" : `${timeout} ms`, (r.ms / 1000).toFixed(2), String(r.batches), String(r.calls),
      (r.calls / r.batches).toFixed(2), (r.transported / r.batches).toFixed(1), (r.transported / r.calls).toFixed(1),
    ]);
  }
  console.log(`rate-limited source across objects: ${rateN} records at ${rate}/s (source x2 -> keyed count x3, 5 objects); calls count data frames and credit frames`);
  console.log(table(rows));
}

if (rateOnly) {
  try {
    await rateLimited();
  } finally {
    await host.dispose();
    await subtasks.dispose();
  }
  process.exit(0);
}

try {
  // weir in one Durable Object: warm up, then three runs.
  await timed<WeirRun>(`/weir?n=200000&object=warm`);
  const edgeRates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await timed<WeirRun>(`/weir?n=${n}&object=run-${run++}`);
    if (r.body.status !== "finished" || r.body.records !== n) throw new Error(`weir run ended ${JSON.stringify(r.body)}`);
    edgeRates.push(n / (r.ms / 1000));
  }
  // Two stages across Durable Objects: a source subtask's object sends to a receiver's object.
  await acrossObjects("warm", 200_000);
  const across = [];
  for (let i = 0; i < 3; i++) across.push(await acrossObjects(`pipe-${run++}`, n));
  const acrossRate = median(across.map((a) => a.rate));
  const last = across[across.length - 1];
  // The same job in this process.
  const localRates: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { env, sink } = countingBenchJob(n, { storage: new MemoryStorage(), checkpoint: { interval: 1000 } });
    const t0 = performance.now();
    await (await env.execute()).done;
    if (sink.count !== n) throw new Error(`local run counted ${sink.count}`);
    localRates.push(n / ((performance.now() - t0) / 1000));
  }
  // The per-event pattern.
  const seq = await timed<{ records: number }>(`/per-event?n=${perEventN}&concurrency=1&run=${run++}`);
  const par = await timed<{ records: number }>(`/per-event?n=${perEventN}&concurrency=64&run=${run++}`);
  for (const r of [seq, par]) if (r.body.records !== perEventN) throw new Error(`per-event counted ${r.body.records}`);
  const seqRate = perEventN / (seq.ms / 1000);
  const parRate = perEventN / (par.ms / 1000);
  // Checkpoint durations under backpressure: the keyed count sleeps 1 ms every 200 records per key.
  const bp = async (unaligned: boolean) =>
    (await timed<WeirRun>(`/weir?n=300000&interval=100&slowEvery=200&slowMs=1&unaligned=${unaligned}&object=bp-${run++}`)).body;
  const aligned = await bp(false);
  const unaligned = await bp(true);
  // The same job as weir deploys it across objects: one run of n records, then backpressure.
  const objects = await acrossObjectsJob({ N: String(objectsN), INTERVAL: "1000" });
  if (objects.records !== objectsN) throw new Error(`the job across objects counted ${objects.records} of ${objectsN}`);
  const objectsRate = objectsN / (objects.ms / 1000);
  const bpObjects = (unaligned: boolean) => acrossObjectsJob({ N: "300000", INTERVAL: "100", SLOW_EVERY: "200", SLOW_MS: "1", UNALIGNED: String(unaligned) });
  const objectsAligned = await bpObjects(false);
  const objectsUnaligned = await bpObjects(true);

  const edge = median(edgeRates);
  console.log(table([
    ["variant", "records/s", "note"],
    ["weir, one Durable Object (workerd)", perSecond(edge), `${n} records, median of 3, checkpoints every 1 s to DO SQLite`],
    ["weir, one local process (this runtime)", perSecond(median(localRates)), "same job, MemoryStorage"],
    ["2 stages across Durable Objects (RPC transport)", perSecond(acrossRate), `${n} records, batches of 1000, capacity 8, median of 3`],
    ["weir, the job across 5 WeirSubtask objects (runtime deploys it)", perSecond(objectsRate), `${objectsN} records, one run, checkpoints every 1 s (files in each subtask's object)`],
    ["per-event DO pattern, sequential", perSecond(seqRate), `${perEventN} events: 1 RPC + 1 storage.put each`],
    ["per-event DO pattern, 64 in flight", perSecond(parRate), ""],
  ]));
  console.log(`ratio weir-on-DO / per-event (best of the two): ${(edge / Math.max(seqRate, parRate)).toFixed(0)}x; across objects / per-event: ${(acrossRate / Math.max(seqRate, parRate)).toFixed(0)}x`);
  console.log(`RPC calls across objects: ${last.dataCalls} data calls + ${last.creditCalls} credit calls for ${last.batches} batches = ${((last.dataCalls + last.creditCalls) / last.batches).toFixed(2)} round trips per batch`);
  const fmt = (r: WeirRun) => `median ${median(r.durations).toFixed(0)} ms, max ${Math.max(...r.durations).toFixed(0)} ms over ${r.durations.length} checkpoints, persisted_data max ${Math.max(...r.persisted)} B`;
  console.log(`checkpoint duration under backpressure, aligned:   ${fmt(aligned)}`);
  console.log(`checkpoint duration under backpressure, unaligned: ${fmt(unaligned)}`);
  console.log(`the job across objects: ${objects.calls} transport calls for ${objects.batches} batches = ${(objects.calls / objects.batches).toFixed(2)} round trips per batch; ratio to per-event: ${(objectsRate / Math.max(seqRate, parRate)).toFixed(0)}x; to one object: ${(objectsRate / edge).toFixed(2)}`);
  console.log(`across objects, checkpoint duration under backpressure, aligned:   ${fmt(objectsAligned)}`);
  console.log(`across objects, checkpoint duration under backpressure, unaligned: ${fmt(objectsUnaligned)}`);
  await rateLimited();
} finally {
  await host.dispose();
  await subtasks.dispose();
}
