/**
 * The sink half of the connector conformance suite: every exactly-once sink runs through
 * these against its real server. A sink's test file describes how to make a fresh target
 * (a directory, a table, a stream) and how to read back what is committed there.
 *
 * - runSinkTransactionConformance: the two-phase protocol, driving one SinkWriter by hand.
 * - runSinkExactlyOnceConformance: whole jobs through an injected failure, a stop and a
 *   restore at another parallelism, and a SIGKILLed process resumed.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildRun, runChildJob } from "../child_job.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions, OperatorContext, OperatorSnapshot, RestoredState, Sink, SinkWriter } from "../../mod.ts";
import { assertExactlyOnce, FailOnce, type Pair, sleep } from "../helpers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

/** What the conformance jobs write: a key and its running count. */
export interface Row {
  key: number;
  count: number;
}

/** One fresh place to write to (a directory, a table, a stream), owned by one test. */
export interface SinkTarget {
  sink: Sink<Row>;
  /** Everything committed there so far, as rows. */
  committed(): Promise<Row[]>;
  /** How a child process builds the same sink (see fixtures/sink_job.ts). */
  spec: Record<string, unknown>;
  cleanup?(): Promise<void>;
}

export interface SinkHarness {
  name: string;
  target(): Promise<SinkTarget>;
  /** The server's loopback port and a target whose sink reaches it through another port (a proxy). */
  server?: { port: number; targetVia(port: number): Promise<SinkTarget> };
}

// Job runs of the tests, new for every target: a sink that remembers committed ids (in a
// database, a stream) must not take one test's transaction for another's.
let RUN_A = "";
let RUN_B = "";
let runs = 0;
function newRuns(): void {
  const base = `${Date.now().toString(16)}${(++runs).toString(16).padStart(4, "0")}`.padStart(30, "0").slice(-30);
  RUN_A = `a${base}a`;
  RUN_B = `b${base}b`;
}
newRuns();

/** A fresh target, and fresh run ids to go with it. */
function fresh(h: SinkHarness): Promise<SinkTarget> {
  newRuns();
  return h.target();
}

/** A subtask's context as the runtime builds it, for driving a writer by hand. */
export function writerContext(o: { run?: string; subtaskIndex?: number; parallelism?: number; attempt?: number } = {}): OperatorContext {
  return {
    uid: "out",
    name: "out",
    subtaskIndex: o.subtaskIndex ?? 0,
    parallelism: o.parallelism ?? 1,
    maxParallelism: 128,
    keyGroupRange: { start: 0, end: 127 },
    clock: { now: () => 0 },
    attempt: o.attempt ?? 0,
    jobName: "conformance",
    jobId: o.run ?? RUN_A,
  } as OperatorContext;
}

function rows(from: number, to: number): Row[] {
  return Array.from({ length: to - from }, (_, i) => ({ key: (from + i) % 7, count: from + i }));
}

function restored(snapshot: OperatorSnapshot, checkpointId: number, transactionsCommitted = false): RestoredState {
  return { keyed: [], operator: structuredClone(snapshot.operator ?? []), checkpointId, transactionsCommitted } as RestoredState;
}

async function opened(sink: Sink<Row>, ctx: OperatorContext, from?: RestoredState): Promise<SinkWriter> {
  const w = sink.createWriter(ctx);
  await w.open(ctx, from);
  return w;
}

/** Pre-commits checkpoint id the way a subtask does: snapshot, then wait for durability. */
async function preCommit(w: SinkWriter, id: number): Promise<OperatorSnapshot> {
  const s = structuredClone(w.snapshotState(id));
  await w.preCommitted?.(id);
  return s;
}

function sorted(r: Row[]): Row[] {
  return r.map((x) => ({ key: Number(x.key), count: Number(x.count) })).sort((a, b) => a.count - b.count || a.key - b.key);
}

/** The two-phase commit protocol of one writer, driven by hand. */
export function runSinkTransactionConformance(h: SinkHarness): void {
  describe(`${h.name} transactions`, () => {
    test("nothing is visible before its checkpoint completes; then all of it, once", async () => {
      const t = await fresh(h);
      const w = await opened(t.sink, writerContext());
      await w.write(rows(0, 50));
      await preCommit(w, 1);
      assert.deepEqual(await t.committed(), [], "pre-committed records are not visible");
      await w.notifyCheckpointComplete(1);
      assert.deepEqual(sorted(await t.committed()), rows(0, 50));
      w.close?.();
      await t.cleanup?.();
    });

    test("a commit repeated after a restore is a no-op", async () => {
      const t = await fresh(h);
      const w1 = await opened(t.sink, writerContext());
      await w1.write(rows(0, 30));
      const s1 = await preCommit(w1, 1);
      await w1.notifyCheckpointComplete(1);
      await w1.notifyCheckpointComplete(1);
      w1.close?.();
      // Recovery (same run, and a new run restoring a retained checkpoint) commits checkpoint 1 again.
      const w2 = await opened(t.sink, writerContext({ attempt: 1 }), restored(s1, 1));
      const w3 = await opened(t.sink, writerContext({ run: RUN_B }), restored(s1, 1));
      assert.deepEqual(sorted(await t.committed()), rows(0, 30));
      await w2.write(rows(30, 40));
      await preCommit(w2, 2);
      await w2.notifyCheckpointComplete(2);
      assert.deepEqual(sorted(await t.committed()), rows(0, 40));
      w2.close?.();
      w3.close?.();
      await t.cleanup?.();
    });

    test("a restore commits what the restored checkpoint pre-committed if its commit never happened", async () => {
      const t = await fresh(h);
      const w1 = await opened(t.sink, writerContext());
      await w1.write(rows(0, 20));
      const s1 = await preCommit(w1, 1);
      w1.close?.(); // The process dies between the checkpoint's completion and the commit.
      assert.deepEqual(await t.committed(), []);
      const w2 = await opened(t.sink, writerContext({ attempt: 1 }), restored(s1, 1));
      assert.deepEqual(sorted(await t.committed()), rows(0, 20));
      w2.close?.();
      await t.cleanup?.();
    });

    test("a transaction pre-committed by a failed attempt is aborted: never visible, its records written once", async () => {
      const t = await fresh(h);
      const w1 = await opened(t.sink, writerContext());
      await w1.write(rows(0, 10));
      const s1 = await preCommit(w1, 1);
      await w1.notifyCheckpointComplete(1);
      await w1.write(rows(10, 25));
      await preCommit(w1, 2); // Checkpoint 2 never completes: the attempt fails.
      await w1.write(rows(25, 30)); // And it wrote on after the barrier.
      w1.close?.();
      const w2 = await opened(t.sink, writerContext({ attempt: 1 }), restored(s1, 1));
      assert.deepEqual(sorted(await t.committed()), rows(0, 10), "nothing of the failed attempt after checkpoint 1");
      await w2.write(rows(10, 30)); // The replay after checkpoint 1.
      await preCommit(w2, 2); // The same checkpoint id again (same run): a pre-commit replaces the leftover.
      await w2.notifyCheckpointComplete(2);
      assert.deepEqual(sorted(await t.committed()), rows(0, 30));
      w2.close?.();
      await t.cleanup?.();
    });

    test("an aborted checkpoint's records are committed with the next completed one", async () => {
      const t = await fresh(h);
      const w = await opened(t.sink, writerContext());
      await w.write(rows(0, 10));
      await preCommit(w, 1);
      w.notifyCheckpointAborted?.(1);
      await w.write(rows(10, 20));
      await preCommit(w, 2);
      await w.notifyCheckpointComplete(2);
      assert.deepEqual(sorted(await t.committed()), rows(0, 20));
      w.close?.();
      await t.cleanup?.();
    });

    test("transactions of a completed stop-with-savepoint are not committed again by a new run", async () => {
      const t = await fresh(h);
      const w1 = await opened(t.sink, writerContext());
      await w1.write(rows(0, 10));
      const s1 = await preCommit(w1, 1);
      w1.close?.();
      // The flag says its commit happened; a sink that committed anyway would show the rows.
      const w2 = await opened(t.sink, writerContext({ run: RUN_B }), restored(s1, 1, true));
      assert.deepEqual(await t.committed(), []);
      w2.close?.();
      await t.cleanup?.();
    });

    test("the final checkpoint after end of input commits everything written", async () => {
      const t = await fresh(h);
      const w = await opened(t.sink, writerContext());
      await w.write(rows(0, 5));
      await w.finish?.();
      await preCommit(w, 1);
      await w.notifyCheckpointComplete(1);
      assert.deepEqual(sorted(await t.committed()), rows(0, 5));
      w.close?.();
      await t.cleanup?.();
    });

    test("a restore at another parallelism commits every subtask's transactions once", async () => {
      const t = await fresh(h);
      const snaps: OperatorSnapshot[] = [];
      for (let i = 0; i < 3; i++) {
        const w = await opened(t.sink, writerContext({ subtaskIndex: i, parallelism: 3 }));
        await w.write(rows(i * 10, i * 10 + 10));
        snaps.push(await preCommit(w, 1));
        w.close?.();
      }
      // Dealt round-robin to two subtasks of a new run, as the runtime does on rescale.
      const all = snaps.flatMap((s) => s.operator ?? []);
      const parts = [all.filter((_, i) => i % 2 === 0), all.filter((_, i) => i % 2 === 1)];
      const ws: SinkWriter[] = [];
      for (let i = 0; i < 2; i++) ws.push(await opened(t.sink, writerContext({ run: RUN_B, subtaskIndex: i, parallelism: 2 }), restored({ operator: parts[i] }, 1)));
      assert.deepEqual(sorted(await t.committed()), rows(0, 30));
      for (const w of ws) w.close?.();
      await t.cleanup?.();
    });
  });
}

/** The counting job (issue 9's exactly-once checks) into a sink: running counts per key as rows. */
export function countingJobInto(sink: Sink<Row>, o: EnvironmentOptions & { n: number; failInMap?: FailOnce; sinkParallelism?: number; sumParallelism?: number; ratePerSecond?: number }) {
  const { n, failInMap, sinkParallelism = 3, sumParallelism = 3, ratePerSecond, ...env } = o;
  const e = new StreamEnvironment({ jobName: "sink-conformance", parallelism: 2, storage: new MemoryStorage(), restart: { strategy: "fixed-delay", attempts: 5, delay: 5 }, ...env });
  e.fromSource(new SequenceSource(0, n, { ratePerSecond }), { uid: "numbers" })
    .map((x): Pair => {
      failInMap?.check(x, "map");
      return [x % 7, 1];
    }, { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "sum", parallelism: sumParallelism })
    .map((p): Row => ({ key: p[0], count: p[1] }), { uid: "row", parallelism: sumParallelism })
    .sinkTo(sink, { uid: "out", parallelism: sinkParallelism });
  return e;
}

function asPairs(r: Row[]): Pair[] {
  return r.map((x) => [Number(x.key), Number(x.count)]);
}

const here = import.meta.dirname ?? new URL(".", import.meta.url).pathname;

/** Runs fixtures/sink_job.ts in a child of the same runtime; kill() SIGKILLs it. */
function runChild(args: string[], onLine: (line: Record<string, unknown>, kill: () => void) => void | Promise<void>): Promise<ChildRun> {
  return runChildJob(join(here, "fixtures", "sink_job.ts"), args, onLine);
}

/** Whole jobs into the sink: exactly-once through a failure, a rescaled restore and a SIGKILL. */
export function runSinkExactlyOnceConformance(h: SinkHarness, o: { n?: number } = {}): void {
  const n = o.n ?? 5000;
  describe(`${h.name} exactly-once`, () => {
    test("a map that throws once mid-run: the job restarts and the committed output is exactly-once", async () => {
      const t = await fresh(h);
      const fail = new FailOnce((x) => x === Math.floor(n * 0.6));
      const env = countingJobInto(t.sink, { n, failInMap: fail, checkpoint: { interval: 15 }, ratePerSecond: n * 4 });
      const result = await (await env.execute()).done;
      assert.equal(result.status, "finished", String(result.error));
      assert.ok(fail.fired, "the failure was injected");
      assert.ok(result.restarts >= 1, "the job restarted");
      assertExactlyOnce(asPairs(await t.committed()), n);
      await t.cleanup?.();
    });

    test("stop with a savepoint, restore at another parallelism: exactly-once over both runs", async () => {
      const t = await fresh(h);
      const dir = mkdtempSync(join(tmpdir(), "weir-sink-sp-"));
      const h1 = await countingJobInto(t.sink, { n, checkpoint: { interval: 15 }, ratePerSecond: Math.ceil(n / 3) }).execute();
      for (let i = 0; i < 500 && (await t.committed()).length === 0; i++) await sleep(10);
      const location = await h1.stop({ savepoint: dir });
      assert.equal((await h1.done).status, "stopped");
      const midway = (await t.committed()).length;
      assert.ok(midway > 0 && midway < n, `stopped midway (${midway} of ${n} committed)`);
      const env2 = countingJobInto(t.sink, { n, parallelism: 3, sinkParallelism: 2, sumParallelism: 4, restoreFrom: location, checkpoint: { interval: 15 } });
      const r2 = await (await env2.execute()).done;
      assert.equal(r2.status, "finished", String(r2.error));
      assertExactlyOnce(asPairs(await t.committed()), n);
      await t.cleanup?.();
    });

    test("a process killed with SIGKILL resumes from its latest checkpoint: exactly-once", async () => {
      const t = await fresh(h);
      const storage = mkdtempSync(join(tmpdir(), "weir-sink-kill-"));
      const args = [storage, JSON.stringify(t.spec), String(n), String(Math.ceil(n / 4))];
      let completed = 0;
      const first = await runChild(args, (line, kill) => {
        if (line.type === "checkpoint_completed" && ++completed === 4) kill();
      });
      assert.equal(first.signal, "SIGKILL", "the first run was killed mid-run");
      const before = (await t.committed()).length;
      assert.ok(before > 0 && before < n, `the first run committed part of the output (${before})`);
      const second = await runChild(args, () => {});
      assert.equal(second.code, 0);
      assert.ok(second.lines.find((l) => l.type === "restored"), "the second run restored a checkpoint");
      assert.deepEqual(second.lines.at(-1), { type: "done", status: "finished" });
      assertExactlyOnce(asPairs(await t.committed()), n);
      await t.cleanup?.();
    });
  });
}


/**
 * A server that disappears mid-run and comes back (through a loopback proxy): the sink
 * fails its subtask, the restart strategy retries until the server is back, and the
 * committed output is exactly-once. Needs `h.server`.
 */
export function runSinkOutageConformance(h: SinkHarness, o: { n?: number } = {}): void {
  const n = o.n ?? 4000;
  test(`${h.name}: a server that goes away mid-run and comes back: retried, nothing lost or committed twice`, async () => {
    const proxy = new TcpProxy(h.server!.port);
    await proxy.start();
    newRuns();
    const t = await h.server!.targetVia(proxy.port);
    const env = countingJobInto(t.sink, { n, ratePerSecond: n / 2, checkpoint: { interval: 15 }, restart: { strategy: "fixed-delay", attempts: 100, delay: 20 } });
    const job = await env.execute();
    for (let i = 0; i < 500 && (await t.committed()).length === 0; i++) await sleep(10);
    proxy.down();
    await sleep(300);
    proxy.up();
    const result = await job.done;
    await proxy.close();
    assert.equal(result.status, "finished", String(result.error));
    assert.ok(result.restarts >= 1, "the outage failed the job at least once");
    assertExactlyOnce(asPairs(await t.committed()), n);
    await t.cleanup?.();
  });
}
