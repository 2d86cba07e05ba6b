/**
 * Task metrics in Flink's metric query form: GET …/vertices/:id/metrics lists
 * `[{ "id": "0.numRecordsIn" }, …]`, and with `?get=a,b` answers
 * `[{ "id": "a", "value": "12" }, …]` (values as strings, as Flink does);
 * …/subtasks/metrics aggregates a metric over subtasks as `{ id, min, max, avg, sum }`.
 * Rates per second are measured between successive reads, over at most a minute (Flink's
 * MeterView also averages over 60 s). Watermarks are milliseconds, and as Flink's longs
 * where event time has not begun or has ended: Long.MIN_VALUE before any watermark
 * (`-9223372036854775808`), Long.MAX_VALUE once every input ended (`9223372036854775807`).
 * @module
 */
import { WeirError } from "../errors.ts";
import type { VertexOverview } from "../runtime/job_handle.ts";
import { badRequest } from "./errors.ts";

type Subtask = VertexOverview["subtasks"][number];

/** The counters and gauges of one subtask, by Flink's metric names. */
function subtaskFigures(s: Subtask, rates: { in: number; out: number }): Record<string, number> {
  return {
    numRecordsIn: s.recordsIn,
    numRecordsOut: s.recordsOut,
    numRecordsInPerSecond: rates.in,
    numRecordsOutPerSecond: rates.out,
    accumulatedBusyTime: Math.round(s.busyMs),
    accumulatedBackPressuredTime: Math.round(s.backpressuredMs),
    "buffers.inputQueueLength": s.queuedBatches,
    "buffers.outputQueueLength": s.outputBuffered,
    checkpointsPending: s.pendingSnapshots,
    numLateRecordsDropped: s.lateRecordsDropped,
    currentInputWatermark: s.inputWatermark,
    currentOutputWatermark: s.outputWatermark,
  };
}

/** Flink's Long.MIN_VALUE and Long.MAX_VALUE, as weir's watermarks before and after event time (±Infinity) are shown. */
const LONG_MIN = "-9223372036854775808";
const LONG_MAX = "9223372036854775807";

/** A metric value as Flink's metric query writes it: a string, ±Infinity as Long's bounds. */
function metricString(v: number): string {
  return v === -Infinity ? LONG_MIN : v === Infinity ? LONG_MAX : String(v);
}

/** A metric value as a JSON number: ±Infinity (a watermark) as the nearest double to Long's bounds. */
function finite(v: number): number {
  return v === -Infinity ? Number(LONG_MIN) : v === Infinity ? Number(LONG_MAX) : v;
}

/**
 * GET …/vertices/:id/watermarks: each subtask's `currentInputWatermark`, as Flink's
 * JobVertexWatermarksHandler answers (a bare array of `{ id, value }`).
 *
 * @example
 * ```ts
 * import { watermarkMetrics } from "./vertex_metrics.ts";
 * const values = new Map([[0, { currentInputWatermark: 1500 }], [1, { currentInputWatermark: -Infinity }]]);
 * const w = watermarkMetrics(values);
 * console.assert(w[0].value === "1500" && w[1].value === "-9223372036854775808");
 * ```
 */
export function watermarkMetrics(values: ReadonlyMap<number, Record<string, number>>): { id: string; value: string }[] {
  return [...values].map(([i, m]) => ({ id: `${i}.currentInputWatermark`, value: metricString(m.currentInputWatermark ?? -Infinity) }));
}

/** The metric names every subtask has. */
export const SUBTASK_METRICS: readonly string[] = Object.keys(subtaskFigures({ index: 0, recordsIn: 0, recordsOut: 0, busyMs: 0, backpressuredMs: 0, queuedBatches: 0, outputBuffered: 0, barrierState: "", pendingSnapshots: 0, lateRecordsDropped: 0, inputWatermark: 0, outputWatermark: 0 }, { in: 0, out: 0 }));

interface Sample {
  at: number;
  recordsIn: number;
  recordsOut: number;
}

/** A minute of samples per subtask is enough for a rate; older ones go. */
const RATE_WINDOW_MS = 60_000;
/** Samples closer than this to the newest are not kept, so a burst of reads stays bounded. */
const SAMPLE_SPACING_MS = 250;

/**
 * Records per second in and out per subtask, from the counters seen by successive reads.
 *
 * @example
 * ```ts
 * import { RateMeter } from "./vertex_metrics.ts";
 * const meter = new RateMeter();
 * meter.rate("job/v0/0", { at: 0, recordsIn: 0, recordsOut: 0 });
 * console.assert(meter.rate("job/v0/0", { at: 1000, recordsIn: 50, recordsOut: 40 }).in === 50);
 * ```
 */
export class RateMeter {
  readonly #samples = new Map<string, Sample[]>();

  /** The rate over the window ending with `now` (0 until two samples exist); keeps `now`. */
  rate(key: string, now: Sample): { in: number; out: number } {
    let samples = this.#samples.get(key);
    if (!samples) this.#samples.set(key, (samples = []));
    // A restart resets the counters: the older samples no longer compare.
    const last = samples.at(-1);
    if (last && (now.recordsIn < last.recordsIn || now.recordsOut < last.recordsOut || now.at < last.at)) samples.length = 0;
    while (samples.length > 0 && now.at - samples[0].at > RATE_WINDOW_MS) samples.shift();
    const first = samples[0];
    const dt = first ? (now.at - first.at) / 1000 : 0;
    const rate = dt > 0 ? { in: round((now.recordsIn - first.recordsIn) / dt), out: round((now.recordsOut - first.recordsOut) / dt) } : { in: 0, out: 0 };
    if (!samples.at(-1) || now.at - samples.at(-1)!.at >= SAMPLE_SPACING_MS) samples.push(now);
    return rate;
  }

  /** Forgets every sample whose key starts with `prefix` (an ended job). */
  forget(prefix: string): void {
    for (const key of this.#samples.keys()) if (key.startsWith(prefix)) this.#samples.delete(key);
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Every subtask's figures of a vertex, by subtask index and metric name.
 *
 * @example
 * ```ts
 * import { RateMeter, subtaskMetricValues } from "./vertex_metrics.ts";
 * const v = { id: "v0", name: "Source", parallelism: 0, uids: [], subtasks: [] };
 * console.assert(subtaskMetricValues("job", v, new RateMeter(), 0).size === 0);
 * ```
 */
export function subtaskMetricValues(jobId: string, v: VertexOverview, meter: RateMeter, now: number): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  for (const s of v.subtasks) {
    const rates = meter.rate(`${jobId}/${v.id}/${s.index}`, { at: now, recordsIn: s.recordsIn, recordsOut: s.recordsOut });
    out.set(s.index, subtaskFigures(s, rates));
  }
  return out;
}

/**
 * GET …/vertices/:id/metrics: the list of metric ids (`<subtask>.<name>`), or with `get` the
 * requested ones with their values as strings. Unknown ids are left out, as Flink does.
 *
 * @example
 * ```ts
 * import { selectMetrics } from "./vertex_metrics.ts";
 * const values = new Map([[0, { numRecordsIn: 5 }]]);
 * console.assert(selectMetrics(values, "0.numRecordsIn")[0].value === "5");
 * ```
 */
export function selectMetrics(values: ReadonlyMap<number, Record<string, number>>, get: string | undefined): { id: string; value?: string }[] {
  if (get === undefined) return [...values].flatMap(([i, m]) => Object.keys(m).map((name) => ({ id: `${i}.${name}` })));
  const out: { id: string; value: string }[] = [];
  for (const id of splitList(get)) {
    const dot = id.indexOf(".");
    const m = values.get(Number(id.slice(0, dot)));
    const name = id.slice(dot + 1);
    // Own numbers only: "0.constructor" named Object's constructor, not a metric.
    const v = dot > 0 && /^\d+$/.test(id.slice(0, dot)) && m !== undefined && Object.hasOwn(m, name) ? m[name] : undefined;
    if (typeof v === "number") out.push({ id, value: metricString(v) });
  }
  return out;
}

/**
 * GET …/metrics of one subtask or of the job: the list of metric names, or with `get` the
 * requested ones (own names only) with their values as strings; unknown ones are left out.
 *
 * @example
 * ```ts
 * import { selectNamedMetrics } from "./vertex_metrics.ts";
 * console.assert(selectNamedMetrics({ numRestarts: 2 }, "numRestarts,nope")[0].value === "2");
 * ```
 */
export function selectNamedMetrics(values: Record<string, number>, get: string | undefined): { id: string; value?: string }[] {
  if (get === undefined) return Object.keys(values).map((id) => ({ id }));
  return splitList(get).filter((id) => Object.hasOwn(values, id) && typeof values[id] === "number").map((id) => ({ id, value: metricString(values[id]) }));
}

const AGGREGATIONS = ["min", "max", "sum", "avg"] as const;
type Aggregation = (typeof AGGREGATIONS)[number];

/**
 * GET …/vertices/:id/subtasks/metrics: each requested metric over the selected subtasks
 * (`subtasks=0,2-3`), with the requested aggregations (`agg=sum,max`; all four by default).
 * Without `get`, the list of metric names. Throws `invalid_request` on a bad `agg` or range.
 *
 * @example
 * ```ts
 * import { aggregateMetrics } from "./vertex_metrics.ts";
 * const values = new Map([[0, { numRecordsIn: 5 }], [1, { numRecordsIn: 7 }]]);
 * console.assert(aggregateMetrics(values, { get: "numRecordsIn", agg: "sum" })[0].sum === 12);
 * ```
 */
export function aggregateMetrics(values: ReadonlyMap<number, Record<string, number>>, query: { get?: string; agg?: string; subtasks?: string }): Record<string, number | string>[] {
  if (query.get === undefined) return SUBTASK_METRICS.map((id) => ({ id }));
  const aggs = query.agg === undefined ? AGGREGATIONS : splitList(query.agg).map((a) => {
    const lower = a.toLowerCase();
    if (!(AGGREGATIONS as readonly string[]).includes(lower)) throw badRequest(`Query parameter agg must list some of "min", "max", "sum", "avg", got ${JSON.stringify(a)}`);
    return lower as Aggregation;
  });
  const selected = query.subtasks === undefined ? [...values.keys()] : parseRanges(query.subtasks).filter((i) => values.has(i));
  const out: Record<string, number | string>[] = [];
  for (const id of splitList(query.get)) {
    const xs = selected.map((i) => values.get(i)!).filter((m) => Object.hasOwn(m, id)).map((m) => m[id]).filter((x): x is number => typeof x === "number").map(finite);
    if (xs.length === 0) continue;
    const sum = xs.reduce((a, b) => a + b, 0);
    const all: Record<Aggregation, number> = { min: Math.min(...xs), max: Math.max(...xs), sum: round(sum), avg: round(sum / xs.length) };
    const row: Record<string, number | string> = { id };
    for (const a of aggs) row[a] = all[a];
    out.push(row);
  }
  return out;
}

function splitList(s: string): string[] {
  return s.split(",").map((x) => x.trim()).filter((x) => x.length > 0);
}

/** "1,3,5-9" → [1, 3, 5, 6, 7, 8, 9]; bounded so that a huge range cannot be asked for. */
function parseRanges(s: string): number[] {
  const out: number[] = [];
  for (const part of splitList(s)) {
    const m = /^(\d{1,6})(?:-(\d{1,6}))?$/.exec(part);
    if (!m) throw badRequest(`Query parameter subtasks must be integers and ranges like "1,3,5-9", got ${JSON.stringify(part)}`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to - from > 100_000) throw new WeirError("invalid_request", `Query parameter subtasks has a bad range ${JSON.stringify(part)}`);
    for (let i = from; i <= to; i++) out.push(i);
  }
  return out;
}
