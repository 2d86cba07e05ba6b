/**
 * Throughput of one keyed pipeline (source → map → keyBy → rolling sum → counting sink,
 * 10k keys) as a plain loop, in RxJS, and on weir without and with aligned checkpoints
 * every second, with the ratios between them, all measured in this one run. Two more
 * weir rows carry the numbers as object records: with the copies that make records
 * values (the default), and with `objectReuse: true`; the primitive row needs no copies.
 *
 *   bun bench/throughput.ts                 this runtime only
 *   deno run -A bench/throughput.ts
 *   bun bench/throughput.ts --both          this runtime, then the other, one table
 *   … --reps 5 --seconds 2.5                repetitions; target seconds per weir run
 *   … --json                                progress on stderr, one JSON line on stdout
 *
 * Every variant is warmed up and its input sized from a probe so that a measurement
 * takes about `--seconds` (weir) or 60% of it (loop, RxJS); the figure is the median
 * of the repetitions, which run interleaved so that drift hits every variant alike.
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { FileStorage, MemoryStorage } from "../mod.ts";
import { KEYS, plainLoop, type Run, rxjs, weir, weirObjects } from "./keyed_sum.ts";
import { printResultLine, runOtherRuntime } from "./other_runtime.ts";
import { median, perSecond, runtimeName, table } from "./stats.ts";

/** The measured figures of one variant. */
interface VariantResult {
  key: string;
  label: string;
  records: number;
  rates: number[];
  median: number;
  checkpoints?: number;
}

/** One runtime's report; also the JSON line a child prints. */
interface Report {
  runtime: string;
  reps: number;
  /** 1-minute load average before and after: other work on the machine skews figures. */
  load: [number, number];
  variants: VariantResult[];
}

interface Variant {
  key: string;
  label: string;
  /** Records of the warm-up probe. */
  probe: number;
  /** Share of --seconds a measurement should take. */
  share: number;
  run(n: number): Run | Promise<Run>;
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const jsonMode = flag("--json");
const reps = option("--reps", 3);
const seconds = option("--seconds", 2.5);
// In --json mode stdout carries only the result line.
const log = (s: string) => (jsonMode ? console.error(s) : console.log(s));

async function measure(dir: string): Promise<Report> {
  const loadBefore = loadavg()[0];
  const file = new FileStorage(dir);
  const variants: Variant[] = [
    { key: "loop", label: "plain loop", probe: 5_000_000, share: 0.6, run: plainLoop },
    { key: "rxjs", label: "rxjs groupBy+scan", probe: 300_000, share: 0.6, run: (n) => rxjs(n) },
    { key: "rxjs10", label: "rxjs, 10 keys (reference)", probe: 1_000_000, share: 0.6, run: (n) => rxjs(n, 10) },
    { key: "weir", label: "weir, no checkpoints", probe: 2_000_000, share: 1, run: (n) => weir(n, { intervalMs: 0 }) },
    { key: "weirFile", label: "weir, aligned 1 s, FileStorage", probe: 2_000_000, share: 1, run: (n) => weir(n, { intervalMs: 1000, storage: file }) },
    { key: "weirMem", label: "weir, aligned 1 s, MemoryStorage", probe: 2_000_000, share: 1, run: (n) => weir(n, { intervalMs: 1000, storage: new MemoryStorage() }) },
    { key: "weirObj", label: "weir, object records, copied", probe: 500_000, share: 1, run: (n) => weirObjects(n, { objectReuse: false }) },
    { key: "weirReuse", label: "weir, object records, objectReuse", probe: 500_000, share: 1, run: (n) => weirObjects(n, { objectReuse: true }) },
  ];
  // Warm up by growing the input until a run takes a fair share of the target, then
  // size it from that run's rate (short probes underrate a JIT-compiled loop). Weir
  // variants share one size (from the run without checkpoints): exactly the same work.
  const sizes = new Map<string, number>();
  for (const v of variants) {
    const target = seconds * v.share * 1000;
    let n = v.probe;
    let r = await v.run(n);
    while (r.ms < target / 3) {
      n = Math.round(n * Math.min(8, Math.max(2, target / 2 / Math.max(1, r.ms))));
      r = await v.run(n);
    }
    const perMs = r.records / r.ms;
    sizes.set(v.key, Math.max(1e5, Math.round((perMs * target) / 1e5) * 1e5));
  }
  for (const k of ["weirFile", "weirMem"]) sizes.set(k, sizes.get("weir")!);
  // The object rows share one size too, so copied and reused do the same work.
  sizes.set("weirReuse", sizes.get("weirObj")!);
  const results = new Map<string, VariantResult>(variants.map((v) => [v.key, { key: v.key, label: v.label, records: sizes.get(v.key)!, rates: [], median: 0 }]));
  const expected = new Map<number, unknown>();
  for (let rep = 0; rep < reps; rep++) {
    for (const v of variants) {
      const n = sizes.get(v.key)!;
      const r = await v.run(n);
      if (r.records !== n) throw new Error(`${v.label}: ${r.records} records reached the sink, expected ${n}`);
      // Same input, same order (parallelism 1): every 10k-key variant ends on the same sum.
      if (v.key !== "rxjs10") {
        if (!expected.has(n)) expected.set(n, plainLoop(n).last);
        if (r.last !== expected.get(n)) throw new Error(`${v.label}: last record ${r.last}, the plain loop's is ${expected.get(n)}`);
      }
      const res = results.get(v.key)!;
      res.rates.push(r.records / (r.ms / 1000));
      if (r.checkpoints !== undefined) res.checkpoints = r.checkpoints;
      log(`  ${runtimeName()} rep ${rep + 1}/${reps} ${v.label}: ${perSecond(r.records / (r.ms / 1000))} records/s (${n} in ${r.ms.toFixed(0)} ms${r.checkpoints !== undefined ? `, ${r.checkpoints} checkpoints` : ""})`);
    }
  }
  for (const r of results.values()) r.median = median(r.rates);
  return { runtime: runtimeName(), reps, load: [loadBefore, loadavg()[0]], variants: [...results.values()] };
}

const rate = (r: Report, key: string) => r.variants.find((v) => v.key === key)!.median;
const ratio = (x: number, y: number) => `${(x / y).toFixed(2)}x`;

/** The table of one runtime. */
function render(r: Report): string {
  const loop = rate(r, "loop");
  const rx = rate(r, "rxjs");
  const rows = [["variant", "records", "records/s", "min..max", "vs loop", "vs rxjs", "checkpoints"]];
  for (const v of r.variants) {
    const spread = `${perSecond(Math.min(...v.rates))}..${perSecond(Math.max(...v.rates))}`;
    rows.push([v.label, String(v.records), perSecond(v.median), spread, ratio(v.median, loop), ratio(v.median, rx), v.checkpoints === undefined ? "" : String(v.checkpoints)]);
  }
  const load = `load average ${r.load[0].toFixed(1)} -> ${r.load[1].toFixed(1)}`;
  return `${r.runtime}: keyed rolling sum, ${KEYS} keys, parallelism 1, median of ${r.reps} (${load})\n${table(rows)}`;
}

/**
 * Checkpoint overhead as the median over repetitions of (with / without) in the same
 * repetition: runs next to each other share the machine's load, so on a busy machine
 * this is steadier than a ratio of medians.
 */
function pairedChange(r: Report, key: string): number {
  const base = r.variants.find((v) => v.key === "weir")!.rates;
  const other = r.variants.find((v) => v.key === key)!.rates;
  return median(other.map((x, i) => x / base[i] - 1));
}

/** Median over repetitions of a's rate over b's in the same repetition. */
function pairedRatio(r: Report, a: string, b: string): number {
  const x = r.variants.find((v) => v.key === a)!.rates;
  const y = r.variants.find((v) => v.key === b)!.rates;
  return median(x.map((v, i) => v / y[i]));
}

/** The three targets of the issue, said plainly. */
function targets(r: Report): string {
  const d = rate(r, "weirFile");
  const change = pairedChange(r, "weirFile");
  const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  return [
    `${r.runtime} targets (weir with aligned checkpoints on FileStorage):`,
    `  >= rxjs (10k keys):            ${verdict(d >= rate(r, "rxjs"))} (${ratio(d, rate(r, "rxjs"))}; vs rxjs with 10 keys ${ratio(d, rate(r, "rxjs10"))})`,
    `  >= 20% of the plain loop:      ${verdict(d >= 0.2 * rate(r, "loop"))} (${((100 * d) / rate(r, "loop")).toFixed(1)}%)`,
    `  within 5% of no checkpoints:   ${verdict(change >= -0.05)} (${pct(change)}, median of paired runs; MemoryStorage ${pct(pairedChange(r, "weirMem"))})`,
    `${r.runtime} cost of records as values (object records, no checkpoints):`,
    `  copied vs objectReuse:         ${ratio(rate(r, "weirObj"), rate(r, "weirReuse"))} (paired ${pct(pairedRatio(r, "weirObj", "weirReuse") - 1)})`,
    `  objectReuse vs primitives:     ${ratio(rate(r, "weirReuse"), rate(r, "weir"))}`,
  ].join("\n");
}

/** Both runtimes side by side. */
function renderBoth(reports: Report[]): string {
  const header = ["variant"];
  for (const r of reports) header.push(`${r.runtime} rec/s`, "vs loop", "vs rxjs");
  const rows = [header];
  for (const v of reports[0].variants) {
    const row = [v.label];
    for (const r of reports) {
      const x = rate(r, v.key);
      row.push(perSecond(x), ratio(x, rate(r, "loop")), ratio(x, rate(r, "rxjs")));
    }
    rows.push(row);
  }
  return table(rows);
}

const dir = mkdtempSync(join(tmpdir(), "weir-bench-"));
try {
  const mine = await measure(dir);
  if (jsonMode) {
    console.error(render(mine));
    printResultLine(mine);
  } else if (flag("--both")) {
    const passOn = args.filter((a) => a !== "--both");
    const theirs = runOtherRuntime<Report>(new URL(import.meta.url).pathname, ["--json", ...passOn]);
    const reports = [mine, theirs];
    for (const r of reports) console.log(`\n${render(r)}`);
    console.log(`\nside by side:\n${renderBoth(reports)}\n`);
    for (const r of reports) console.log(targets(r));
  } else {
    console.log(`\n${render(mine)}\n\n${targets(mine)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
