/**
 * Sink transactions are identified per job run (issue 8, fault 10; DESIGN.md "Sink
 * transactions"): a run restored from an older savepoint never has its output taken for
 * "already committed", a completed stop-with-savepoint restored by a new run is not
 * committed a second time, and a retained checkpoint's transactions are committed again.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileSink, FileStorage, MemoryStorage, sinkTransactionId, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions, JobHandle, Sink } from "../../mod.ts";
import { GatedSequence } from "../gated_sequence.ts";
import { withWriter } from "../helpers.ts";

const N = 500;

function start(source: GatedSequence, sink: Sink<number>, o: EnvironmentOptions & { jobId: string }): Promise<JobHandle> {
  const { jobId, ...options } = o;
  const env = new StreamEnvironment({
    jobName: "txn",
    storage: new MemoryStorage(),
    batchSize: 16,
    restart: { strategy: "none" },
    ...options,
    runtime: { jobId },
  });
  env.fromSource<number>(source, { uid: "numbers", parallelism: 1 })
    .rebalance()
    .map((n) => {
      source.seen = Math.max(source.seen, n);
      return n;
    }, { uid: "seen", parallelism: 2 })
    .sinkTo(sink, { uid: "out", parallelism: 2 });
  return env.execute();
}

const RUN1 = "11111111111111111111111111111111";
const RUN2 = "22222222222222222222222222222222";

function missing(committed: readonly number[], n: number): number[] {
  const have = new Set(committed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (!have.has(i)) out.push(i);
  return out;
}

function assertExactlyOnce(committed: readonly number[], n: number, what: string): void {
  assert.deepEqual([...committed].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), what);
}

/** Run 1 of the rewind: checkpoint 1, savepoint 2, checkpoints 3 and 4, cancel. */
async function rewindRunOne(sink: Sink<number>, savepointDir: string): Promise<string> {
  const source = new GatedSequence(N);
  const h = await start(source, sink, { jobId: RUN1 });
  const ids: number[] = [];
  await source.allow(100);
  ids.push((await h.triggerCheckpoint()).id);
  await source.allow(200);
  const savepoint = await h.triggerSavepoint(savepointDir);
  ids.push(savepoint.id);
  await source.allow(300);
  ids.push((await h.triggerCheckpoint()).id);
  await source.allow(400);
  ids.push((await h.triggerCheckpoint()).id);
  assert.deepEqual(ids, [1, 2, 3, 4]);
  assert.equal((await h.cancel()).status, "canceled");
  return savepoint.external_path!;
}

describe("sink transaction identity", () => {
  test("sinkTransactionId() differs between job runs and checkpoints, and sorts by checkpoint", () => {
    const a = sinkTransactionId({ uid: "out", subtaskIndex: 0, jobId: RUN1 }, 3);
    assert.notEqual(a, sinkTransactionId({ uid: "out", subtaskIndex: 0, jobId: RUN2 }, 3));
    assert.notEqual(a, sinkTransactionId({ uid: "out", subtaskIndex: 1, jobId: RUN1 }, 3));
    assert.ok(a < sinkTransactionId({ uid: "out", subtaskIndex: 0, jobId: RUN1 }, 12));
  });

  test("CollectSink: a run restored from an older savepoint loses nothing (checkpoint ids repeat)", async () => {
    const sink = new CollectSink<number>();
    const dir = mkdtempSync(join(tmpdir(), "weir-txn-"));
    const location = await rewindRunOne(sink, dir);
    const source = new GatedSequence(N);
    source.allowed = N;
    const h2 = await start(source, sink, { jobId: RUN2, restoreFrom: location });
    const r2 = await h2.done;
    assert.equal(r2.status, "finished", String(r2.error));
    assert.equal(h2.checkpointStats().latest.restored?.id, 2);
    // Duplicates are allowed after a rewind (run 1 committed 200..399 too); losses are not.
    assert.deepEqual(missing(sink.committed, N), []);
  });

  test("CollectSink: a stop-with-savepoint restored by a new run is not committed again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-txn-"));
    const first = new CollectSink<number>();
    const s1 = new GatedSequence(N);
    const h1 = await start(s1, first, { jobId: RUN1 });
    await s1.allow(150);
    const location = await h1.stop({ savepoint: dir });
    assert.equal((await h1.done).status, "stopped");
    assert.equal(first.committed.length, 150, "the stop committed its savepoint's transactions");

    // A new process: a fresh sink that is not idempotent across processes.
    const second = new CollectSink<number>();
    const s2 = new GatedSequence(N);
    s2.allowed = N;
    const h2 = await start(s2, second, { jobId: RUN2, restoreFrom: location });
    assert.equal((await h2.done).status, "finished");
    assert.deepEqual(second.committed.filter((n) => n < 150), [], "the savepoint's records were committed a second time");
    assertExactlyOnce([...first.committed, ...second.committed], N, "the two runs together");
  });

  test("CollectSink: a retained checkpoint restored into a fresh sink commits its transactions again", async () => {
    const storage = new MemoryStorage();
    const first = new CollectSink<number>();
    const s1 = new GatedSequence(N);
    const h1 = await start(s1, first, { jobId: RUN1, storage });
    await s1.allow(120);
    const chk = await h1.triggerCheckpoint();
    assert.equal(chk.status, "COMPLETED");
    await h1.cancel();

    const second = new CollectSink<number>();
    const s2 = new GatedSequence(N);
    s2.allowed = N;
    const h2 = await start(s2, second, { jobId: RUN2, restoreFrom: { storage, path: `txn/${RUN1}/chk-${chk.id}` } });
    assert.equal((await h2.done).status, "finished");
    // The checkpoint's commit may not have reached this sink: it is committed again.
    assertExactlyOnce(second.committed, N, "the restored run's sink");
  });

  test("FileSink: a stop-with-savepoint restored by a new run into a fresh directory is not committed again", async () => {
    const root = mkdtempSync(join(tmpdir(), "weir-txn-"));
    const s1 = new GatedSequence(N);
    const h1 = await start(s1, new FileSink(join(root, "out1")), { jobId: RUN1 });
    await s1.allow(150);
    const location = await h1.stop({ savepoint: join(root, "sp") });
    assert.equal((await h1.done).status, "stopped");
    const out1 = (await FileSink.readCommitted(join(root, "out1"))) as number[];
    assert.equal(out1.length, 150);

    const s2 = new GatedSequence(N);
    s2.allowed = N;
    const h2 = await start(s2, new FileSink(join(root, "out2")), { jobId: RUN2, restoreFrom: location });
    const r2 = await h2.done;
    assert.equal(r2.status, "finished", String(r2.error));
    const out2 = (await FileSink.readCommitted(join(root, "out2"))) as number[];
    assertExactlyOnce([...out1, ...out2], N, "the two directories together");
  });

  test("FileSink: a run restored from an older savepoint into the same directory loses nothing", async () => {
    const root = mkdtempSync(join(tmpdir(), "weir-txn-"));
    const out = join(root, "out");
    const location = await rewindRunOne(new FileSink(out), join(root, "sp"));
    const source = new GatedSequence(N);
    source.allowed = N;
    const h2 = await start(source, new FileSink(out), { jobId: RUN2, restoreFrom: location, storage: new FileStorage(join(root, "state")) });
    const r2 = await h2.done;
    assert.equal(r2.status, "finished", String(r2.error));
    assert.deepEqual(missing((await FileSink.readCommitted(out)) as number[], N), []);
  });

  test("a stop-with-savepoint whose sinks never committed (the run died first) is committed by a new run restoring it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-txn-"));
    const first = new CollectSink<number>();
    // The first run's sinks hang in the stop's commit, and the run is cancelled there: as
    // a process killed between the savepoint's _metadata and the sinks' commits.
    let held = 0;
    const holding = withWriter(first, () => ({
      notifyCheckpointComplete: () => {
        held++;
        return new Promise<void>(() => {});
      },
    }));
    const s1 = new GatedSequence(N);
    const h1 = await start(s1, holding, { jobId: RUN1 });
    await s1.allow(150);
    void h1.stop({ savepoint: dir }).catch(() => {});
    while (held < 2) await new Promise((r) => setTimeout(r, 5));
    const location = h1.checkpointStats().latest.savepoint?.external_path;
    assert.ok(location, "the stop's savepoint completed");
    await h1.cancel();
    assert.equal(first.committed.length, 0);

    const second = new CollectSink<number>();
    const s2 = new GatedSequence(N);
    s2.allowed = N;
    const h2 = await start(s2, second, { jobId: RUN2, restoreFrom: location });
    assert.equal((await h2.done).status, "finished");
    assertExactlyOnce(second.committed, N, "the savepoint's records were dropped as committed");
  });

  test("a job cancelled during its stop-with-savepoint, before the savepoint completed, reports no savepoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-txn-"));
    const sink = new CollectSink<number>();
    let preCommits = 0;
    // The savepoint waits for the sinks' pre-commit, which never ends.
    const stuck = withWriter(sink, () => ({
      preCommitted: () => {
        preCommits++;
        return new Promise<void>(() => {});
      },
    }));
    const s1 = new GatedSequence(N);
    const h1 = await start(s1, stuck, { jobId: RUN1 });
    await s1.allow(50);
    const stopping = h1.stop({ savepoint: dir }).then(() => "stopped", (e: Error) => e.message);
    while (preCommits < 2) await new Promise((r) => setTimeout(r, 5));
    const result = await h1.cancel();
    assert.equal(result.status, "canceled");
    assert.equal(result.savepoint, undefined, "a savepoint that never completed");
    assert.match(await stopping, /failed/);
  });
});

