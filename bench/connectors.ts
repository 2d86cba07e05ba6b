/**
 * End-to-end throughput of one word-count job through real connectors, beside the same
 * job on SequenceSource/CollectSink, in one run: FileSource → keyed count → FileSink, and
 * → PostgresSink; plus the commit latency (checkpoint completed → output visible).
 *
 *   bun bench/connectors.ts                        200k records per variant
 *   deno run -A bench/connectors.ts --records 500000 --interval 1000
 *   … --pg postgres://postgres@127.0.0.1:5432/test (the default; --no-pg skips it)
 *
 *   … --reps 3                                     repetitions (default 2), interleaved; the best counts
 *
 * Every variant runs the same topology at parallelism 2 (source → map to [word, 1] →
 * keyBy → rolling count → map to { word, count } → sink) on FileStorage with aligned
 * checkpoints every --interval ms; a record's word is one of 1000. A figure is records
 * per second from execute() to the job's end (input drained, final checkpoint committed),
 * the best of the repetitions (the first pays the JIT's warm-up; others' load only slows).
 * Commit latency is sampled by a poller (every 2 ms) that watches the visible output —
 * committed part files, rows of weir_sink_transactions — and charges a change to the
 * checkpoint that completed last; figures carry that poll period as error.
 * @module
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import postgres from "postgres";
import { CollectSink, FileSink, FileSource, FileStorage, PostgresSink, SequenceSource, StreamEnvironment } from "../mod.ts";
import type { Sink, Source } from "../mod.ts";
import { median, percentile, perSecond, runtimeName, table } from "./stats.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const RECORDS = Number(option("--records", "200000"));
const INTERVAL = Number(option("--interval", "1000"));
const PG_URL = option("--pg", "postgres://postgres@127.0.0.1:5432/test");
const WITH_PG = !args.includes("--no-pg");
const REPS = Number(option("--reps", "2"));
const WORDS = 1000;
let runs = 0;
const POLL_MS = 2;

interface Result {
  label: string;
  recordsPerSecond: number;
  checkpoints: number;
  latencies: number[];
}

const work = mkdtempSync(join(tmpdir(), "weir-bench-connectors-"));

/** Input files: one per source subtask, one word per line. */
function writeInput(): string {
  const dir = join(work, "input");
  mkdirSync(dir);
  for (let f = 0; f < 2; f++) {
    const lines: string[] = [];
    for (let i = f; i < RECORDS; i += 2) lines.push(`w${(i * 7919) % WORDS}`);
    writeFileSync(join(dir, `part-${f}.txt`), lines.join("\n") + "\n");
  }
  return dir;
}

async function run(label: string, source: Source<string>, sink: Sink<{ word: string; count: number }>, visible?: () => Promise<number>): Promise<Result> {
  const env = new StreamEnvironment({
    jobName: `bench-${label.replace(/\W+/g, "-")}-${runs}`,
    parallelism: 2,
    storage: new FileStorage(join(work, "state", `${label.replace(/\W+/g, "-")}-${++runs}`)),
    checkpoint: { interval: INTERVAL },
  });
  env.fromSource(source, { uid: "words" })
    .map((w): [string, number] => [w, 1], { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "count" })
    .map((p) => ({ word: p[0], count: p[1] }), { uid: "row" })
    .sinkTo(sink, { uid: "out" });
  const latencies: number[] = [];
  let lastCompleted: number | undefined;
  let polling = true;
  const start = performance.now();
  const job = await env.execute();
  job.on((e) => {
    if (e.type === "checkpoint_completed") lastCompleted = performance.now();
  });
  const poller = (async () => {
    if (!visible) return;
    let seen = await visible();
    while (polling) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const now = await visible();
      if (now !== seen && lastCompleted !== undefined) {
        latencies.push(performance.now() - lastCompleted);
        lastCompleted = undefined;
      }
      seen = now;
    }
  })();
  const result = await job.done;
  const seconds = (performance.now() - start) / 1000;
  polling = false;
  await poller;
  if (result.status !== "finished") throw new Error(`${label}: ${result.status} ${result.error}`);
  return { label, recordsPerSecond: RECORDS / seconds, checkpoints: result.checkpoints.completed, latencies };
}

const wordsOf = (n: number) => `w${(n * 7919) % WORDS}`;

/** SequenceSource emitting the same words as the files. */
function sequenceWords() {
  return new SequenceSource(0, RECORDS) as unknown as Source<string>;
}

async function main() {
  const load0 = loadavg()[0];
  const input = writeInput();
  const all: Result[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const results = all;

    // The baseline: SequenceSource (its numbers mapped to the same words) → CollectSink.
    {
      const env = new StreamEnvironment({ jobName: `bench-baseline-${rep}`, parallelism: 2, storage: new FileStorage(join(work, "state", `baseline-${rep}`)), checkpoint: { interval: INTERVAL } });
      const sink = new CollectSink<{ word: string; count: number }>();
      env.fromSource(sequenceWords(), { uid: "words" })
        .map((n) => [wordsOf(n as unknown as number), 1] as [string, number], { uid: "pair" })
        .keyBy((p) => p[0])
        .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "count" })
        .map((p) => ({ word: p[0], count: p[1] }), { uid: "row" })
        .sinkTo(sink, { uid: "out" });
      const start = performance.now();
      const r = await (await env.execute()).done;
      const seconds = (performance.now() - start) / 1000;
      if (sink.committed.length !== RECORDS) throw new Error(`baseline committed ${sink.committed.length}`);
      results.push({ label: "SequenceSource → CollectSink", recordsPerSecond: RECORDS / seconds, checkpoints: r.checkpoints.completed, latencies: [] });
    }

    results.push(await run("FileSource → CollectSink", new FileSource(input, { format: "lines" }) as Source<string>, new CollectSink<{ word: string; count: number }>()));

    const outDir = join(work, `out-${rep}`);
    const files = async () => readdirSync(outDir).filter((f) => !f.startsWith(".")).length;
    mkdirSync(outDir);
    results.push(await run("FileSource → FileSink", new FileSource(input, { format: "lines" }) as Source<string>, new FileSink(outDir), files));
    const committed = await FileSink.readCommitted(outDir);
    if (committed.length !== RECORDS) throw new Error(`FileSink committed ${committed.length} of ${RECORDS}`);

    if (WITH_PG) {
      const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
      const tableName = `weir_bench_${process.pid}_${rep}`;
      await sql.unsafe(`create table ${tableName} (word text not null, count integer not null)`);
      try {
        const txns = async () => (await sql`select count(*)::int as n from weir_sink_transactions where table_name = ${tableName}`)[0].n as number;
        await sql.unsafe(`create table if not exists weir_sink_transactions (txn_id text primary key, table_name text not null, rows integer not null, committed_at timestamptz not null default now())`);
        results.push(await run("FileSource → PostgresSink", new FileSource(input, { format: "lines" }) as Source<string>, new PostgresSink({ url: PG_URL, table: tableName }), txns));
        const [{ n }] = await sql.unsafe(`select count(*)::int as n from ${tableName}`);
        if (n !== RECORDS) throw new Error(`PostgresSink committed ${n} of ${RECORDS}`);
      } finally {
        await sql.unsafe(`drop table ${tableName}`);
        await sql`delete from weir_sink_transactions where table_name = ${tableName}`;
        await sql.end();
      }
    }

  }
  const results: Result[] = [];
  for (const r of all) {
    const best = results.find((x) => x.label === r.label);
    if (!best) results.push({ ...r, latencies: [...r.latencies] });
    else {
      best.recordsPerSecond = Math.max(best.recordsPerSecond, r.recordsPerSecond);
      best.latencies.push(...r.latencies);
    }
  }
  const base = results[0].recordsPerSecond;
  const rows: string[][] = [["job", "records/s", "of baseline", "checkpoints", "commit latency p50", "p95"]];
  for (const r of results) {
    rows.push([
      r.label,
      perSecond(r.recordsPerSecond),
      `${Math.round((r.recordsPerSecond / base) * 100)}%`,
      String(r.checkpoints),
      r.latencies.length ? `${median(r.latencies).toFixed(1)} ms` : "–",
      r.latencies.length ? `${percentile(r.latencies, 95).toFixed(1)} ms` : "–",
    ]);
  }
  console.log(`${runtimeName()}, ${RECORDS} records per job, checkpoints every ${INTERVAL} ms, load ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}`);
  console.log(table(rows));
  rmSync(work, { recursive: true, force: true });
}

await main();
process.exit(0);
