/** The 2-stage job of bench/worker_threads.ts, built alike in the main thread and in the worker. */
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../mod.ts";

/** Source + map (stage 1) → keyBy → rolling sum (stage 2, emits nothing downstream). */
export function benchJob(args: { n: number; storage?: "memory" }): StreamEnvironment {
  const env = new StreamEnvironment({ jobName: "bench-threads", parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 0 } });
  env.fromSource(new SequenceSource(0, args.n), { uid: "numbers" })
    .map((x): [number, number] => [x % 1000, 1], { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "sum" })
    .filter(() => false, { uid: "none" })
    .sinkTo(new CollectSink(), { uid: "out" });
  return env;
}
