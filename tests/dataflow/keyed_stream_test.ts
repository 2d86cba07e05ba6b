import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, DataStream, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { OperatorContext, Sink, SinkWriter } from "../../mod.ts";

/** A sink that remembers which of its subtasks saw each value. */
class SubtaskRecorder implements Sink<number> {
  readonly seenBy = new Map<number, Set<number>>();
  createWriter(ctx: OperatorContext): SinkWriter {
    return {
      open: () => {},
      write: (values) => {
        for (const v of values as number[]) {
          const s = this.seenBy.get(v % 5) ?? new Set<number>();
          s.add(ctx.subtaskIndex);
          this.seenBy.set(v % 5, s);
        }
      },
      snapshotState: () => ({}),
      notifyCheckpointComplete: () => {},
    };
  }
}

function env(name: string): StreamEnvironment {
  return new StreamEnvironment({ jobName: name, parallelism: 3, storage: new MemoryStorage() });
}

describe("KeyedStream", () => {
  test("a KeyedStream is a DataStream: map, filter and flatMap follow keyBy", async () => {
    const e = env("keyed-is-datastream");
    const sink = new CollectSink<number>();
    const keyed = e.fromSource(new SequenceSource(0, 100)).keyBy((n) => n % 5);
    assert.ok(keyed instanceof DataStream);
    keyed.map((n) => n * 2).filter((n) => n % 4 === 0).flatMap((n) => [n, n + 1]).sinkTo(sink);
    const job = await e.execute();
    assert.equal((await job.done).status, "finished");
    const expected = Array.from({ length: 100 }, (_, n) => n * 2).filter((n) => n % 4 === 0).flatMap((n) => [n, n + 1]);
    assert.deepEqual([...sink.committed].sort((a, b) => a - b), expected.sort((a, b) => a - b));
  });

  test("operators after keyBy run hash-partitioned: every record of a key reaches one subtask", async () => {
    const e = env("keyed-hash");
    const recorder = new SubtaskRecorder();
    e.fromSource(new SequenceSource(0, 3000), { parallelism: 2 }).keyBy((n) => n % 5).map((n) => n).sinkTo(recorder, { parallelism: 3 });
    const job = await e.execute();
    assert.equal(job.edges()[0].partitioning, "hash");
    assert.equal((await job.done).status, "finished");
    assert.equal(recorder.seenBy.size, 5);
    for (const [key, subtasks] of recorder.seenBy) assert.equal(subtasks.size, 1, `key ${key} reached subtasks ${[...subtasks]}`);
  });
});
