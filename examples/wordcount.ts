/**
 * The quick-start job: counts words of an endless, replayable stream of sentences, with
 * checkpoints every second on the embedded file storage (.weir/) and the REST API on
 * http://127.0.0.1:8081. Prints its progress and every completed checkpoint. Ctrl-C
 * stops it with a savepoint; start it again and it resumes after a crash (kill -9).
 *
 *   npm start                       # or: bun examples/wordcount.ts [--port 8081] [--host 127.0.0.1]
 *   npm start -- --from-savepoint .weir/savepoints/savepoint-…   # start from a savepoint
 *   npm start -- --fresh            # ignore an unfinished (crashed) run and start anew
 *   npm start -- --help             # every flag (the same as weir run's)
 */
import { applyCommandLine, CollectSink, FileStorage, restoreCommand, SequenceSource, StreamEnvironment } from "../mod.ts";

const LINES = [
  "the barrier overtakes the data in flight",
  "aligned checkpoints wait for every barrier",
  "unaligned checkpoints store the data they overtake",
  "a savepoint is a checkpoint you own",
  "exactly once means no record lost and none counted twice",
];

// The command line (--port, --from-savepoint DIR, …) becomes the defaults of the
// environment below; under `weir run examples/wordcount.ts …` weir run's flags do.
try {
  applyCommandLine({ parallelism: 2, http: { port: 8081, hostname: "127.0.0.1" } });
} catch (e) {
  console.error(`weir: ${(e as Error).message}`);
  process.exit(2);
}

const env = new StreamEnvironment({
  jobName: "wordcount",
  storage: new FileStorage(".weir"),
  checkpoint: { interval: 1000 },
  restart: { strategy: "exponential-delay", initialDelay: 100, maxDelay: 5000 },
});
const counts = new CollectSink<[string, number]>();
env.fromSource(new SequenceSource(0, Number.MAX_SAFE_INTEGER, { ratePerSecond: 5000 }), { uid: "sentences" })
  .map((n) => LINES[n % LINES.length], { uid: "line" })
  .flatMap((line) => line.split(" "), { uid: "words" })
  .map((word): [string, number] => [word, 1], { uid: "pair" })
  .keyBy((p) => p[0])
  .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "count" })
  .sinkTo(counts, { uid: "out" });

const job = await env.execute().catch((e: Error) => {
  // Bad options, a busy port or an unreadable checkpoint: one clear line, no stack.
  console.error(`weir: ${e.message}`);
  process.exit(1);
});
console.log(`weir: job "${job.name}" (${job.id}) running; REST API and dashboard at ${job.url ?? "(off)"}`);
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

const progress = setInterval(() => {
  const latest = new Map<string, number>();
  for (const [w, c] of counts.committed) latest.set(w, c);
  const top = [...latest].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([w, c]) => `${w}=${c}`).join(" ");
  console.log(`committed ${counts.committed.length} updates; top words: ${top || "(none yet)"}`);
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
if (result.savepoint) console.log(`restore with: ${restoreCommand(job.launchCommand ?? "npm start --", result.savepoint)}`);
process.exit(result.status === "failed" ? 1 : 0);
