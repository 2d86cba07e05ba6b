/**
 * Regression (found in a review): stop({ drain: true }) issued while the final checkpoint of a job whose sources
 * already finished is in flight ends the job as "stopped" with a `savepoint` location
 * that was never written, while stop() itself rejects.
 *
 * Sources finishing call coordinator.finishing() (final checkpoint F1). stop() with drain
 * calls finishing(target) again (runtime/job_handle.ts:159): since a savepoint is given it
 * queues a second final request F2 (checkpoint/coordinator.ts:196-204). When F1
 * completes, #commit starts F2 (endInput to sources that already ended their input and
 * ignore it: runtime/subtask.ts #endOfInput returns early), and every subtask reports
 * finalCommitted for F1, so JobMaster.#end("stopped") runs with #savepointOnStop set by
 * stoppingWith(location) (job_master.ts:261): JobResult.savepoint points to a directory
 * with no _metadata; F2 then fails on shutdown and stop() throws savepoint_failed.
 * Fix: when a drain is asked for while the final checkpoint is already pending/queued,
 * turn that final checkpoint into the savepoint (or reject the stop as already
 * finishing), and only report result.savepoint for a savepoint that completed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, MemoryStorage, StreamEnvironment } from "../../mod.ts";
import type { OperatorContext, Source, SourceReader } from "../../mod.ts";
import { VirtualWorld } from "../virtual_world.ts";

class FiniteSource implements Source<number> {
  finished = false;
  createReader(_ctx: OperatorContext): SourceReader {
    let next = 0;
    return {
      open: () => {},
      poll: (max: number) => {
        if (next >= 40) {
          this.finished = true;
          return null;
        }
        const out: number[] = [];
        for (let i = 0; i < max && next < 40; i++) out.push(next++);
        return out;
      },
      snapshotState: () => [next],
    };
  }
}

test("stop with drain during the final checkpoint: job result names only a savepoint that exists", async () => {
  const world = new VirtualWorld();
  const dir = mkdtempSync(join(tmpdir(), "weir-drain-"));
  const source = new FiniteSource();
  const env = new StreamEnvironment({
    jobName: "drainfin",
    parallelism: 1,
    storage: new MemoryStorage(),
    batchSize: 4,
    channelCapacity: 2,
    restart: { strategy: "none" },
    runtime: world.runtime(),
  });
  env.fromSource(source, { uid: "src" })
    .map(async (n) => (await world.sleep(1), n), { uid: "slow", parallelism: 1, disableChaining: true })
    .sinkTo(new CollectSink<number>(), { uid: "out" });
  const h = await env.execute();
  await world.drive(() => source.finished, 10_000);
  assert.ok(source.finished);
  assert.equal(h.status, "RUNNING", "the final checkpoint is still in flight (slow map drains its backlog)");
  let stopOutcome: string | undefined;
  h.stop({ savepoint: dir, drain: true }).then((loc) => (stopOutcome = `ok ${loc}`), (e) => (stopOutcome = String(e)));
  let result: Awaited<typeof h.done> | undefined;
  h.done.then((r) => (result = r));
  await world.drive(() => result !== undefined && stopOutcome !== undefined, 10_000);
  assert.ok(result, "job ended");
  if (result.savepoint !== undefined) {
    assert.ok(existsSync(join(result.savepoint, "_metadata")), `JobResult.savepoint ${result.savepoint} has no _metadata (stop(): ${stopOutcome})`);
  }
  if (stopOutcome?.startsWith("ok ")) assert.equal(result.savepoint, stopOutcome.slice(3));
});
