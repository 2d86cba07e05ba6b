import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions, JobHandle, OperatorContext, RestoredState, SinkWriter } from "../../mod.ts";
import { assertExactlyOnce, FailOnce, type Pair, sleep, until } from "../helpers.ts";

/** Counts records the slow operator finished, to see how far a barrier overtook. */
const processed = { n: 0 };

/**
 * The exactly-once job with a slow keyed operator (an async 1 ms wait per record), so
 * that every channel queue in front of it is full when a checkpoint is triggered.
 */
function slowJob(o: EnvironmentOptions & { n?: number; fail?: Partial<Record<"map" | "process" | "write" | "snapshot" | "commit", FailOnce>> } = {}) {
  const { n = 2000, fail = {}, ...envOptions } = o;
  const env = new StreamEnvironment({
    jobName: "slow",
    parallelism: 2,
    storage: new MemoryStorage(),
    batchSize: 16,
    channelCapacity: 4,
    restart: { strategy: "fixed-delay", attempts: 3, delay: 1 },
    ...envOptions,
    checkpoint: { unaligned: true, tolerableFailures: 100, ...envOptions.checkpoint },
  });
  const sink = new FaultySink(fail);
  env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
    .map((x): Pair => {
      fail.map?.check(x, "map");
      return [x % 7, 1];
    }, { uid: "pair" })
    .keyBy((p) => p[0])
    .process<Pair>(async (p, ctx) => {
      await sleep(1);
      const s = ctx.valueState<number>("sum");
      const next = (s.value() ?? 0) + p[1];
      fail.process?.check(next, "process");
      s.update(next);
      processed.n++;
      ctx.emit([p[0], next]);
    }, { uid: "sum", parallelism: 2 })
    .sinkTo(sink, { uid: "out", parallelism: 2 });
  return { env, sink, n };
}

/** CollectSink with failures injected on write, at the snapshot (before the ack) and on commit (after it). */
class FaultySink extends CollectSink<Pair> {
  constructor(readonly fail: Partial<Record<"write" | "snapshot" | "commit", FailOnce>>) {
    super();
  }
  override createWriter(ctx: OperatorContext): SinkWriter {
    const inner = super.createWriter(ctx);
    let written = 0;
    return {
      open: (c: OperatorContext, r: RestoredState | undefined) => inner.open(c, r),
      write: (values: unknown[]) => {
        written += values.length;
        this.fail.write?.check(written, "sink write");
        return inner.write(values);
      },
      snapshotState: (id: number) => {
        this.fail.snapshot?.check(id, "sink snapshot");
        return inner.snapshotState(id);
      },
      notifyCheckpointComplete: (id: number) => {
        this.fail.commit?.check(id, "sink commit");
        return inner.notifyCheckpointComplete(id);
      },
    };
  }
}

async function checkpointsUntil(job: JobHandle, stop: () => boolean): Promise<void> {
  while (!stop() && job.status !== "FINISHED") {
    await job.triggerCheckpoint();
    await sleep(15);
  }
}

describe("unaligned checkpoints", () => {
  test("the barrier overtakes the queued data: the snapshot does not wait for the backlog, which is stored as channel state", async () => {
    const { env } = slowJob({ n: 100_000 });
    const job = await env.execute();
    // Full queues first, not a fixed 60 ms (a loaded machine may not have filled them by then).
    await backlog(job, 2 * 4);
    const before = processed.n;
    const d = await job.triggerCheckpoint();
    const during = processed.n - before;
    assert.equal(d.status, "COMPLETED");
    assert.equal(d.checkpoint_type, "UNALIGNED_CHECKPOINT");
    assert.ok(d.persisted_data > 0, "in-flight data was persisted");
    const slow = Object.values(d.tasks).find((t) => t.name.startsWith("sum"))!;
    assert.ok(slow.persisted_data > 0, "the slow operator stored its overtaken input");
    assert.ok(slow.subtasks.every((s) => s.unaligned_checkpoint));
    // Two subtasks with two full input queues each hold ≥ 2 × 4 × 16 records; overtaking means
    // the checkpoint completed after only the records already in progress.
    assert.ok(during < 2 * 4 * 16, `the slow operator processed ${during} records before the snapshot completed`);
    await job.cancel();
  });

  test("aligned, the same checkpoint waits for the backlog ahead of the barrier", async () => {
    const { env } = slowJob({ n: 100_000, checkpoint: { unaligned: false } });
    const job = await env.execute();
    await backlog(job, 2 * 4);
    const before = processed.n;
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "COMPLETED");
    assert.equal(d.checkpoint_type, "CHECKPOINT");
    assert.equal(d.persisted_data, 0);
    assert.ok(processed.n - before >= 2 * 4 * 16, `only ${processed.n - before} records were processed before the aligned snapshot`);
    await job.cancel();
  });

  const cases: [string, () => Partial<Record<"map" | "process" | "write" | "snapshot" | "commit", FailOnce>>][] = [
    ["map", () => ({ map: new FailOnce((x) => x === 1200) })],
    ["the slow keyed operator", () => ({ process: new FailOnce((c) => c === 200) })],
    ["the sink's write", () => ({ write: new FailOnce((w) => w > 500) })],
    ["the sink's snapshot, before the ack", () => ({ snapshot: new FailOnce((id) => id >= 3) })],
    ["the sink's commit, after the ack", () => ({ commit: new FailOnce((id) => id >= 3) })],
  ];
  for (const [where, fail] of cases) {
    test(`a failure in ${where} recovers from channel state exactly-once`, async () => {
      const f = fail();
      const { env, sink, n } = slowJob({ fail: f });
      const job = await env.execute();
      await checkpointsUntil(job, () => Object.values(f)[0]!.fired);
      const result = await job.done;
      assert.ok(Object.values(f)[0]!.fired, "the failure was injected");
      assert.equal(result.status, "finished", String(result.error));
      assert.equal(result.restarts, 1);
      const stats = job.checkpointStats();
      assert.equal(stats.counts.restored, 1);
      assertExactlyOnce(sink.committed, n);
    });
  }

  test("a restore replays persisted channel state (a checkpoint with in-flight data is restored)", async () => {
    const f = new FailOnce((c) => c === 150);
    const { env, sink, n } = slowJob({ fail: { process: f } });
    const job = await env.execute();
    await checkpointsUntil(job, () => f.fired);
    await job.done;
    const restoredId = job.checkpointStats().latest.restored!.id;
    assert.ok(job.checkpointDetails(restoredId)!.persisted_data > 0, "the restored checkpoint held channel state");
    assertExactlyOnce(sink.committed, n);
  });
});

describe("aligned checkpoints with timeout", () => {
  test("alignment longer than alignedTimeout switches to unaligned; stats say so per subtask", async () => {
    const { env } = slowJob({ n: 100_000, checkpoint: { alignedTimeout: 5 } });
    const job = await env.execute();
    // Backpressure first (each queued batch is 16 records of >= 1 ms), not a fixed wait: on a
    // loaded machine 60 ms could pass before any queue filled, and the barrier aligned in time.
    await backlog(job, 4);
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "COMPLETED");
    assert.equal(d.checkpoint_type, "UNALIGNED_CHECKPOINT");
    const slow = Object.values(d.tasks).find((t) => t.name.startsWith("sum"))!;
    assert.ok(slow.subtasks.some((s) => s.unaligned_checkpoint), "some subtask ended unaligned");
    assert.ok(slow.persisted_data > 0);
    for (const s of slow.subtasks) {
      assert.equal(typeof s.alignment.duration, "number");
      assert.equal(typeof s.start_delay, "number");
    }
    await job.cancel();
  });

  test("a barrier waiting for credit in a full output buffer longer than alignedTimeout overtakes it", async () => {
    // The keyed operator is stuck in an async step, so the source's output buffer stays full
    // and its in-band barrier can never get credit: only the sender-side switch lets it pass.
    const gate = { open: () => {}, stuck: true, reached: false };
    const released = new Promise<void>((r) => (gate.open = r));
    const env = new StreamEnvironment({
      jobName: "sender-timeout", parallelism: 1, storage: new MemoryStorage(), batchSize: 8, channelCapacity: 2,
      checkpoint: { unaligned: true, alignedTimeout: 5, tolerableFailures: 10 },
    });
    env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 100_000 }), { uid: "src" })
      .keyBy((n) => n % 3)
      .process<number>(async (n, ctx) => {
        if (gate.stuck && n > 100) {
          gate.reached = true;
          await released;
        }
        ctx.emit(n);
      }, { uid: "stuck" })
      .sinkTo(new CollectSink(), { uid: "out" });
    const job = await env.execute();
    const source = () => job.vertices().find((v) => v.name.startsWith("Source"))!;
    // Wait for the state the test is about (a full output buffer), not for a fixed time.
    await until("the stuck step reached and the source's output buffer full", () => gate.reached && source().subtasks[0].outputBuffered > 0);
    const pending = job.triggerCheckpoint();
    // The source acknowledges only once its barrier overtook the full buffer (the switch).
    await until("the source acknowledged the checkpoint", () => {
      const inProgress = job.checkpointStats().history.find((h) => h.status === "IN_PROGRESS");
      const task = inProgress && Object.values(job.checkpointDetails(inProgress.id)?.tasks ?? {}).find((t) => t.name.startsWith("Source"));
      return (task?.num_acknowledged_subtasks ?? 0) > 0;
    });
    gate.stuck = false;
    gate.open();
    const d = await pending;
    assert.equal(d.status, "COMPLETED");
    const sourceTask = Object.values(d.tasks).find((t) => t.name.startsWith("Source"))!;
    assert.ok(sourceTask.persisted_data > 0, "the source's overtaken output buffer was persisted");
    assert.ok(sourceTask.subtasks[0].unaligned_checkpoint, "the source's part is marked unaligned");
    await job.cancel();
  });

  test("alignment within alignedTimeout stays aligned", async () => {
    const { env } = slowJob({ n: 100_000, checkpoint: { alignedTimeout: 60_000 } });
    const job = await env.execute();
    await sleep(30);
    const d = await job.triggerCheckpoint();
    assert.equal(d.checkpoint_type, "CHECKPOINT");
    assert.equal(d.persisted_data, 0);
    await job.cancel();
  });
});

describe("channel state bounds and aborts", () => {
  test("a checkpoint whose channel state exceeds channelStateMaxBytes fails with a clear reason, and the job goes on", async () => {
    const { env, sink, n } = slowJob({ checkpoint: { channelStateMaxBytes: 64 } });
    const job = await env.execute();
    // In-flight data beyond 64 bytes first, not a fixed 40 ms.
    await backlog(job, 2);
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "FAILED");
    assert.equal(d.failure_reason, "channel_state_too_large");
    assert.match(d.failure_message!, /channelStateMaxBytes/);
    // The abort reaches each subtask on its priority lane, after the batch it is on: wait for
    // it (a fixed 5 ms was too short for Deno on a loaded CI machine), bounded by until().
    await until("every subtask freed its channel state", () => job.vertices().every((v) => v.subtasks.every((s) => s.pendingSnapshots === 0)));
    for (const v of job.vertices()) for (const s of v.subtasks) assert.equal(s.pendingSnapshots, 0, `${v.name} still holds channel state`);
    const result = await job.done;
    assert.equal(result.status, "finished");
    assertExactlyOnce(sink.committed, n);
  });

  test("an expired unaligned checkpoint stops its recording and frees its memory", async () => {
    // Source subtask 1 (the upper half of the range) stalls in an async step of its chain,
    // so its barrier comes late: the receivers record channel state from it until the
    // checkpoint expires. (A pending poll would not do: barriers never wait for one.)
    let release = () => {};
    const released = new Promise<void>((r) => (release = r));
    const stall = { on: false };
    const env = new StreamEnvironment({
      jobName: "expire", parallelism: 2, storage: new MemoryStorage(), batchSize: 16,
      checkpoint: { unaligned: true, timeout: 20, tolerableFailures: 10 },
    });
    env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 50_000 }), { uid: "src" })
      // Stalled until the test releases it: far longer than the 20 ms timeout, however late timers fire.
      .map(async (x) => (stall.on && x >= 5e8 ? await released : undefined, x), { uid: "stall" })
      .keyBy((x) => x % 5)
      .reduce((a, b) => a + b, { uid: "sum" })
      .sinkTo(new CollectSink(), { uid: "out" });
    const job = await env.execute();
    await sleep(20);
    stall.on = true;
    await sleep(5);
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "FAILED");
    assert.equal(d.failure_reason, "checkpoint_expired");
    const sum = Object.values(d.tasks).find((t) => t.name.startsWith("sum"))!;
    assert.equal(sum.num_acknowledged_subtasks, 0, "the receivers were still recording when it expired");
    // The abort notifications travel on the priority lanes: wait for them, not for a fixed time.
    await until("every subtask freed its channel state and waits for a first barrier", () => job.vertices().every((v) => v.subtasks.every((s) => s.pendingSnapshots === 0 && s.barrierState === "WaitingForFirstBarrier")));
    for (const v of job.vertices()) {
      for (const s of v.subtasks) {
        assert.equal(s.pendingSnapshots, 0, `${v.name} still holds channel state`);
        assert.equal(s.barrierState, "WaitingForFirstBarrier", `${v.name} still collects`);
      }
    }
    stall.on = false;
    release();
    // The late barrier of the expired checkpoint is ignored: later checkpoints complete (a
    // 20 ms timeout may still expire one on a loaded machine, so a few tries).
    let status = "";
    for (let i = 0; i < 5 && status !== "COMPLETED"; i++) status = (await job.triggerCheckpoint()).status;
    assert.equal(status, "COMPLETED", "the late barrier of the expired checkpoint was ignored");
    await job.cancel();
  });
});

/** A sequence whose second subtask can be made to stall for 100 ms per poll. */
describe("at-least-once", () => {
  test("no record is lost through a failure (duplicates allowed) and nothing blocks", async () => {
    const f = new FailOnce((c) => c === 250);
    const { env, sink, n } = slowJob({ fail: { process: f }, checkpoint: { unaligned: false, mode: "at-least-once" } });
    const job = await env.execute();
    let blocked = false;
    const watch = setInterval(() => {
      for (const v of job.vertices()) for (const s of v.subtasks) if (s.barrierState === "CollectingAligned") blocked = true;
    }, 1);
    await checkpointsUntil(job, () => f.fired);
    const result = await job.done;
    clearInterval(watch);
    assert.equal(result.status, "finished");
    assert.equal(blocked, false, "no subtask ever aligned");
    const seen = new Map<number, Set<number>>();
    for (const [k, c] of sink.committed) (seen.get(k) ?? seen.set(k, new Set()).get(k)!).add(c);
    for (let k = 0; k < 7; k++) {
      const expected = Math.floor(n / 7) + (k < n % 7 ? 1 : 0);
      for (let c = 1; c <= expected; c++) assert.ok(seen.get(k)?.has(c), `key ${k} lost running count ${c}`);
    }
  });
});

describe("records that cannot be persisted", () => {
  test("an in-flight record that cannot be encoded declines the checkpoint with its reason; the records flow on", async () => {
    const env = new StreamEnvironment({
      jobName: "unencodable", parallelism: 1, storage: new MemoryStorage(), batchSize: 4, channelCapacity: 4,
      // A record holding a function cannot be copied: it flows only with object reuse.
      objectReuse: true,
      checkpoint: { unaligned: true, tolerableFailures: 100 },
    });
    const sink = new CollectSink<number>();
    env.fromSource(new SequenceSource(0, 300), { uid: "src" })
      .map((n) => ({ n, callback: () => n }), { uid: "wrap" })
      .keyBy((r) => r.n % 3)
      .process<number>(async (r, ctx) => {
        await sleep(1);
        ctx.emit(r.callback());
      }, { uid: "unwrap" })
      .sinkTo(sink, { uid: "out" });
    const job = await env.execute();
    // Records in flight for the barrier to overtake first, not a fixed 30 ms.
    await backlog(job, 2, "unwrap");
    const d = await job.triggerCheckpoint();
    assert.equal(d.status, "FAILED");
    assert.equal(d.failure_reason, "checkpoint_declined");
    assert.match(d.failure_message!, /cannot store an in-flight record/);
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.deepEqual(sink.committed.slice().sort((a, b) => a - b), [...Array(300).keys()]);
  });
});

/**
 * Waits until `batches` batches are queued in front of the slow operator `name` (its subtasks
 * together: one whose sender is blocked on the other drains, so "each" may never hold again).
 */
function backlog(job: JobHandle, batches: number, name = "sum"): Promise<void> {
  return until(`${batches} batches queued in front of ${name}`, () => job.vertices().find((v) => v.name.startsWith(name))!.subtasks.reduce((n, s) => n + s.queuedBatches, 0) >= batches);
}
