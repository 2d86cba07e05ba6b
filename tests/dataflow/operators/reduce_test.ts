/** ReduceOperator with a backend that takes read hints (ReducingState.prefetch). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReduceOperator } from "../../../dataflow/operators/reduce.ts";
import type { OperatorContext } from "../../../dataflow/operator.ts";
import { HeapKeyedStateBackend } from "../../../state/heap_backend.ts";
import type { KeyedStateBackend } from "../../../state/backend.ts";

function context(backend: KeyedStateBackend): OperatorContext {
  return { uid: "sum", name: "sum", subtaskIndex: 0, parallelism: 1, maxParallelism: 128, keyGroupRange: { start: 0, end: 127 }, attempt: 0, jobName: "j", jobId: "0".repeat(32), keyedStateBackend: () => backend } as unknown as OperatorContext;
}

test("a rolling reduce gives a backend that takes hints the keys of each run of 128 records before folding them, and emits what it emits without hints", () => {
  const hinted = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 } });
  const runs: unknown[][] = [];
  const reducingState = hinted.reducingState.bind(hinted);
  hinted.reducingState = <T>(name: string, fn: (a: T, v: T) => T) => Object.assign(reducingState<T>(name, fn), { prefetch: (keys: readonly unknown[]) => void runs.push([...keys]) });
  const plain = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 } });
  const key = (v: unknown) => `k${(v as number) % 7}`;
  const ops = [hinted, plain].map((b) => {
    const op = new ReduceOperator(key, (a, v) => (a as number) + (v as number));
    op.open(context(b), undefined);
    return op;
  });
  for (const size of [300, 5]) {
    const batch = Array.from({ length: size }, (_, i) => i);
    runs.length = 0;
    assert.deepEqual(ops[0].processBatch(batch), ops[1].processBatch(batch));
    const lengths = size === 300 ? [128, 128, 44] : [5];
    assert.deepEqual(runs.map((r) => r.length), lengths);
    assert.deepEqual(runs.flat(), batch.map(key), "each run's keys, in order");
  }
});
