/**
 * The source half of the connector conformance suite: every source passes it against its real server; each source's test
 * file calls runSourceConformance() with a harness (the sinks' part lives beside it in its
 * own exported function). Every check counts distinct record ids: each of 0..n-1 must be
 * committed exactly once, through failures, crashes and rescaled restores.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildRun, runChildJob } from "../child_job.ts";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileSink, MemoryStorage, type Source, StreamEnvironment } from "../../mod.ts";
import type { EnvironmentOptions, JobHandle } from "../../mod.ts";
import { FailOnce, sleep, until } from "../helpers.ts";

/** One test's input: n records with ids 0..n-1, written where the source reads. */
export interface SourceFixture<T> {
  /** A new Source over this input; `bounded` only where the source supports it. */
  source(): Source<T>;
  /** The id (0..n-1) of a record. */
  id(record: T): number;
  /** Whether the source ends by itself after the input (else the test cancels it once all ids arrived). */
  bounded: boolean;
  /** Called once the job runs (an HTTP source needs its URL); writes the input if not written before. */
  feed?(job: JobHandle): Promise<void>;
  /** What the child process job (fixtures/source_job.ts) needs to build the same source. */
  child: { kind: string; config: Record<string, unknown> };
  /** For the child job's input, once its REST server listens (an HTTP source). */
  feedUrl?(url: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface SourceHarness<T> {
  /** Writes (or prepares) an input of n records. */
  setup(n: number): Promise<SourceFixture<T>>;
}

const here = import.meta.dirname ?? new URL(".", import.meta.url).pathname;

/** Each id of 0..n-1 exactly once. */
export function assertEachOnce(ids: number[], n: number, what = "committed"): void {
  const seen = new Uint8Array(n);
  for (const id of ids) {
    assert.ok(Number.isInteger(id) && id >= 0 && id < n, `${what}: id ${id} out of range`);
    assert.equal(seen[id], 0, `${what}: id ${id} twice`);
    seen[id] = 1;
  }
  const missing = seen.indexOf(0);
  assert.equal(missing, -1, `${what}: id ${missing} missing (${ids.length} of ${n})`);
}

/** Runs the job (a source → map to id → CollectSink) until every id is committed or it ends. */
async function runJob<T>(fx: SourceFixture<T>, options: EnvironmentOptions & { failInMap?: FailOnce; slow?: boolean; mapped?: number[] }): Promise<{ job: JobHandle; sink: CollectSink<number> }> {
  const { failInMap, slow, mapped, ...envOptions } = options;
  const env = new StreamEnvironment({
    jobName: "conformance",
    parallelism: 2,
    storage: new MemoryStorage(),
    checkpoint: { interval: 20 },
    restart: { strategy: "fixed-delay", attempts: 5, delay: 20 },
    http: { port: 0 },
    // Small batches and channels: little in flight, so checkpoints land mid-input.
    batchSize: 16,
    channelCapacity: 2,
    ...envOptions,
  });
  const sink = new CollectSink<number>();
  let seen = 0;
  env.fromSource(fx.source(), { uid: "source" })
    .map(async (r) => {
      const id = fx.id(r);
      failInMap?.check(id, "map");
      mapped?.push(id);
      // Paced so that a savepoint or a failure lands mid-input.
      if (slow && ++seen % 10 === 0) await sleep(5);
      return id;
    }, { uid: "id" })
    .sinkTo(sink, { uid: "out" });
  const job = await env.execute();
  await fx.feed?.(job);
  return { job, sink };
}

/** Waits for the end of a bounded source, or for all ids and then cancels an unbounded one. */
async function finish<T>(fx: SourceFixture<T>, job: JobHandle, sink: CollectSink<number>, n: number, already = 0): Promise<void> {
  if (fx.bounded) {
    const result = await job.done;
    assert.equal(result.status, "finished", `the job finished (${result.error?.message ?? ""})`);
  } else {
    await until(`${n} committed records`, () => sink.committed.length + already >= n);
    await sleep(50);
    await job.cancel();
  }
}

/** The source half of the connector conformance suite. */
export function runSourceConformance<T>(name: string, harness: SourceHarness<T>): void {
  describe(`${name} source conformance`, () => {
    test("reads every record once and (bounded) ends", async () => {
      const n = 500;
      const fx = await harness.setup(n);
      try {
        const { job, sink } = await runJob(fx, {});
        await finish(fx, job, sink, n);
        assertEachOnce(sink.committed, n);
      } finally {
        await fx.cleanup();
      }
    });

    test("a failure mid-run (a map that throws once) replays from the snapshotted splits: none lost, none twice", async () => {
      const n = 1000;
      const fx = await harness.setup(n);
      try {
        const fail = new FailOnce((id) => id === 700);
        const { job, sink } = await runJob(fx, { failInMap: fail, slow: true });
        await finish(fx, job, sink, n);
        assert.ok(fail.fired, "the map failed once");
        assert.ok(job.restarts >= 1, "the job restarted");
        assertEachOnce(sink.committed, n);
      } finally {
        await fx.cleanup();
      }
    });

    for (const parallelism of [3, 1]) {
      test(`a savepoint taken mid-input restores at parallelism ${parallelism}: splits redistributed, each record once over both runs`, async () => {
        const n = 1000;
        const fx = await harness.setup(n);
        const storage = new MemoryStorage();
        try {
          // What the map saw: no failure here, so each run's records reach it once, and
          // the source alone decides what the restored run reads again.
          const mappedBefore: number[] = [];
          const mappedAfter: number[] = [];
          const first = await runJob(fx, { slow: true, storage, mapped: mappedBefore });
          await until("100 committed records", () => first.sink.committed.length >= 100);
          const savepoint = await first.job.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-src-sp-")) });
          assert.ok(mappedBefore.length < n, `the first run stopped mid-input (${mappedBefore.length} of ${n})`);
          const second = await runJob(fx, { parallelism, storage, restoreFrom: savepoint, mapped: mappedAfter });
          await finish(fx, second.job, second.sink, n, mappedBefore.length);
          assertEachOnce([...mappedBefore, ...mappedAfter], n, "read over both runs");
        } finally {
          await fx.cleanup();
        }
      });
    }

    test("a process killed with SIGKILL resumes from its latest checkpoint: each record once in the FileSink", async () => {
      const n = 3000;
      const fx = await harness.setup(n);
      const dir = mkdtempSync(join(tmpdir(), "weir-src-crash-"));
      const args = [fx.child.kind, JSON.stringify(fx.child.config), join(dir, "state"), join(dir, "out"), String(n)];
      try {
        let completed = 0;
        const first = await runChild(args, async (line, kill) => {
          if (line.type === "listening") await fx.feedUrl?.(line.url as string);
          if (line.type === "checkpoint_completed" && ++completed === 4) kill();
        });
        assert.equal(first.signal, "SIGKILL", "the first run was killed mid-run");
        const before = (await FileSink.readCommitted(join(dir, "out"))) as number[];
        assert.ok(before.length < n, `the first run committed part of the input (${before.length} of ${n})`);
        const second = await runChild(args, async (line, kill) => {
          if (line.type === "checkpoint_completed" && !fx.bounded && ((await FileSink.readCommitted(join(dir, "out"))) as number[]).length >= n) kill();
        });
        assert.ok(second.lines.some((l) => l.type === "restored"), "the second run restored a checkpoint");
        if (fx.bounded) assert.deepEqual(second.lines.at(-1), { type: "done", status: "finished" });
        assertEachOnce((await FileSink.readCommitted(join(dir, "out"))) as number[], n);
      } finally {
        await fx.cleanup();
      }
    });
  });
}

/** Runs fixtures/source_job.ts in a child process of the same runtime. */
function runChild(args: string[], onLine: (line: Record<string, unknown>, kill: () => void) => void | Promise<void>): Promise<ChildRun> {
  return runChildJob(join(here, "fixtures", "source_job.ts"), args, onLine);
}

