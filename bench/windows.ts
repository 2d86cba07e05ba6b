/**
 * Throughput of a tumbling event-time count over 10k keys (source → map → timestamps and
 * watermarks → keyBy → 1-minute tumbling window with an aggregate count → counting sink),
 * without and with aligned checkpoints every 100 ms (a run lasts about a second), beside the rolling count of
 * bench/throughput.ts (same source, map and keys, no event time) and a plain loop doing the
 * same windowing, all in this one run. `--per-ms` records happen per ms of event time
 * (default 10: a stream of 10 000 events/s, so a one-minute window counts 60 records per
 * key; with `--per-ms 1`, 6 per key, and firing windows weighs more).
 *
 *   bun bench/windows.ts                    this runtime
 *   deno run -A bench/windows.ts
 *   … --reps 3 --records 2000000 --per-ms 10
 *
 * Figures are input records per second, the median of the repetitions, which run
 * interleaved so that drift on a shared machine hits every variant alike.
 * @module
 */
import { loadavg } from "node:os";
import process from "node:process";
import { MemoryStorage, SequenceSource, StreamEnvironment, TumblingEventTimeWindows, WatermarkStrategy } from "../mod.ts";
import { CountingSink } from "./counting_sink.ts";
import { KEYS, keyFn, mapFn, type Run, weir as rollingCount } from "./keyed_sum.ts";
import { median, nowMs, perSecond, runtimeName, table } from "./stats.ts";

const WINDOW_MS = 60_000;
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const reps = option("--reps", 3);
const records = option("--records", 2_000_000);
const perMs = option("--per-ms", 10);

/** Record i (mapped to 3i) happens at i / perMs ms. */
const timestampOf = (v: number): number => v / 3 / perMs;
const count = {
  createAccumulator: () => 0,
  add: (_v: number, acc: number) => acc + 1,
  getResult: (acc: number) => acc,
  merge: (a: number, b: number) => a + b,
};

/** The windowing as a hand-written program: counts per key of the current window, emitted when time passes its end. */
function plainLoop(n: number): Run {
  const start = nowMs();
  let counts = new Map<number, number>();
  let windowEnd = WINDOW_MS;
  let emitted = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const v = mapFn(i);
    const ts = timestampOf(v);
    if (ts >= windowEnd) {
      for (const c of counts.values()) {
        emitted++;
        last = c;
      }
      counts = new Map();
      windowEnd = (Math.floor(ts / WINDOW_MS) + 1) * WINDOW_MS;
    }
    const k = keyFn(v);
    counts.set(k, count.add(v, counts.get(k) ?? count.createAccumulator()));
  }
  for (const c of counts.values()) {
    emitted++;
    last = c;
  }
  return { records: emitted, ms: nowMs() - start, last };
}

let jobs = 0;

async function windowed(n: number, intervalMs: number): Promise<Run> {
  const sink = new CountingSink();
  const env = new StreamEnvironment({
    jobName: `bench-windows-${jobs++}`,
    parallelism: 1,
    storage: new MemoryStorage(),
    checkpoint: { interval: intervalMs },
  });
  env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
    .map(mapFn, { uid: "times3" })
    .assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner(timestampOf), { uid: "ts" })
    .keyBy(keyFn)
    .window(TumblingEventTimeWindows.of(WINDOW_MS))
    .aggregate(count, { uid: "count" })
    .sinkTo(sink, { uid: "out" });
  const start = nowMs();
  const job = await env.execute();
  const result = await job.done;
  const ms = nowMs() - start;
  if (result.status !== "finished") throw new Error(`weir job ended ${result.status}: ${result.error ?? ""}`);
  return { records: sink.count, ms, checkpoints: result.checkpoints.completed, last: sink.last };
}

const variants: { key: string; label: string; run: (n: number) => Run | Promise<Run> }[] = [
  { key: "loop", label: "plain loop, tumbling count", run: plainLoop },
  { key: "rolling", label: "weir rolling count (throughput.ts), no checkpoints", run: (n) => rollingCount(n, { intervalMs: 0 }) },
  { key: "windowed", label: "weir tumbling event-time count, no checkpoints", run: (n) => windowed(n, 0) },
  { key: "windowedCkpt", label: "weir tumbling event-time count, aligned every 100 ms", run: (n) => windowed(n, 100) },
];

const loadBefore = loadavg()[0];
const rates = new Map<string, number[]>(variants.map((v) => [v.key, []]));
const checkpoints = new Map<string, number>();
const { records: expectedWindows, last: expectedLast } = plainLoop(records);
// One warm-up run each at a tenth of the size.
for (const v of variants) await v.run(Math.max(100_000, Math.round(records / 10)));
for (let rep = 0; rep < reps; rep++) {
  for (const v of variants) {
    const r = await v.run(records);
    if (v.key !== "rolling" && r.records !== expectedWindows) throw new Error(`${v.label}: ${r.records} windows fired, the plain loop fires ${expectedWindows}`);
    // Every key of the last window counts the same: weir and the loop agree whatever order they emit in.
    if (v.key !== "rolling" && r.last !== expectedLast) throw new Error(`${v.label}: the last window counted ${r.last}, the plain loop's ${expectedLast}`);
    const rate = records / (r.ms / 1000);
    rates.get(v.key)!.push(rate);
    if (r.checkpoints !== undefined) checkpoints.set(v.key, r.checkpoints);
    console.log(`  ${runtimeName()} rep ${rep + 1}/${reps} ${v.label}: ${perSecond(rate)} records/s (${records} in ${r.ms.toFixed(0)} ms${r.checkpoints !== undefined ? `, ${r.checkpoints} checkpoints` : ""})`);
  }
}
const med = new Map([...rates].map(([k, xs]) => [k, median(xs)]));
const rolling = med.get("rolling")!;
console.log(`\n${runtimeName()}, ${records} records, ${KEYS} keys, ${perMs} records per ms of event time, ${WINDOW_MS / 1000} s windows (${expectedWindows} fired), median of ${reps}; load ${loadBefore.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`);
console.log(table([
  ["variant", "records/s", "vs rolling count"],
  ...variants.map((v) => [v.label + (checkpoints.has(v.key) ? ` (${checkpoints.get(v.key)} checkpoints)` : ""), perSecond(med.get(v.key)!), `${(med.get(v.key)! / rolling).toFixed(2)}x`]),
]));
