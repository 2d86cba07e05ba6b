/**
 * The rows of bench/state.ts: what one run of a job measured (`JobRow`), the machine's own
 * gaps, and a table row from a job's rounds (--repeat), each round's run paired with the
 * baseline's of the same round.
 * @module
 */
import { bytes, median, nowMs, perSecond } from "./stats.ts";

/** The longest the machine's own clock loop runs, ms (see machineGaps). */
export const MACHINE_LOOP_MAX_MS = 120_000;

/** Gaps between records in one phase of a job (bench/state.ts's `runJob`). */
export interface Gaps {
  max: number;
  over10: number;
  /** Of those over 10 ms, with --gap-log on Linux: the thread ran on a core for most of it, or was off every core for most of it (bench/state.ts). */
  onCpu: number;
  offCpu: number;
}

export const noGaps = (): Gaps => ({ max: 0, over10: 0, onCpu: 0, offCpu: 0 });

/**
 * The machine's own gaps: a loop that only reads the clock for `ms`, allocating nothing, so
 * that what it sees is other processes taking the cores (the machine is shared), not weir.
 */
export function machineGaps(ms: number): Gaps {
  const g = noGaps();
  const end = nowMs() + ms;
  let last = nowMs();
  for (let t = last; t < end; t = nowMs()) {
    const gap = t - last;
    if (gap > g.max) g.max = gap;
    if (gap > 10) g.over10++;
    last = t;
  }
  return g;
}

export interface JobRow {
  label: string;
  /** Wall time of the job, ms. */
  ms: number;
  rate: number;
  /** Records per second after the first pass over the keys (every key inserted), to the job's end. */
  steadyRate: number;
  /** Records per second of the process's CPU time (all its threads, the collector's too): what other processes on the machine change least. */
  cpuRate: number;
  /** The process's CPU time for the job, ms. */
  cpuMs: number;
  /** Checkpoints completed, the final one at end of input included. */
  completed: number;
  maxGapMs: number;
  gapsOver10: number;
  /** The first pass over the keys (each key's first record: Map inserts) and the steady state after it. */
  first: Gaps;
  steady: Gaps;
  /** Steady gaps over 10 ms that overlap a checkpoint in flight (from its trigger to its completion). */
  steadyInCheckpoint: number;
  checkpoints: number;
  maxSyncMs: number;
  /** The longest slice of a checkpoint's async part on the subtask's thread. */
  maxStepMs: number;
  /** The same over the checkpoints triggered after the pass over every key. */
  maxSteadyStepMs: number;
  medianDurationMs: number;
  medianBytes: number;
  medianCheckpointedBytes: number;
  /** Checkpoints whose predecessor was triggered after the pass over every key, and the largest share of its state size one of them wrote. */
  steadyCheckpoints: number;
  maxSteadyCheckpointedShare: number;
}

/** The columns of a job's row, in the order jobRowCells() fills them. */
export const JOB_COLUMNS = ["keys", "variant", "records/s", "of runs", "vs no checkpoints", "steady: vs no checkpoints", "per CPU s", "per CPU s vs no checkpoints", "CPU per checkpoint", "longest gap", "gaps > 10 ms", "first pass: longest", "> 10 ms", "steady: longest", "> 10 ms", "in a checkpoint", "checkpoints", "max sync", "longest async step", "steady: longest async step", "median duration", "state size", "checkpointed", "steady: largest checkpointed"];

const percent = (x: number) => `${(100 * x).toFixed(0)} %`;

/** Sorted ratios as their median and range ("-" for none). */
const spread = (ratios: readonly number[]) => ratios.length === 0 ? "-" : ratios.length === 1 ? percent(ratios[0]) : `${percent(median(ratios))} (${percent(ratios[0])}–${percent(ratios[ratios.length - 1])})`;

/**
 * One job's table row from its runs, round by round: the run of median records/s stands
 * for the job, the ratio is the median (and range) of each run's to the baseline's of the
 * same round (`baseline`: the job without checkpoints on the same pattern of keys, whose
 * median CPU also gives a checkpoint's CPU), gap counts are listed per round and longest
 * figures are the longest of every round.
 */
export function jobRowCells(keys: number, runs: readonly JobRow[], checkpointed: boolean, baseline?: readonly JobRow[]): string[] {
  const byRate = [...runs].sort((a, b) => a.rate - b.rate);
  const r = byRate[runs.length >> 1];
  const ratios = baseline ? runs.map((x, i) => x.rate / baseline[i].rate).sort((a, b) => a - b) : [];
  const ratio = spread(ratios);
  // After the first pass: the inserts of every key (Map growth, the same with checkpoints or without) left out.
  const steadyRatio = spread(baseline ? runs.map((x, i) => x.steadyRate / baseline[i].steadyRate).sort((a, b) => a - b) : []);
  // Of CPU time: what other processes on a shared machine move less than wall time.
  const cpuRatio = spread(baseline ? runs.map((x, i) => x.cpuRate / baseline[i].cpuRate).sort((a, b) => a - b) : []);
  // What a checkpoint costs the process: CPU beyond the same job's without checkpoints.
  const baseCpu = baseline && median(baseline.map((x) => x.cpuMs));
  const perCheckpoint = checkpointed && baseCpu !== undefined && r.completed > 0 ? `${((median(runs.map((x) => x.cpuMs)) - baseCpu) / r.completed).toFixed(0)} ms` : "-";
  const range = runs.length > 1 ? `${perSecond(byRate[0].rate)}–${perSecond(byRate[byRate.length - 1].rate)}` : "-";
  const each = (g: (x: JobRow) => number) => runs.map(g).join(", ");
  const longest = (g: (x: JobRow) => number) => Math.max(...runs.map(g));
  return [
    String(keys),
    r.label,
    perSecond(r.rate),
    range,
    ratio,
    steadyRatio,
    perSecond(r.cpuRate),
    cpuRatio,
    perCheckpoint,
    `${longest((x) => x.maxGapMs).toFixed(1)} ms`,
    each((x) => x.gapsOver10),
    `${longest((x) => x.first.max).toFixed(1)} ms`,
    each((x) => x.first.over10),
    `${longest((x) => x.steady.max).toFixed(1)} ms`,
    each((x) => x.steady.over10),
    checkpointed ? each((x) => x.steadyInCheckpoint) : "-",
    String(r.checkpoints),
    Number.isNaN(r.maxSyncMs) ? "-" : `${longest((x) => x.maxSyncMs)} ms`,
    Number.isNaN(r.maxStepMs) ? "-" : `${longest((x) => x.maxStepMs)} ms`,
    Number.isNaN(longest((x) => x.maxSteadyStepMs)) ? "-" : `${longest((x) => x.maxSteadyStepMs)} ms`,
    Number.isNaN(r.medianDurationMs) ? "-" : `${r.medianDurationMs} ms`,
    bytes(r.medianBytes),
    bytes(r.medianCheckpointedBytes),
    // Every round's: the bound (2 % with 1 % changing) holds for each checkpoint.
    Number.isNaN(longest((x) => x.maxSteadyCheckpointedShare)) ? "-" : `${(100 * longest((x) => x.maxSteadyCheckpointedShare)).toFixed(2)} % of state (${runs.map((x) => x.steadyCheckpoints).join(", ")} checkpoints)`,
  ];
}

/** The row of the machine's own clock loop of `ms`, beside the jobs' columns. */
export function machineRowCells(keys: number, ms: number, g: Gaps): string[] {
  const cells = JOB_COLUMNS.map(() => "-");
  cells[0] = String(keys);
  cells[1] = `the machine alone: a clock loop, ${(ms / 1000).toFixed(0)} s`;
  cells[JOB_COLUMNS.indexOf("longest gap")] = `${g.max.toFixed(1)} ms`;
  cells[JOB_COLUMNS.indexOf("gaps > 10 ms")] = String(g.over10);
  return cells;
}
