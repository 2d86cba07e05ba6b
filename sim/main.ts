/**
 * The simulator's command line.
 *
 *   npm run sim -- --seeds 2000 --mode unaligned     explore seeds 0..1999
 *   npm run sim -- --seeds 500 --from 10000 --mode all
 *   npm run sim -- --seed 1234 --mode aligned         replay one seed, bit for bit
 *   --stop-window-faults   also crash between a completed stop-with-savepoint and the
 *                          job's end (a known core bug: duplicated output)
 *   --no-network           in-memory channels for every seed (else three seeds in four
 *                          run over a faulty network: sim/faulty_transport.ts)
 *   --only-incremental     skip the seeds that do not draw incremental checkpoints
 *   --no-buffer-timeout    records never wait in output batches (else 40 % of seeds draw
 *                          a buffer timeout, some of them -1 or a per-operator override)
 *   --no-incremental       full heap checkpoints for every seed (else 35 % of seeds run
 *                          heap or sqlite incremental checkpoints)
 *
 * Every seed's report starts with `SEED=`; a failure adds the config, what broke, the
 * last trace lines and the replay command. Exits 1 when any seed failed.
 * @module
 */
import process from "node:process";
import { SIM_MODES, type SimMode, drawConfig } from "./config.ts";
import { SimPrng } from "./prng.ts";
import { DEFAULT_LIMITS, runSeed } from "./driver.ts";
import { failureReport, seedLine } from "./report.ts";

interface Args {
  seeds: number;
  from: number;
  single: number | undefined;
  modes: SimMode[];
  quiet: boolean;
  traceLines: number;
  stopWindowFaults: boolean;
  network: boolean;
  incremental: "draw" | "only" | "none";
  bufferTimeout: boolean;
}

function usage(msg: string): never {
  console.error(`${msg}\nusage: npm run sim -- [--seeds N] [--from S] [--seed N] [--mode ${SIM_MODES.join("|")}|all] [--quiet] [--trace LINES] [--stop-window-faults] [--no-network] [--only-incremental|--no-incremental] [--no-buffer-timeout]`);
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seeds: 100, from: 0, single: undefined, modes: ["unaligned"], quiet: false, traceLines: 40, stopWindowFaults: true, network: true, incremental: "draw", bufferTimeout: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    const int = () => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) usage(`${k} needs a non-negative integer, got ${JSON.stringify(v)}`);
      i++;
      return n;
    };
    if (k === "--seeds") a.seeds = int();
    else if (k === "--from") a.from = int();
    else if (k === "--seed") a.single = int();
    else if (k === "--trace") a.traceLines = int();
    else if (k === "--quiet") a.quiet = true;
    else if (k === "--stop-window-faults") a.stopWindowFaults = true;
    else if (k === "--no-stop-window-faults") a.stopWindowFaults = false;
    else if (k === "--no-network") a.network = false;
    else if (k === "--only-incremental") a.incremental = "only";
    else if (k === "--no-incremental") a.incremental = "none";
    else if (k === "--no-buffer-timeout") a.bufferTimeout = false;
    else if (k === "--mode") {
      i++;
      if (v === "all") a.modes = [...SIM_MODES];
      else if ((SIM_MODES as readonly string[]).includes(v)) a.modes = [v as SimMode];
      else usage(`Unknown mode ${JSON.stringify(v)}`);
    } else usage(`Unknown argument ${JSON.stringify(k)}`);
  }
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const seeds = args.single !== undefined ? [args.single] : Array.from({ length: args.seeds }, (_, i) => args.from + i);
  const limits = { ...DEFAULT_LIMITS, traceKeep: Math.max(args.traceLines, 1) };
  const started = process.hrtime.bigint();
  const faults: Record<string, number> = {};
  const failedBy: Record<string, number> = {};
  const failedSeeds: string[] = [];
  const proc = { runs: 0, crashes: 0, savepoints: 0, savepointsFailed: 0, stops: 0, restoredAtNewParallelism: 0, rescaledChannelState: 0 };
  const incremental = { heap: 0, sqlite: 0 };
  let withBufferTimeout = 0;
  let runs = 0, completed = 0, failed = 0, restarts = 0, restores = 0, events = 0, unaligned = 0, channelState = 0;
  for (const mode of args.modes) {
    for (const seed of seeds) {
      if (args.incremental === "only" && !drawConfig(seed, mode, new SimPrng(seed).fork("config"), true, args.network).state) continue;
      const r = await runSeed(seed, mode, limits, { stopWindowFaults: args.stopWindowFaults, network: args.network, incremental: args.incremental !== "none", bufferTimeout: args.bufferTimeout });
      runs++;
      if (r.config.state) incremental[r.config.state.backend]++;
      if (r.config.bufferTimeout) withBufferTimeout++;
      completed += r.checkpoints.completed;
      failed += r.checkpoints.failed;
      unaligned += r.checkpoints.unaligned;
      channelState += r.checkpoints.withChannelState;
      restarts += r.restarts;
      restores += r.restoresChecked;
      events += r.events;
      proc.runs += r.process.runs;
      proc.crashes += r.process.crashes;
      proc.savepoints += r.process.savepoints;
      proc.savepointsFailed += r.process.savepointsFailed;
      proc.stops += r.process.stops;
      if (r.process.restoredFromStop) proc.restoredAtNewParallelism++;
      proc.rescaledChannelState += r.process.rescaledChannelStateRestores;
      for (const [k, n] of Object.entries(r.faults)) faults[k] = (faults[k] ?? 0) + n;
      for (const [k, n] of Object.entries(r.checkpoints.failedBy)) failedBy[k] = (failedBy[k] ?? 0) + n;
      if (!r.ok) {
        failedSeeds.push(`${seed}/${mode}`);
        console.log(failureReport(r, args.traceLines));
      } else if (!args.quiet || args.single !== undefined) {
        console.log(seedLine(r));
      }
    }
  }
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    [
      `--- summary: ${runs} seed runs (${args.modes.join(", ")}), ${failedSeeds.length} failed${failedSeeds.length ? `: ${failedSeeds.slice(0, 20).join(" ")}` : ""}`,
      `incremental checkpoints: ${incremental.heap} seeds heap, ${incremental.sqlite} seeds sqlite (the rest heap, full)`,
      `buffer timeout: ${withBufferTimeout} seeds held records in output batches`,
      `faults injected: ${Object.entries(faults).map(([k, n]) => `${k}=${n}`).join(" ") || "none"}`,
      `checkpoints: ${completed} completed (${unaligned} unaligned, ${channelState} with channel state), ${failed} failed (${Object.entries(failedBy).map(([k, n]) => `${k}=${n}`).join(" ") || "none"})`,
      `processes: ${proc.runs} job runs, ${proc.crashes} whole-process crashes resumed, ${proc.savepoints} savepoints completed (${proc.savepointsFailed} failed), ` +
      `${proc.stops} stop-with-savepoint attempts, ${proc.restoredAtNewParallelism} stop savepoints restored at a new parallelism, ` +
        `${proc.rescaledChannelState} checkpoints with channel state restored at a new parallelism`,
      `restarts: ${restarts}, checkpoints restored and checked: ${restores}, events: ${events}, wall: ${wallS.toFixed(1)}s`,
    ].join("\n"),
  );
  if (failedSeeds.length > 0) process.exitCode = 1;
}

await main();
