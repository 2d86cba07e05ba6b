/**
 * The job under test (issue 2's shape): SequenceSource(0, N) → map to [n % K, 1] →
 * keyBy → rolling sum of counts → CollectSink, the sink chained to the reduce so each
 * key's counts reach one sink subtask in order.
 * @module
 */
import { CollectSink } from "../connectors/collect_sink.ts";
import { SequenceSource } from "../connectors/sequence_source.ts";
import { type EnvironmentOptions, StreamEnvironment } from "../dataflow/environment.ts";
import type { Pair } from "./checkers.ts";
import type { SimConfig } from "./config.ts";

/** The built environment and the sink whose `committed` the checkers read. */
export interface SimJob {
  env: StreamEnvironment;
  sink: CollectSink<Pair>;
}

/** Builds the counting job for a config; `options` carries storage, runtime and restore. */
export function buildCountingJob(c: SimConfig, options: EnvironmentOptions): SimJob {
  const env = new StreamEnvironment({
    parallelism: c.sourceParallelism,
    maxParallelism: 128,
    checkpoint: c.checkpoint,
    restart: { strategy: "fixed-delay", attempts: 1_000_000, delay: c.restartDelayMs },
    batchSize: c.batchSize,
    channelCapacity: c.channelCapacity,
    ...options,
  });
  const keys = c.keys;
  const sink = new CollectSink<Pair>();
  env.fromSource(new SequenceSource(0, c.records), { uid: "numbers" })
    .map((n): Pair => [n % keys, 1], { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "sum", parallelism: c.reduceParallelism })
    .sinkTo(sink, { uid: "out", parallelism: c.reduceParallelism });
  return { env, sink };
}
