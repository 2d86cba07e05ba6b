/** Shared builders and checks for tests. */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../mod.ts";
import type { EnvironmentOptions, Sink, SinkWriter } from "../mod.ts";

export type Pair = [key: number, count: number];

/** A flag a test arms once; the job's functions throw the first time they see it armed. */
export class FailOnce {
  #armed = true;
  #ready: () => boolean = () => true;
  constructor(readonly when: (n: number) => boolean) {}
  /** Fires only once `ready()` holds too (e.g. a checkpoint was committed), so a loaded machine cannot move the failure before the first checkpoint. */
  after(ready: () => boolean): this {
    this.#ready = ready;
    return this;
  }
  check(n: number, where: string): void {
    if (this.#armed && this.when(n) && this.#ready()) {
      this.#armed = false;
      throw new Error(`injected failure in ${where} at ${n}`);
    }
  }
  get fired(): boolean {
    return !this.#armed;
  }
}

/**
 * The exactly-once job: SequenceSource(0, n) at parallelism 2 → map to
 * [n % 7, 1] → keyBy → rolling sum at parallelism 3 → CollectSink.
 */
export function countingJob(options: EnvironmentOptions & {
  n?: number;
  failInMap?: FailOnce;
  failInReduce?: FailOnce;
  /** Wait this long per record in the keyed operator (0: one microtask), so its input queues fill. */
  slowReduceMs?: number;
  ratePerSecond?: number;
}) {
  const { n = 20_000, failInMap, failInReduce, slowReduceMs, ratePerSecond, ...envOptions } = options;
  const env = new StreamEnvironment({
    jobName: "counting",
    parallelism: 2,
    storage: new MemoryStorage(),
    restart: { strategy: "fixed-delay", attempts: 5, delay: 5 },
    ...envOptions,
  });
  const sink = new CollectSink<Pair>();
  const pairs = env.fromSource(new SequenceSource(0, n, { ratePerSecond }), { uid: "numbers" })
    .map((x): Pair => {
      failInMap?.check(x, "map");
      return [x % 7, 1];
    }, { uid: "pair" })
    .keyBy((p) => p[0]);
  const reduced = slowReduceMs !== undefined
    ? pairs.process<Pair>(async (p, ctx) => {
      await (slowReduceMs > 0 ? new Promise((r) => setTimeout(r, slowReduceMs)) : null);
      const s = ctx.valueState<number>("sum");
      const next = (s.value() ?? 0) + p[1];
      failInReduce?.check(next, "reduce");
      s.update(next);
      ctx.emit([p[0], next]);
    }, { uid: "sum", parallelism: 3 })
    : pairs.reduce((a, b) => {
      failInReduce?.check(a[1] + b[1], "reduce");
      return [a[0], a[1] + b[1]];
    }, { uid: "sum", parallelism: 3 });
  reduced.sinkTo(sink, { uid: "out", parallelism: 3 });
  return { env, sink, n };
}

/**
 * An unbounded rolling count over `keys` keys (SequenceSource at 20 000 records/s → map to
 * [n % keys, 1] → keyBy → reduce → CollectSink; uids n, pair, count, out) in an environment
 * of `options`; `seen.n` counts the records the map saw.
 */
export function keyedCountJob(options: EnvironmentOptions, keys: number) {
  const env = new StreamEnvironment(options);
  const sink = new CollectSink<Pair>();
  const seen = { n: 0 };
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 20_000 }), { uid: "n" })
    .map((n): Pair => (seen.n++, [n % keys, 1]), { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b): Pair => [a[0], a[1] + b[1]], { uid: "count" })
    .sinkTo(sink, { uid: "out" });
  return { env, sink, seen };
}

/** For every key k: exactly the running counts 1..n_k, each once. */
export function assertExactlyOnce(committed: Pair[], n: number, keys = 7): void {
  const seen = new Map<number, number[]>();
  for (const [k, c] of committed) {
    let l = seen.get(k);
    if (!l) seen.set(k, (l = []));
    l.push(c);
  }
  assert.equal(seen.size, Math.min(keys, n), "every key has output");
  for (let k = 0; k < keys; k++) {
    const expected = Math.floor(n / keys) + (k < n % keys ? 1 : 0);
    const got = (seen.get(k) ?? []).slice().sort((a, b) => a - b);
    assert.equal(got.length, expected, `key ${k}: ${got.length} outputs, expected ${expected}`);
    for (let i = 0; i < expected; i++) {
      if (got[i] !== i + 1) assert.fail(`key ${k}: running count ${i + 1} missing or duplicated (found ${got[i]})`);
    }
  }
}

/** Resolves after ms of real time (tests only; the core never sleeps). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Resolves once the job has completed `count` checkpoints (however long a loaded machine
 * takes), so a test never bets on how many fit into a fixed sleep.
 */
export async function checkpointsCompleted(job: { checkpointStats(): { counts: { completed: number } } }, count = 1, limitMs = 60_000): Promise<void> {
  const start = Date.now();
  while (job.checkpointStats().counts.completed < count) {
    if (Date.now() - start > limitMs) {
      const stats = job.checkpointStats() as { counts: unknown; latest?: { failed: unknown } };
      throw new Error(`Fewer than ${count} checkpoints completed within ${limitMs} ms: ${JSON.stringify(stats.counts)}; the latest failed: ${JSON.stringify(stats.latest?.failed)}`);
    }
    await sleep(5);
  }
}

/** Polls until `cond` holds: a hang guard naming `what`, never a speed check. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, limitMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > limitMs) throw new Error(`Not reached within ${limitMs} ms: ${what}`);
    await sleep(5);
  }
}

/** Pids of writer processes (sqlite_writer_process.ts) of the file at `path` (Linux). */
export function writerProcesses(path: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (args.some((a) => a.endsWith("sqlite_writer_process.ts")) && args.includes(path)) pids.push(Number(pid));
    } catch {
      // It ended while the processes were listed.
    }
  }
  return pids;
}

/**
 * `sink` with some of its writers' methods replaced: `over` gets each writer the sink made
 * and returns the replacements; the other methods delegate to that writer.
 */
export function withWriter<T>(sink: CollectSink<T>, over: (w: SinkWriter) => Partial<SinkWriter>): Sink<T> {
  return {
    createWriter(ctx) {
      const w = sink.createWriter(ctx);
      return {
        open: (c, restored) => w.open(c, restored),
        write: (values) => w.write(values),
        snapshotState: (id) => w.snapshotState(id),
        notifyCheckpointComplete: (id) => w.notifyCheckpointComplete(id),
        ...over(w),
      };
    },
  };
}

