/**
 * Keyed state at scale (issue 10): a rolling count over 100 K and 1 M keys (5 M with
 * `--keys`), source → map → keyBy → reduce → counting sink at parallelism 1, each key
 * updated `--per-key` times in turn, without checkpoints and with a checkpoint every
 * `--interval` ms (heap backend: full snapshots; incremental with every key changing;
 * incremental with 1 % of the keys changing, where after a first pass over all keys the
 * records go to the first 1 % of them, beside the same pattern without checkpoints; the
 * sqlite backend with all keys and with 1 % changing, each beside the same pattern without
 * checkpoints, and with all keys and its writer in a process of its own (`writerProcess`);
 * at least `--min-records` records). Per row: records/s (of wall time and of the process's CPU
 * time, which other processes on a shared machine change less, and a checkpoint's CPU: the
 * CPU beyond the same job's without checkpoints, per checkpoint), the longest
 * gap between two records reaching the keyed operator (a pause of the one thread: a
 * checkpoint's synchronous part, a garbage collection, a long step), how many gaps
 * exceeded 10 ms, the same apart for the first pass over the keys (every key new: inserts)
 * and for the steady state after it (and how many of the steady ones overlap a checkpoint in
 * flight, from its trigger to its completion: a gap outside every checkpoint is none of its
 * doing), checkpoints completed, their longest synchronous part, longest asynchronous step
 * and median duration, bytes written per checkpoint. Then, per size, heap restore time from a full
 * checkpoint file (decode + load), from an incremental base and from a base with three
 * changelogs (read + decode + load), each with the first pass of one update per key after
 * it (which puts the keys into the tables' Maps) and the next pass; and an incremental
 * base beside the changelogs written after 1 % and 10 % of the keys changed (bytes and
 * time, backend level). `--restore-only` skips the jobs, `--jobs-only` the rest; `--only`
 * runs the jobs whose label its regular expression matches (`--only "^(no checkpoints|heap)"`:
 * the heap jobs and the jobs without checkpoints beside them). `--gap-log FILE` writes every gap over 10 ms
 * there, a line each: job label, phase, when it ended (ms of performance.now() in the job's process, whose origin
 * is the process's start, near that of V8's `--trace-gc` times), how long it was (ms) and, on
 * Linux, the CPU time the subtask's thread had in it (ms; "-" where it cannot be read), and
 * prints per job how many steady gaps the thread spent on a core and how many off it
 * (bench/thread_cpu.ts; reading that clock per record costs a system call each).
 *
 * Each job runs in a process of its own (`--in-process`: all in this one, in turn); with
 * `--repeat N` the jobs run N rounds in turn (every other round in reverse order, against a
 * machine whose speed drifts), and a row is the run of median records/s, its
 * ratio to the same pattern without checkpoints ("vs no checkpoints") the median of the
 * rounds' ratios, each round's run beside the baseline's of the same round, and its gap
 * counts those of every round. The same ratio over the steady state alone (the records
 * after the first pass over the keys, to the job's end) and of records per CPU second stand beside it,
 * and the job without checkpoints runs twice a round ("run again (noise)"): that A/A
 * ratio is how far two runs of one job fall apart on this machine, the floor below which a
 * single round's ratio tells nothing about a checkpoint's cost.
 *
 *   bun bench/state.ts [--keys 100000,1000000] [--per-key 8] [--interval 1000] [--min-records 5000000] [--restore-only] [--jobs-only] [--only "heap full"] [--storage file|memory] [--repeat 1] [--in-process]
 *   deno run -A bench/state.ts
 *
 * Storage (`--storage`): `file` (the default) is FileStorage, the embedded storage `npm start`
 * uses, in a temporary directory removed after each job, without fsync, so that times are
 * weir's, not a disk's; `memory` is MemoryStorage, which joins a file's parts into one buffer
 * on the subtask's thread (at 1 M keys of heap state, a pause of 25–45 ms per checkpoint on
 * this VM, where fresh memory costs about 3 ms per MiB).
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { FileStorage, MemoryStorage, SequenceSource, StreamEnvironment, registerStateBackend, sqliteStateBackend } from "../mod.ts";
import { benchArgs } from "./args.ts";
import { CountingSink } from "./counting_sink.ts";
import { incremental, restoreChainMs, restoreMs } from "./state_restore.ts";
import { runAgain } from "./run_again.ts";
import { JOB_COLUMNS, type JobRow, MACHINE_LOOP_MAX_MS, jobRowCells, machineGaps, machineRowCells, noGaps } from "./state_rows.ts";
import { threadCpuClock } from "./thread_cpu.ts";
import { bytes, median, nowMs, perSecond, runtimeName, table } from "./stats.ts";

const values = benchArgs("Usage: bun bench/state.ts [--keys 100000,1000000] [--per-key 8] [--interval 1000] [--min-records 5000000] [--restore-only] [--jobs-only] [--only LABEL] [--gap-log FILE] [--storage file|memory] [--repeat 1] [--in-process]", {
  keys: { type: "string", default: "100000,1000000" },
  "per-key": { type: "string", default: "8" },
  interval: { type: "string", default: "1000" },
  "min-records": { type: "string", default: "5000000" },
  "restore-only": { type: "boolean", default: false },
  "jobs-only": { type: "boolean", default: false },
  only: { type: "string", default: "" },
  "gap-log": { type: "string", default: "" },
  storage: { type: "string", default: "file" },
  "in-process": { type: "boolean", default: false },
  repeat: { type: "string", default: "1" },
  "child-job": { type: "string", default: "" },
});
/** The jobs to run, by label (--only). */
const only = new RegExp(values.only);
if (values.storage !== "file" && values.storage !== "memory") throw new Error(`--storage is file or memory, got ${values.storage}`);
/** The sqlite backend with its writer's transactions in a process of its own (SqliteBackendOptions.writerProcess). */
const WRITER_PROCESS_BACKEND = "sqlite-writer-process";
registerStateBackend(WRITER_PROCESS_BACKEND, sqliteStateBackend({ writerProcess: true }));
/** The sqlite backend reading a rolling reduce's keys in batches (SqliteBackendOptions.batchedReads). */
const BATCHED_READS_BACKEND = "sqlite-batched-reads";
registerStateBackend(BATCHED_READS_BACKEND, sqliteStateBackend({ batchedReads: true }));

/** Gaps over 10 ms, for --gap-log. */
const gapLog: string[] = [];
/** The subtask's thread's CPU time, ms (the jobs run on this thread), read per record with --gap-log. */
const threadCpu = values["gap-log"] ? await threadCpuClock() : undefined;
/** A gap the thread spent on a core at least this share of (its work, a collection, a stalled vCPU). */
const ON_CPU_SHARE = 0.8;
/** A gap the thread spent off every core more than this share of (a lock, another thread, no free core). */
const OFF_CPU_SHARE = 0.5;
const sizes = values.keys.split(",").map(Number);
const perKey = Number(values["per-key"]);
const intervalMs = Number(values.interval);
/** Rounds of the jobs (--repeat): each row is then the run of median records/s, its ratio the median of the rounds'. */
const repeat = Number(values.repeat);
if (!(Number.isInteger(repeat) && repeat >= 1)) throw new Error(`--repeat is a whole number of rounds, at least 1, got ${values.repeat}`);
/** Small key counts run this many records at least, so that several checkpoints happen. */
const minRecords = Number(values["min-records"]);

let jobs = 0;

/** One row's job: its label, checkpoint interval (0: none), backend, and the share of keys that keep changing after the first pass. */
interface JobOptions {
  label: string;
  intervalMs: number;
  incremental?: boolean;
  hot?: number;
  backend?: string;
  /** The baseline's own job run again: its ratio to the baseline is the machine's noise between two runs of one job. */
  control?: boolean;
}

/** The jobs of a row each, by label. */
function variantsOf(): JobOptions[] {
  return [
    { label: "no checkpoints", intervalMs: 0 },
    // An A/A pair: how far two runs of one job apart on this machine, in the same rounds.
    { label: "no checkpoints, run again (noise)", intervalMs: 0, control: true },
    { label: `heap full, every ${intervalMs} ms`, intervalMs },
    { label: `heap incremental, all keys change`, intervalMs, incremental: true },
    { label: "no checkpoints, 1 % of keys change", intervalMs: 0, hot: 0.01 },
    { label: `heap incremental, 1 % of keys change`, intervalMs, incremental: true, hot: 0.01 },
    // sqlite checkpoints are incremental by nature (the database's changed files).
    { label: "sqlite, no checkpoints", intervalMs: 0, backend: "sqlite" as const },
    { label: `sqlite, every ${intervalMs} ms`, intervalMs, backend: "sqlite" as const, incremental: true },
    // Its records/s per CPU second leave out the writer's process.
    { label: `sqlite, writer in a process, every ${intervalMs} ms`, intervalMs, backend: WRITER_PROCESS_BACKEND, incremental: true },
    { label: `sqlite, batched reads, every ${intervalMs} ms`, intervalMs, backend: BATCHED_READS_BACKEND, incremental: true },
    { label: "sqlite, no checkpoints, 1 % of keys change", intervalMs: 0, backend: "sqlite" as const, hot: 0.01 },
    { label: `sqlite, 1 % of keys change`, intervalMs, backend: "sqlite" as const, incremental: true, hot: 0.01 },
  ];
}

/** The line a child process (--child-job) prints its row on, and its gaps for --gap-log. */
const CHILD_ROW = "JOB_ROW ";

/**
 * One row's job, in a process of its own unless --in-process: run after another job in the
 * same process, a job with a million keys ran 25–30 % slower than alone (the first job's
 * heap and compiled code), which made every row after the first look worse.
 */
async function job(keys: number, o: JobOptions): Promise<JobRow> {
  if (values["in-process"]) return await jobHere(keys, o);
  const args = ["--keys", String(keys), "--per-key", values["per-key"], "--interval", values.interval, "--min-records", values["min-records"], "--storage", values.storage, "--child-job", o.label];
  if (values["gap-log"]) args.push("--gap-log", values["gap-log"]);
  const out = runAgain(import.meta.url, args);
  const line = out.split("\n").find((l) => l.startsWith(CHILD_ROW));
  if (line === undefined) throw new Error(`${o.label}: the job's process printed no row`);
  // JSON has no NaN (a row without checkpoints): null stands for it.
  const { row, gaps } = JSON.parse(line.slice(CHILD_ROW.length), (_k, v) => (v === null ? NaN : v)) as { row: JobRow; gaps: string[] };
  gapLog.push(...gaps);
  return row;
}

async function jobHere(keys: number, o: JobOptions): Promise<JobRow> {
  const n = Math.max(keys * perKey, minRecords);
  const sink = new CountingSink();
  const dir = values.storage === "file" ? mkdtempSync(join(tmpdir(), "weir-bench-state-")) : undefined;
  try {
    return await runJob(keys, n, sink, dir, o);
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

async function runJob(keys: number, n: number, sink: CountingSink, dir: string | undefined, o: JobOptions): Promise<JobRow> {
  const env = new StreamEnvironment({
    jobName: `bench-state-${jobs++}`,
    parallelism: 1,
    storage: dir === undefined ? new MemoryStorage() : new FileStorage(dir, { fsync: false }),
    checkpoint: { interval: o.intervalMs, retained: 2 },
    state: { backend: o.backend ?? "heap", incremental: o.incremental ?? false },
  });
  let last = 0;
  let lastCpu = 0;
  let maxGap = 0;
  let over10 = 0;
  const first = noGaps();
  const steady = noGaps();
  /** Steady gaps over 10 ms as [start, end] on performance.now(), to lay beside the checkpoints. */
  const steadyOver10: [number, number][] = [];
  /** When the first record after the pass over every key came (performance.now()). */
  let steadyFrom = Infinity;
  // The key selector runs for every record at the gate and at the keyed operator, on the
  // one thread: a gap between two calls is a pause of everything.
  const key = (v: number) => {
    const t = nowMs();
    const gap = t - last;
    const cpu = threadCpu?.() ?? 0;
    const cpuGap = cpu - lastCpu;
    lastCpu = cpu;
    if (last > 0) {
      // v < keys: the first record of its key (a new Map entry).
      const phase = v < keys ? first : steady;
      if (phase === steady && steadyFrom === Infinity) steadyFrom = t;
      if (gap > maxGap) maxGap = gap;
      if (gap > phase.max) phase.max = gap;
      if (gap > 10) {
        over10++;
        phase.over10++;
        if (phase === steady) steadyOver10.push([last, t]);
        if (threadCpu !== undefined && cpuGap >= ON_CPU_SHARE * gap) phase.onCpu++;
        if (threadCpu !== undefined && cpuGap < (1 - OFF_CPU_SHARE) * gap) phase.offCpu++;
        if (values["gap-log"]) gapLog.push(`${o.label}\t${phase === first ? "first" : "steady"}\t${t.toFixed(1)}\t${gap.toFixed(1)}\t${threadCpu === undefined ? "-" : cpuGap.toFixed(1)}`);
      }
    }
    last = t;
    // A hot share: after one pass over every key, only the first keys * hot change.
    return o.hot !== undefined && v >= keys ? v % Math.max(1, Math.round(keys * o.hot)) : v % keys;
  };
  env.fromSource(new SequenceSource(0, n), { uid: "numbers" })
    .map((v: number) => v, { uid: "id" })
    .keyBy(key)
    .reduce((a: number, b: number) => a + b, { uid: "sum" })
    .sinkTo(sink, { uid: "out" });
  const start = nowMs();
  const cpuStart = process.cpuUsage();
  const handle = await env.execute();
  const result = await handle.done;
  const ms = nowMs() - start;
  const cpu = process.cpuUsage(cpuStart);
  if (result.status !== "finished") throw new Error(`${o.label}: the job ended ${result.status}: ${result.error ?? ""}`);
  if (sink.count !== n) throw new Error(`${o.label}: ${sink.count} records reached the sink, expected ${n}`);
  // The final checkpoint at end of input runs when nothing flows any more: periodic ones only.
  const all = handle.checkpointStats().history as unknown as Record<string, unknown>[];
  const completed = all.filter((c) => c.status === "COMPLETED" && !c.is_savepoint);
  const history = completed.slice(1);
  const subtasksOf = (c: Record<string, unknown>) => Object.values(c.tasks as Record<string, { subtasks: { checkpoint: { sync: number; longest_step: number } }[] }>).flatMap((t) => t.subtasks);
  const subtasks = history.flatMap(subtasksOf);
  // Trigger timestamps are epoch ms of timeOrigin + performance.now() (platforms/system.ts).
  const inFlight = all.map((c) => {
    const from = (c.trigger_timestamp as number) - performance.timeOrigin;
    return [from, from + (c.end_to_end_duration as number)];
  });
  const steadyInCheckpoint = steadyOver10.filter(([a, b]) => inFlight.some(([from, to]) => a < to && b > from)).length;
  // Checkpoints whose predecessor was triggered in the steady state too: what they wrote
  // changed there (with --hot, only that share of the keys).
  const triggered = (c: Record<string, unknown>) => (c.trigger_timestamp as number) - performance.timeOrigin;
  const byId = [...completed].sort((a, b) => (a.id as number) - (b.id as number));
  const steadyShares = byId.filter((_c, i) => i > 0 && triggered(byId[i - 1]) > steadyFrom).map((c) => (c.checkpointed_size as number) / (c.state_size as number));
  const sync = subtasks.map((s) => s.checkpoint.sync);
  const steps = subtasks.map((s) => s.checkpoint.longest_step);
  // The first checkpoints run while the keys are first inserted (a Map or a cache growing); the steady ones after.
  const steadySteps = history.filter((c) => triggered(c) > steadyFrom).flatMap(subtasksOf).map((s) => s.checkpoint.longest_step);
  return {
    label: o.label,
    ms,
    rate: n / (ms / 1000),
    // After the first pass over the keys (their inserts), to the job's end.
    steadyRate: (n - keys) / ((start + ms - steadyFrom) / 1000),
    cpuRate: n / ((cpu.user + cpu.system) / 1e6),
    cpuMs: (cpu.user + cpu.system) / 1000,
    completed: completed.length,
    maxGapMs: maxGap,
    gapsOver10: over10,
    first,
    steady,
    steadyInCheckpoint,
    checkpoints: history.length,
    maxSyncMs: sync.length ? Math.max(...sync) : NaN,
    maxStepMs: steps.length ? Math.max(...steps) : NaN,
    maxSteadyStepMs: steadySteps.length ? Math.max(...steadySteps) : NaN,
    medianDurationMs: median(history.map((c) => c.end_to_end_duration as number)),
    medianBytes: median(history.map((c) => c.state_size as number)),
    medianCheckpointedBytes: median(history.map((c) => c.checkpointed_size as number)),
    steadyCheckpoints: steadyShares.length,
    maxSteadyCheckpointedShare: steadyShares.length ? Math.max(...steadyShares) : NaN,
  };
}

if (values["child-job"]) {
  const keys = sizes[0];
  const v = variantsOf().find((v) => v.label === values["child-job"]);
  if (v === undefined) throw new Error(`--child-job: no job is labelled ${values["child-job"]}`);
  const row = await jobHere(keys, v);
  console.log(CHILD_ROW + JSON.stringify({ row, gaps: gapLog }));
  process.exit(0);
}

const rows: string[][] = [JOB_COLUMNS];
const restoreRows: string[][] = [["keys", "from", "bytes", "restore", "first pass after", "next pass"]];
const incrementalRows: string[][] = [["keys", "incremental base", "changelog, 1 % changed", "changelog, 10 % changed"]];
for (const keys of sizes) {
  const variants = variantsOf();
  const chosen = values["restore-only"] ? [] : variants.filter((v) => only.test(v.label));
  /** Each job's runs, by label, round by round (--repeat: the jobs in turn, every other round in reverse order). */
  const runs = new Map<string, JobRow[]>(chosen.map((v) => [v.label, []]));
  /** The longest job's wall time, ms: the machine's own clock loop runs as long. */
  let longestJobMs = 0;
  for (let round = 1; round <= repeat; round++) {
    // Every other round in reverse order: on a machine whose speed drifts within a round,
    // the job run last would otherwise always run on the slowest part of it.
    for (const v of round % 2 === 1 ? chosen : [...chosen].reverse()) {
      const r = await job(keys, v);
      runs.get(v.label)!.push(r);
      longestJobMs = Math.max(longestJobMs, r.ms);
      const of = repeat > 1 ? ` (run ${round} of ${repeat})` : "";
      console.log(`  ${runtimeName()} ${keys} keys, ${r.label}${of}: ${perSecond(r.rate)} records/s, longest gap ${r.maxGapMs.toFixed(1)} ms (first pass ${r.first.max.toFixed(1)}, steady ${r.steady.max.toFixed(1)}), ${r.checkpoints} checkpoints`);
      if (threadCpu !== undefined) {
        const s = r.steady;
        console.log(`    steady gaps over 10 ms: ${s.over10}; the thread on a core ≥ ${ON_CPU_SHARE * 100} % of the gap: ${s.onCpu}, off every core > ${OFF_CPU_SHARE * 100} %: ${s.offCpu}, between: ${s.over10 - s.onCpu - s.offCpu}`);
      }
    }
  }
  /** The job without checkpoints on the same pattern of keys (hot or not) and backend. */
  const baselineOf = (v: JobOptions) => chosen.find((b) => b.intervalMs === 0 && !b.control && (b.backend ?? "heap") === (v.backend ?? "heap") && b.hot === v.hot);
  for (const v of chosen) {
    const base = v.intervalMs > 0 || v.control ? baselineOf(v) : undefined;
    rows.push(jobRowCells(keys, runs.get(v.label)!, v.intervalMs > 0, base && runs.get(base.label)!));
  }
  if (!values["restore-only"]) {
    // As long as the longest job: a virtual machine's own stalls (its vCPU descheduled by
    // the host) come every few tens of seconds, so a short loop would miss them.
    const loopMs = Math.max(2000, Math.min(longestJobMs, MACHINE_LOOP_MAX_MS));
    rows.push(machineRowCells(keys, loopMs, machineGaps(loopMs)));
  }
  if (values["jobs-only"]) continue;
  for (const [from, r] of [["full checkpoint (decode + load)", await restoreMs(keys)], ["incremental base (read + decode + load)", await restoreChainMs(keys, 0)], ["base + 3 changelogs of 1 %", await restoreChainMs(keys, 3)]] as const) {
    restoreRows.push([String(keys), from, bytes(r.size), `${r.ms.toFixed(0)} ms`, `${r.firstPassMs.toFixed(0)} ms`, `${r.nextPassMs.toFixed(0)} ms`]);
  }
  incrementalRows.push(await incremental(keys));
}
if (values["gap-log"]) writeFileSync(values["gap-log"], gapLog.join("\n") + "\n");
console.log(`\n${runtimeName()}, rolling count, parallelism 1, ${perKey} updates per key (at least ${minRecords} records), checkpoint interval ${intervalMs} ms, ${values.storage} storage, load ${loadavg()[0].toFixed(1)}`);
console.log(table(rows));
console.log();
console.log(table(restoreRows));
console.log();
console.log(table(incrementalRows));
