/**
 * The quick-start job on real data: counts the words of the text files in a folder —
 * by default quickstart/input/, seeded at the first start with this project's own
 * documentation — and keeps watching it: drop a file in, or append lines to one, and the
 * counts move. Every running count goes to quickstart/output/ (FileSink, CSV rows
 * `word,count`, exactly-once: a file appears when the checkpoint that wrote it completes).
 * Checkpoints every second on the embedded file storage (.weir/), the REST API and
 * dashboard on http://127.0.0.1:8081. Ctrl-C stops it with a savepoint; kill -9 it and
 * start it again, and it resumes from its latest checkpoint. Memory stays flat: the state
 * is one count per distinct word, and nothing keeps records (bench/quickstart_memory.ts).
 *
 *   npm start                                  # or: bun examples/wordcount.ts
 *   npm start -- --input DIR --output DIR      # another folder to read, another to write
 *   npm start -- --from-savepoint .weir/savepoints/savepoint-…   # start from a savepoint
 *   npm start -- --fresh                       # ignore an unfinished (crashed) run and start anew
 *   npm start -- --help                        # every flag (the job flags are weir run's)
 *   weir run examples/wordcount.ts --port 0 -- --input DIR     # the same under weir run
 */
import process from "node:process";
import { copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { FileSink, FileSource, FileStorage, jobCommandLine, restoreCommand, serverClosed, StreamEnvironment } from "../mod.ts";

// The command line, in one place: --input/--output are this example's own flags; every
// other flag (--port, --from-savepoint DIR, --fresh, …) is a job flag that becomes the
// environment's defaults. Under `weir run examples/wordcount.ts -- --input DIR` the same.
let flags: Record<string, unknown>;
try {
  ({ flags } = jobCommandLine({ parallelism: 2, http: { port: 8081, hostname: "127.0.0.1" } }, {
    flags: { input: "string", output: "string" },
    help: "Quick start: counts the words of the text files in a folder, watching it.\n" +
      "  --input DIR                 the folder to read (default quickstart/input, seeded with the docs)\n" +
      "  --output DIR                where the counts go as CSV (default quickstart/output)",
  }));
} catch (e) {
  console.error(`weir: ${(e as Error).message}`);
  process.exit(2);
}
const input = resolve(typeof flags.input === "string" ? flags.input : "quickstart/input");
const output = resolve(typeof flags.output === "string" ? flags.output : "quickstart/output");

// The default folder starts with the project's own documentation, so there is something to count.
if (!existsSync(input)) {
  mkdirSync(input, { recursive: true });
  const root = resolve(import.meta.dirname ?? ".", "..");
  for (const doc of readdirSync(root).filter((f) => f.endsWith(".md"))) copyFileSync(join(root, doc), join(input, doc));
  console.log(`weir: created ${input} with ${readdirSync(input).join(", ")}; drop text files in to count them too`);
}

const env = new StreamEnvironment({
  jobName: "wordcount",
  storage: new FileStorage(".weir"),
  checkpoint: { interval: 1000 },
  restart: { strategy: "exponential-delay", initialDelay: 100, maxDelay: 5000 },
});
/** The latest count per word, for the progress line: one entry per distinct word, not per record. */
const latest = new Map<string, number>();
let updates = 0;
env.fromSource(new FileSource<string>(input, { format: "lines", monitorInterval: 1000 }), { uid: "lines" })
  .flatMap((line) => line.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [], { uid: "words" })
  .map((word): [string, number] => [word, 1], { uid: "pair" })
  .keyBy((p) => p[0])
  .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "count" })
  .map((p) => {
    latest.set(p[0], p[1]);
    updates++;
    return p;
  }, { uid: "progress" })
  .sinkTo(new FileSink<[string, number]>(output, { format: "csv" }), { uid: "out" });

const job = await env.execute().catch((e: Error) => {
  // Bad options, a busy port or an unreadable checkpoint: one clear line, no stack.
  console.error(`weir: ${e.message}`);
  process.exit(1);
});
console.log(`weir: job "${job.name}" (${job.id}) counting words in ${input} into ${output}`);
console.log(`weir: REST API and dashboard at ${job.url ?? "(off)"}`);
job.on((e) => {
  if (e.type === "checkpoint_completed") {
    console.log(`checkpoint ${e.checkpointId} completed in ${e.durationMs.toFixed(1)} ms, state ${(e.stateSize / 1024).toFixed(1)} KiB`);
  } else if (e.type === "checkpoint_failed") {
    console.log(`checkpoint ${e.checkpointId} failed: ${e.reason} (${e.message})`);
  } else if (e.type === "restored") {
    console.log(`restored from checkpoint ${e.checkpointId} at ${e.location}`);
  } else if (e.type === "restarting") {
    console.log(`restarting (attempt ${e.attempt}) in ${e.delayMs} ms after: ${e.error.message}`);
  } else if (e.type === "status") {
    console.log(`status ${e.status}`);
  }
});

let reported = -1;
const progress = setInterval(() => {
  if (updates === reported) return;
  reported = updates;
  const top = [...latest].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([w, c]) => `${w}=${c}`).join(" ");
  console.log(`${updates} count updates (${latest.size} distinct words); top: ${top || "(none yet)"}`);
}, 2000);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log("stopping with a savepoint…");
  try {
    console.log(`savepoint at ${await job.stop({ savepoint: ".weir/savepoints" })}`);
  } catch (e) {
    console.log(`stop failed (${(e as Error).message}); cancelling`);
    await job.cancel();
  }
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
const result = await job.done;
clearInterval(progress);
console.log(`job ended: ${result.status}${result.savepoint ? `, savepoint ${result.savepoint}` : ""}`);
// The launch command holds the flags as given (--input, --output, --port …), minus the restore flags.
if (result.savepoint) console.log(`restore with: ${restoreCommand(job.launchCommand ?? "npm start --", result.savepoint)}`);
// A `weir stop` that ended the job still polls for the savepoint's location: exit only once
// the REST API has answered it (or its grace period passed).
await serverClosed(job.url);
process.exit(result.status === "failed" ? 1 : 0);
