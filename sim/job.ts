/**
 * The job under test (issue 2's shape): SequenceSource(0, N) → map to [n % K, 1] →
 * keyBy → rolling sum of counts → CollectSink, the sink chained to the reduce so each
 * key's counts reach one sink subtask in order. With `windowed`, the source also feeds
 * a windowed job: record n at event time n → keyBy(n % K) → tumbling event-time windows
 * counting per key → a second CollectSink of [key, window start, count].
 * @module
 */
import { CollectSink } from "../connectors/collect_sink.ts";
import { SequenceSource } from "../connectors/sequence_source.ts";
import { StreamEnvironment } from "../dataflow/environment.ts";
import type { EnvironmentOptions } from "../dataflow/environment_options.ts";
import { TumblingEventTimeWindows } from "../dataflow/window_assigners.ts";
import { WatermarkStrategy } from "../dataflow/watermark_strategy.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sqliteStateBackend } from "../platforms/sqlite_state.ts";
import { registerStateBackend } from "../state/backend_registry.ts";

// A seed's { backend: "sqlite" } runs as "sim-sqlite": working files in a directory of this
// process (a seed's job id, and so its file names, is the same in two simulator processes
// running that seed), a cache smaller than a seed's keys (1 to 6) and small background
// transactions, so evictions and write-backs pending and in flight race every checkpoint
// and restore. Where they go and when they commit is timing, never what a subtask reads,
// so a seed stays reproducible. Its own name: tests that share this process keep "sqlite"
// as jobs get it.
const SIM_SQLITE = "sim-sqlite";
registerStateBackend(SIM_SQLITE, sqliteStateBackend({ directory: mkdtempSync(join(tmpdir(), "weir-sim-state-")), cacheEntriesMax: 2, writeGroupRows: 4, waitForWriter: true }));
import type { Pair, WindowCount } from "./checkers.ts";
import type { SimConfig } from "./config.ts";

/** The built environment and the sink whose `committed` the checkers read. */
export interface SimJob {
  env: StreamEnvironment;
  sink: CollectSink<Pair>;
  windows: CollectSink<WindowCount>;
}

/**
 * Builds the counting job for a config; `options` carries storage, runtime and restore.
 * `wait` is the virtual-time delay the async tail operator awaits (from the world's PRNG).
 * `sink` is shared by every run of one seed, as an external system would be: its
 * commits are idempotent by transaction id.
 */
export function buildCountingJob(
  c: SimConfig,
  options: EnvironmentOptions,
  wait?: () => Promise<void>,
  sink = new CollectSink<Pair>(),
  windows = new CollectSink<WindowCount>(),
): SimJob {
  const env = new StreamEnvironment({
    parallelism: c.sourceParallelism,
    maxParallelism: 128,
    checkpoint: c.checkpoint,
    restart: { strategy: "fixed-delay", attempts: 1_000_000, delay: c.restartDelayMs },
    batchSize: c.batchSize,
    channelCapacity: c.channelCapacity,
    state: c.state?.backend === "sqlite" ? { ...c.state, backend: SIM_SQLITE } : c.state,
    ...(c.bufferTimeout ? { bufferTimeout: c.bufferTimeout.env } : {}),
    ...options,
    runtime: { ...options.runtime, snapshotSliceMax: c.snapshotSliceMax },
  });
  const keys = c.keys;
  const numbers = env.fromSource(new SequenceSource(0, c.records), { uid: "numbers" });
  const pairs = c.asyncMap
    ? numbers.map((n): Promise<Pair> => Promise.resolve([n % keys, 1]), { uid: "pair" })
    : numbers.map((n): Pair => [n % keys, 1], { uid: "pair" });
  // In place, a change after the snapshot point would reach an asynchronous snapshot unless it is copy-on-write.
  const sum = c.inPlaceReduce ? (a: Pair, b: Pair): Pair => ((a[1] += b[1]), a) : (a: Pair, b: Pair): Pair => [a[0], a[1] + b[1]];
  let sums = pairs.keyBy((p) => p[0]).reduce(sum, { uid: "sum", parallelism: c.reduceParallelism });
  if (c.bufferTimeout?.reduce !== undefined) sums.setBufferTimeout(c.bufferTimeout.reduce);
  if (c.asyncTail && wait) sums = sums.map(async (p) => (await wait(), p), { uid: "io", parallelism: c.reduceParallelism });
  sums.sinkTo(sink, { uid: "out", parallelism: c.reduceParallelism });
  if (c.windowed) {
    // A SequenceSource subtask reads its splits in ascending order: timestamps never go down within one.
    numbers.assignTimestampsAndWatermarks(WatermarkStrategy.forMonotonousTimestamps<number>().withTimestampAssigner((n) => n), { uid: "event-time" })
      .keyBy((n) => n % keys)
      .window(TumblingEventTimeWindows.of(c.windowSize))
      .process<WindowCount>((k, w, elements, ctx) => ctx.emit([k, w.start, elements.length]), { uid: "windows", parallelism: c.reduceParallelism })
      .sinkTo(windows, { uid: "windows-out", parallelism: c.reduceParallelism });
  }
  return { env, sink, windows };
}
