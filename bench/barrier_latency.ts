/**
 * How long a barrier waits on a busy or idle subtask (issue 8, faults 8 and 11), on the
 * real clock:
 *
 * - heavy records: half the records share one key whose synchronous processing costs
 *   0.5 ms (a busy-wait), default batchSize 1024, parallelism 2, unaligned checkpoints
 *   one after another. Reports checkpoint durations and how late a 10 ms timer fired
 *   meanwhile (the one thread also serves the coordinator, timers and HTTP).
 *   Target: every unaligned checkpoint under ~150 ms.
 * - long poll: a source whose poll awaits 4 s when it has nothing (a long poll against a
 *   server). Reports checkpoint and stop-with-savepoint durations while a poll is pending.
 *   Target: under 1.5 s (before the fix: ~4 s).
 *
 *   bun bench/barrier_latency.ts  |  deno run -A bench/barrier_latency.ts
 *   … --both        this runtime, then the other
 *   … --json        progress on stderr, one JSON line on stdout
 *   … --checkpoints 10
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type CheckpointDetails, MemoryStorage, SequenceSource, StreamEnvironment } from "../mod.ts";
import type { OperatorContext, Source, SourceReader } from "../mod.ts";
import { CountingSink } from "./counting_sink.ts";
import { printResultLine, runOtherRuntime } from "./other_runtime.ts";
import { median, nowMs, percentile, runtimeName, table } from "./stats.ts";

const args = process.argv.slice(2);
const jsonMode = args.includes("--json");
const at = args.indexOf("--checkpoints");
const CHECKPOINTS = at >= 0 ? Number(args[at + 1]) : 10;
const log = (s: string) => (jsonMode ? console.error(s) : console.log(s));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Holds the thread for `ms`: a synchronous, costly record. */
function busy(ms: number): void {
  const end = nowMs() + ms;
  while (nowMs() < end) { /* spin */ }
}

/** Samples how late a 10 ms interval timer fires while `work` runs. */
async function timerLag<T>(work: () => Promise<T>): Promise<{ value: T; lagMaxMs: number; lagP95Ms: number }> {
  const lags: number[] = [];
  let expected = nowMs() + 10;
  const t = setInterval(() => {
    const now = nowMs();
    lags.push(Math.max(0, now - expected));
    expected = now + 10;
  }, 10);
  try {
    const value = await work();
    return { value, lagMaxMs: Math.max(0, ...lags), lagP95Ms: percentile(lags, 95) };
  } finally {
    clearInterval(t);
  }
}

interface Row {
  scenario: string;
  what: string;
  count: number;
  failed: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  note: string;
}

async function heavyRecords(): Promise<Row> {
  const sink = new CountingSink();
  const env = new StreamEnvironment({
    jobName: "bench-heavy-records",
    parallelism: 2,
    storage: new MemoryStorage(),
    checkpoint: { interval: 0, unaligned: true },
  });
  env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER), { uid: "numbers" })
    .keyBy((n) => (n % 2 === 0 ? 0 : n % 101))
    .process<number>((n, ctx) => {
      if (ctx.key === 0) busy(0.5);
      ctx.emit(n);
    }, { uid: "hot" })
    .sinkTo(sink, { uid: "count" });
  const job = await env.execute();
  await sleep(500);
  const { value: details, lagMaxMs, lagP95Ms } = await timerLag(async () => {
    const out: CheckpointDetails[] = [];
    for (let i = 0; i < CHECKPOINTS; i++) {
      out.push(await job.triggerCheckpoint());
      await sleep(100);
    }
    return out;
  });
  await job.cancel();
  const done = details.filter((d) => d.status === "COMPLETED");
  const ms = done.map((d) => d.end_to_end_duration);
  return {
    scenario: "heavy records (0.5 ms sync, batch 1024)",
    what: "unaligned checkpoint",
    count: done.length,
    failed: details.length - done.length,
    medianMs: median(ms),
    p95Ms: percentile(ms, 95),
    maxMs: Math.max(...ms),
    note: `10 ms timer late by p95 ${lagP95Ms.toFixed(1)} ms, max ${lagMaxMs.toFixed(1)} ms`,
  };
}

/** 100 records, then every poll waits 4 s and returns nothing. */
class LongPollSource implements Source<number> {
  declare readonly __type?: number;
  createReader(_ctx: OperatorContext): SourceReader {
    let next = 0;
    return {
      open: (_c, restored) => void (next = (restored?.[0] as number | undefined) ?? 0),
      poll: async (max) => {
        if (next >= 100) {
          await sleep(4_000);
          return [];
        }
        const out: number[] = [];
        for (let i = 0; i < max && next < 100; i++) out.push(next++);
        return out;
      },
      snapshotState: () => [next],
    };
  }
}

async function longPoll(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), "weir-bench-longpoll-"));
  try {
    const env = new StreamEnvironment({
      jobName: "bench-long-poll",
      parallelism: 1,
      storage: new MemoryStorage(),
      checkpoint: { interval: 0, unaligned: false },
    });
    env.fromSource(new LongPollSource(), { uid: "long-poll" })
      .keyBy((n) => n % 3)
      .process<number>((n, ctx) => ctx.emit(n), { uid: "keyed" })
      .sinkTo(new CountingSink(), { uid: "count" });
    const job = await env.execute();
    await sleep(300);
    const checkpoints: CheckpointDetails[] = [];
    const n = Math.min(CHECKPOINTS, 3);
    for (let i = 0; i < n; i++) {
      checkpoints.push(await job.triggerCheckpoint());
      await sleep(700);
    }
    const started = nowMs();
    await job.stop({ savepoint: dir });
    const stopMs = nowMs() - started;
    const ms = checkpoints.filter((d) => d.status === "COMPLETED").map((d) => d.end_to_end_duration);
    return [
      {
        scenario: "long poll (4 s when idle)",
        what: "checkpoint",
        count: ms.length,
        failed: checkpoints.length - ms.length,
        medianMs: median(ms),
        p95Ms: percentile(ms, 95),
        maxMs: Math.max(...ms),
        note: "",
      },
      { scenario: "long poll (4 s when idle)", what: "stop-with-savepoint", count: 1, failed: 0, medianMs: stopMs, p95Ms: stopMs, maxMs: stopMs, note: "savepoint to a local directory" },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Report {
  runtime: string;
  rows: Row[];
}

async function measureAll(): Promise<Report> {
  const rows = [await heavyRecords()];
  log(`  ${runtimeName()} heavy records: median ${rows[0].medianMs.toFixed(1)} ms`);
  rows.push(...await longPoll());
  log(`  ${runtimeName()} long poll: checkpoint median ${rows[1].medianMs.toFixed(1)} ms, stop ${rows[2].medianMs.toFixed(0)} ms`);
  return { runtime: runtimeName(), rows };
}

function render(r: Report): string {
  const rows = [["scenario", "what", "ok/failed", "median ms", "p95 ms", "max ms", "note"]];
  for (const x of r.rows) {
    rows.push([x.scenario, x.what, `${x.count}/${x.failed}`, x.medianMs.toFixed(1), x.p95Ms.toFixed(1), x.maxMs.toFixed(1), x.note]);
  }
  const [heavy, poll, stop] = r.rows;
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  return [
    `${r.runtime}:`,
    table(rows),
    `  heavy records: every unaligned checkpoint < 150 ms: ${verdict(heavy.failed === 0 && heavy.maxMs < 150)}`,
    `  long poll: checkpoint and stop-with-savepoint < 1.5 s: ${verdict(poll.failed === 0 && poll.maxMs < 1500 && stop.maxMs < 1500)}`,
  ].join("\n");
}

const mine = await measureAll();
if (jsonMode) {
  console.error(render(mine));
  printResultLine(mine);
} else {
  const reports = [mine];
  if (args.includes("--both")) {
    reports.push(runOtherRuntime<Report>(new URL(import.meta.url).pathname, ["--json", ...args.filter((a) => a !== "--both")]));
  }
  for (const r of reports) console.log(`\n${render(r)}`);
}
// The job's source never ends; nothing else keeps the process alive.
process.exit(0);
