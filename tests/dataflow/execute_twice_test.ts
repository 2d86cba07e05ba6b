/**
 * Regression (found in a review): A second env.execute() on the same environment starts a second job over the same sources
 * and sink objects (add() refuses more operators with "already executed", execute() does
 * not). Its CollectSink transactions are named uid/subtask/checkpointId, so they collide with
 * the first job's and its output is silently dropped. Flink refuses a second execute of the
 * same graph; weir should throw WeirError "invalid_job".
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";

describe("execute() twice", () => {
  test("a second execute() of the same environment is refused", { timeout: 20_000 }, async () => {
    const env = new StreamEnvironment({ jobName: "twice", storage: new MemoryStorage() });
    const sink = new CollectSink<number>();
    env.fromSource(new SequenceSource(0, 10), { uid: "n" }).sinkTo(sink, { uid: "out" });
    const first = await env.execute();
    assert.equal((await first.done).status, "finished");
    let second;
    try {
      second = await env.execute();
    } catch (e) {
      assert.ok(e instanceof WeirError && e.code === "invalid_job", `unexpected error ${e}`);
      return;
    }
    const r = await second.done;
    assert.fail(`a second job ran (${r.status}); the sink now holds ${sink.committed.length} records, its own output was dropped`);
  });
});
