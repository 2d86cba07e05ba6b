/**
 * The job bench/cloudflare.ts measures, shared by the Worker and the local run: SequenceSource
 * at parallelism 2 → [x % 7, 1] → keyBy → rolling count at parallelism 3 → counting sink.
 * `slowEvery`/`slowMs` make the keyed count wait now and then, so that its input queues fill
 * (backpressure) for the checkpoint-duration figures; `ratePerSecond` limits the source (its
 * total over both subtasks) for the buffer-timeout figures. Imports no node: module (bundles for workerd).
 */
import { StreamEnvironment } from "../dataflow/environment.ts";
import type { EnvironmentOptions } from "../dataflow/environment_options.ts";
import { SequenceSource } from "../connectors/sequence_source.ts";
import { CountingSink } from "./counting_sink.ts";

export function countingBenchJob(n: number, options: EnvironmentOptions & { slowEvery?: number; slowMs?: number; ratePerSecond?: number }): { env: StreamEnvironment; sink: CountingSink } {
  const { slowEvery = 0, slowMs = 0, ratePerSecond, ...envOptions } = options;
  const sink = new CountingSink();
  const env = new StreamEnvironment({ jobName: "bench", parallelism: 2, ...envOptions });
  const pairs = env.fromSource(new SequenceSource(0, n, ratePerSecond === undefined ? {} : { ratePerSecond }), { uid: "numbers" })
    .map((x): [number, number] => [x % 7, 1], { uid: "pair" })
    .keyBy((p) => p[0]);
  const counted = slowEvery > 0
    ? pairs.process<[number, number]>(async (p, ctx) => {
      const s = ctx.valueState<number>("count");
      const next = (s.value() ?? 0) + p[1];
      s.update(next);
      if (next % slowEvery === 0) await new Promise((r) => setTimeout(r, slowMs));
      ctx.emit([p[0], next]);
    }, { uid: "sum", parallelism: 3 })
    : pairs.reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: "sum", parallelism: 3 });
  counted.sinkTo(sink, { uid: "out", parallelism: 3 });
  return { env, sink };
}
