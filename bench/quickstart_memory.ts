/**
 * Does the quick start's memory stay flat? Runs `examples/wordcount.ts` (the job behind
 * `npm start`) in a child process of this runtime on a fresh folder, appends lines of text
 * to its input for a while (a new file every few seconds, as a user dropping files in),
 * samples the child's RSS, and prints RSS against the number of records processed. The
 * job keeps one count per distinct word and nothing per record, so RSS should level off
 * while the record count climbs.
 *
 *   bun bench/quickstart_memory.ts [--seconds 60] [--lines-per-second 5000]
 *   deno run -A bench/quickstart_memory.ts …
 */
import process from "node:process";
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runtimeName } from "./stats.ts";

const args = process.argv.slice(2);
function flag(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
const seconds = flag("seconds", 60);
const linesPerSecond = flag("lines-per-second", 5000);
const WORDS_PER_LINE = 10;
const VOCABULARY = Array.from({ length: 2000 }, (_, i) => `w${i.toString(36)}`);

const dir = mkdtempSync(join(tmpdir(), "weir-qs-mem-"));
const input = join(dir, "in");
mkdirSync(input);
const example = resolve(import.meta.dirname ?? ".", "..", "examples", "wordcount.ts");
const isDeno = "Deno" in globalThis;
const cmd = isDeno ? [process.execPath, "run", "-A", "--no-check", example] : [process.execPath, example];
const child = spawn(cmd[0], [...cmd.slice(1), "--input", input, "--output", join(dir, "out"), "--port", "0"], { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });

let updates = 0;
let buf = "";
child.stdout!.on("data", (chunk: Buffer) => {
  buf += chunk.toString();
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const m = /^(\d+) count updates/.exec(line);
    if (m) updates = Number(m[1]);
  }
});

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

let seed = 1;
function random(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
function lines(n: number): string {
  let out = "";
  for (let l = 0; l < n; l++) {
    const words: string[] = [];
    for (let w = 0; w < WORDS_PER_LINE; w++) words.push(VOCABULARY[Math.floor(random() * VOCABULARY.length)]);
    out += words.join(" ") + "\n";
  }
  return out;
}

const started = performance.now();
let written = 0;
const samples: { t: number; rss: number; updates: number; written: number }[] = [];
let file = 0;
const writer = setInterval(() => {
  const t = (performance.now() - started) / 1000;
  file = Math.floor(t / 5);
  const due = Math.floor(t * linesPerSecond) - written;
  if (due > 0) {
    appendFileSync(join(input, `part-${file}.txt`), lines(due));
    written += due;
  }
}, 100);
const sampler = setInterval(() => {
  const t = (performance.now() - started) / 1000;
  samples.push({ t, rss: rssMiB(child.pid!), updates, written });
}, 2000);

await new Promise((r) => setTimeout(r, seconds * 1000));
clearInterval(writer);
clearInterval(sampler);
child.kill("SIGKILL");
rmSync(dir, { recursive: true, force: true });

console.log(`quick start memory (${runtimeName()}, ${seconds} s, ${linesPerSecond} lines/s written, ${WORDS_PER_LINE} words per line)`);
console.log("   t (s)   RSS (MiB)   count updates   lines written");
for (const s of samples) console.log(`${s.t.toFixed(0).padStart(8)} ${s.rss.toFixed(1).padStart(11)} ${String(s.updates).padStart(15)} ${String(s.written).padStart(15)}`);
const warm = samples.find((s) => s.t >= Math.min(20, seconds / 3)) ?? samples[0];
const last = samples.at(-1)!;
const perMillion = (last.rss - warm.rss) / Math.max(1, (last.updates - warm.updates) / 1e6);
console.log(`after warm-up: RSS ${warm.rss.toFixed(1)} → ${last.rss.toFixed(1)} MiB while ${last.updates - warm.updates} records were counted (${perMillion.toFixed(2)} MiB per million records)`);
process.exit(0);
