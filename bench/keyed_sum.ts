/**
 * The one pipeline the throughput benchmark measures, written four ways: source of the
 * integers 0..n-1 → map → keyBy (10k keys) → rolling sum → a sink that counts. Every
 * variant calls the same three user functions, so the ratios compare runtimes, not code.
 * @module
 */
import { groupBy, map, mergeMap, range, scan } from "rxjs";
import { MemoryStorage, SequenceSource, StreamEnvironment, type StorageAdapter } from "../mod.ts";
import { CountingSink } from "./counting_sink.ts";
import { nowMs } from "./stats.ts";

/** Distinct keys of the pipeline. */
export const KEYS = 10_000;

// 3 is coprime with 10 000, so `n * 3 % KEYS` visits every key. Sums outgrow int32 on long
// runs: on V8 they then live as heap numbers, on JSC as boxed doubles; every variant pays
// the same, since every variant stores the same sums.
/** The map step. */
export const mapFn = (n: number): number => n * 3;
/** The key selector. */
export const keyFn = (v: number): number => v % KEYS;
/** The rolling reduce: a sum per key. */
export const sumFn = (a: number, b: number): number => a + b;

/** A record of the object variant: the same number, in a field. */
export interface Boxed {
  v: number;
}
/** The map step, with an object record. */
export const mapBoxed = (n: number): Boxed => ({ v: n * 3 });
/** The key selector, with an object record. */
export const keyBoxed = (r: Boxed): number => r.v % KEYS;
/** The rolling reduce, with object records; it changes the accumulator in place, as users do. */
export const sumBoxed = (a: Boxed, b: Boxed): Boxed => {
  a.v += b.v;
  return a;
};

/** One timed run: how many records reached the sink, in how many ms. */
export interface Run {
  records: number;
  ms: number;
  /** Completed checkpoints (weir only), the final one included. */
  checkpoints?: number;
  /** The last record the sink saw, to check the variants agree. */
  last: unknown;
}

/**
 * (a) A plain single loop: the work with no framework at all, keyed state in a Map as a
 * hand-written program over arbitrary keys would keep it.
 */
export function plainLoop(n: number): Run {
  const start = nowMs();
  const sums = new Map<number, number>();
  let count = 0;
  let last = 0;
  for (let i = 0; i < n; i++) {
    const v = mapFn(i);
    const k = keyFn(v);
    const acc = sums.get(k);
    const next = acc === undefined ? v : sumFn(acc, v);
    sums.set(k, next);
    count++;
    last = next;
  }
  return { records: count, ms: nowMs() - start, last };
}

/**
 * (b) The same pipeline in RxJS: range → map → groupBy → scan per group → subscribe.
 * `keys` other than KEYS exists only for a reference row: RxJS slows down a lot with
 * many groups, so the report also shows it with few.
 */
export function rxjs(n: number, keys = KEYS): Run {
  const byKey = keys === KEYS ? keyFn : (v: number) => v % keys;
  const start = nowMs();
  let count = 0;
  let last = 0;
  range(0, n)
    .pipe(
      map(mapFn),
      groupBy(byKey),
      mergeMap((group) => group.pipe(scan(sumFn))),
    )
    .subscribe((v) => {
      count++;
      last = v;
    });
  return { records: count, ms: nowMs() - start, last };
}

/** Options of a weir run. */
export interface WeirRunOptions {
  /** Periodic checkpoint interval in ms; 0 means none (the final one still happens). */
  intervalMs: number;
  storage?: StorageAdapter;
  unaligned?: boolean;
  parallelism?: number;
  batchSize?: number;
}

let jobs = 0;

/** (c)/(d) The pipeline on weir, timed from execute() until the job is done. */
export async function weir(n: number, o: WeirRunOptions): Promise<Run> {
  const sink = new CountingSink();
  const env = new StreamEnvironment({
    jobName: `bench-throughput-${jobs++}`,
    parallelism: o.parallelism ?? 1,
    storage: o.storage ?? new MemoryStorage(),
    checkpoint: { interval: o.intervalMs, unaligned: o.unaligned ?? false },
    batchSize: o.batchSize,
  });
  env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
    .map(mapFn, { uid: "times3" })
    .keyBy(keyFn)
    .reduce(sumFn, { uid: "sum" })
    .sinkTo(sink, { uid: "count" });
  const start = nowMs();
  const job = await env.execute();
  const result = await job.done;
  const ms = nowMs() - start;
  if (result.status !== "finished") throw new Error(`weir job ended ${result.status}: ${result.error ?? ""}`);
  return { records: sink.count, ms, checkpoints: result.checkpoints.completed, last: sink.last };
}

/**
 * (e) The same pipeline with object records (`{ v }`): every record an operator emits is
 * copied (map's output, reduce's accumulator), unless `objectReuse` passes references.
 * `last` is the number inside the last record, comparable with the other variants.
 */
export async function weirObjects(n: number, o: { objectReuse: boolean }): Promise<Run> {
  const sink = new CountingSink();
  const env = new StreamEnvironment({
    jobName: `bench-throughput-${jobs++}`,
    parallelism: 1,
    storage: new MemoryStorage(),
    checkpoint: { interval: 0 },
    objectReuse: o.objectReuse,
  });
  env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
    .map(mapBoxed, { uid: "box" })
    .keyBy(keyBoxed)
    .reduce(sumBoxed, { uid: "sum" })
    .sinkTo(sink, { uid: "count" });
  const start = nowMs();
  const job = await env.execute();
  const result = await job.done;
  const ms = nowMs() - start;
  if (result.status !== "finished") throw new Error(`weir job ended ${result.status}: ${result.error ?? ""}`);
  return { records: sink.count, ms, checkpoints: result.checkpoints.completed, last: (sink.last as Boxed | undefined)?.v };
}
