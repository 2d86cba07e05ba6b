/**
 * Everything one seed decides before its run starts: the job's shape and sizes, the
 * checkpoint settings, and the fault probabilities themselves (so that one seed sees
 * many crashes and few storage faults, the next one the reverse).
 * @module
 */
import type { CheckpointOptions } from "../checkpoint/config.ts";
import type { SimPrng } from "./prng.ts";
import type { StorageFaultConfig } from "./faulty_storage.ts";
import { drawNetwork, type NetworkConfig } from "./faulty_transport.ts";

/** The checkpointing modes the simulator explores. */
export const SIM_MODES = ["aligned", "unaligned", "aligned-with-timeout", "at-least-once"] as const;
export type SimMode = (typeof SIM_MODES)[number];

/** One seed's settings. */
export interface SimConfig {
  seed: number;
  mode: SimMode;
  /** Records: SequenceSource(0, records). */
  records: number;
  /** Keys: record n has key n % keys. */
  keys: number;
  sourceParallelism: number;
  reduceParallelism: number;
  batchSize: number;
  channelCapacity: number;
  checkpoint: CheckpointOptions;
  restartDelayMs: number;
  /**
   * Async operators: the map in the source vertex returns a promise, and an async
   * identity map between reduce and sink waits up to `asyncDelayMaxMs` of virtual time
   * per record (async I/O), so barriers and aborts queue up behind a busy actor and
   * input batches are consumed one record at a time.
   */
  asyncMap: boolean;
  asyncTail: boolean;
  asyncDelayMaxMs: number;
  /**
   * The reduce changes its accumulator in place, and asynchronous snapshots take at most
   * this many entries per slice (undefined: sized by time): records race the snapshot,
   * and a change after the snapshot point must never reach it (issue 10).
   */
  inPlaceReduce: boolean;
  snapshotSliceMax: number | undefined;
  /**
   * A windowed job beside the keyed count: record n happens at event time n (ms), the
   * source fans out to a tumbling event-time count per key over `windowSize` ms.
   */
  windowed: boolean;
  windowSize: number;
  /**
   * Keyed state of the reduce and the windows: undefined = heap with full checkpoints;
   * else incremental checkpoints of the heap (changelogs) or of SQLite (native files),
   * whose shared files the coordinator counts and deletes (issue 10 item 5).
   */
  state?: { backend: "heap" | "sqlite"; incremental: true };
  /** Upper bound of the virtual cost of one actor step, ms. */
  stepCostMaxMs: number;
  /** Upper bound of how late a timer fires, ms. */
  timerLateMaxMs: number;
  faults: {
    /** Hard faults injected before the liveness phase starts. */
    budget: number;
    /** Virtual ms after the start when faults stop even if the budget is left. */
    windowMs: number;
    /** Per actor step. */
    crash: number;
    /** Per metadata commit, before the metadata write. */
    coordinatorBeforeCommit: number;
    /** Per metadata commit, after the write and before notifying. */
    coordinatorAfterCommit: number;
    storage: StorageFaultConfig;
  };
  /** Process-level events: whole-process crashes, savepoints, stop-with-savepoint. */
  ext: SimExtensions;
  /**
   * Buffer timeouts (ms; -1 only full batches): `env` for the whole job, `reduce` the keyed
   * reduce's own (setBufferTimeout), so that records wait in partly filled output batches
   * across barriers, watermarks and failures. Undefined = 0, records never wait.
   */
  bufferTimeout?: { env: number; reduce?: number };
  /**
   * The network between subtasks (sim/faulty_transport.ts): latency, reordering across
   * channels and failed RPCs; undefined = the in-memory transport.
   */
  network?: NetworkConfig;
}

/**
 * What happens to the process running the job, drawn from a stream of its own
 * ("extensions") so that the draws above stay as they were. All empty with
 * `extensions: false` (the regression seeds pinned before these existed).
 */
export interface SimExtensions {
  /**
   * Virtual ms after the seed's start at which the whole process dies (ascending): no
   * clean-up, `_current` stays, and a new StreamEnvironment with the same job name and
   * storage must resume from the latest completed checkpoint.
   */
  crashesAtMs: number[];
  /** Virtual ms at which an intermediate (aligned) savepoint is triggered. */
  savepointsAtMs: number[];
  /**
   * The first run ends with stop-with-savepoint (retried until it succeeds), and a new
   * job restores that savepoint at these parallelisms (same maxParallelism).
   */
  stop?: { atMs: number; drain: boolean; sourceParallelism: number; reduceParallelism: number };
}

/**
 * Draws a seed's settings from its "config" stream; the network from a stream of its own
 * ("network"), so that seeds without it (`network` false) draw everything else as before.
 */
export function drawConfig(seed: number, mode: SimMode, prng: SimPrng, extensions = true, network = true, incremental = true, buffer = true): SimConfig {
  const timeout = prng.range(150, 1500);
  const checkpoint: CheckpointOptions = {
    interval: prng.range(1, 40),
    timeout,
    minPause: prng.chance(0.5) ? 0 : prng.range(1, 20),
    maxConcurrent: prng.chance(0.7) ? 1 : 2,
    tolerableFailures: prng.range(0, 3),
    // Mostly retain all, so every completed checkpoint can be restored after the run.
    retained: prng.chance(0.8) ? 1000 : prng.range(1, 3),
  };
  if (mode === "unaligned") Object.assign(checkpoint, { unaligned: true, alignedTimeout: 0 });
  if (mode === "aligned-with-timeout") Object.assign(checkpoint, { unaligned: true, alignedTimeout: prng.range(1, 20) });
  if (mode === "at-least-once") checkpoint.mode = "at-least-once";
  // A stream of its own, so that adding variants does not shift the draws above or below.
  const variant = prng.fork("variant");
  const ext = prng.fork("extensions");
  const windows = prng.fork("windows");
  const c: SimConfig = {
    asyncMap: variant.chance(0.3),
    asyncTail: variant.chance(0.3),
    asyncDelayMaxMs: variant.next() * 2,
    inPlaceReduce: variant.chance(0.5),
    snapshotSliceMax: variant.chance(0.7) ? variant.range(1, 3) : undefined,
    windowed: windows.chance(0.3),
    windowSize: windows.range(5, 200),
    seed,
    mode,
    records: prng.range(50, 1500),
    keys: prng.range(1, 7),
    sourceParallelism: prng.range(1, 3),
    reduceParallelism: prng.range(1, 3),
    batchSize: prng.range(1, 6),
    channelCapacity: prng.range(1, 4),
    checkpoint,
    restartDelayMs: prng.range(0, 40),
    stepCostMaxMs: 0.05 + prng.next() * 0.6,
    timerLateMaxMs: prng.next() * 3,
    faults: {
      budget: prng.range(0, 12),
      windowMs: prng.range(20, 4000),
      crash: prng.probability(1e-4, 3e-2),
      coordinatorBeforeCommit: prng.probability(0.01, 0.4),
      coordinatorAfterCommit: prng.probability(0.01, 0.4),
      storage: {
        putFail: prng.probability(0.002, 0.15),
        torn: prng.probability(0.002, 0.15),
        lostAck: prng.probability(0.002, 0.1),
        slow: prng.probability(0.01, 0.5),
        slowMaxMs: prng.range(5, 2 * timeout),
        baseMaxMs: prng.next() * 2,
      },
    },
    ext: { crashesAtMs: [], savepointsAtMs: [] },
  };
  if (network) {
    const net = drawNetwork(prng.fork("network"));
    if (net) c.network = net;
  }
  if (incremental) drawState(c, prng.fork("state"));
  if (buffer) drawBufferTimeout(c, prng.fork("buffer"));
  if (!extensions) return c;
  const times = (n: number, max: number) => Array.from({ length: n }, () => ext.range(1, max)).sort((a, b) => a - b);
  if (ext.chance(0.4)) c.ext.crashesAtMs = times(ext.chance(0.7) ? 1 : 2, 1200);
  if (ext.chance(0.4)) c.ext.savepointsAtMs = times(ext.range(1, 4), 1200);
  if (ext.chance(0.3)) {
    c.ext.stop = { atMs: ext.range(1, 1200), drain: ext.chance(0.5), sourceParallelism: ext.range(1, 3), reduceParallelism: ext.range(1, 3) };
  }
  if (ext.chance(0.5)) {
    c.faults.storage.readMaxMs = ext.next() * 2;
    c.faults.storage.readSlow = ext.probability(0.01, 0.3);
  }
  return c;
}

/**
 * A stream of its own, so that seeds without it (`incremental` false) draw everything else
 * as before: 35 % of seeds checkpoint incrementally, heap or SQLite alike, and half of
 * those retain only 1–3 checkpoints, so that shared files are deleted while in use nearby.
 */
function drawState(c: SimConfig, prng: SimPrng): void {
  if (!prng.chance(0.35)) return;
  c.state = { backend: prng.chance(0.5) ? "heap" : "sqlite", incremental: true };
  if (prng.chance(0.5)) c.checkpoint.retained = prng.range(1, 3);
}

/**
 * A stream of its own, so that seeds without it (`buffer` false) draw everything else as
 * before: 40 % of seeds hold records in output batches, a tenth of those only full ones.
 */
function drawBufferTimeout(c: SimConfig, prng: SimPrng): void {
  if (!prng.chance(0.4)) return;
  const draw = () => (prng.chance(0.1) ? -1 : prng.range(1, 30));
  c.bufferTimeout = { env: draw() };
  if (prng.chance(0.3)) c.bufferTimeout.reduce = prng.chance(0.3) ? 0 : draw();
}

/** One line describing a config, for failure reports. */
export function describeConfig(c: SimConfig): string {
  const f = c.faults;
  const s = f.storage;
  const p = (x: number) => x.toPrecision(2);
  return [
    `records=${c.records} keys=${c.keys} parallelism=${c.sourceParallelism}->${c.reduceParallelism}`,
    `batch=${c.batchSize} capacity=${c.channelCapacity} asyncMap=${c.asyncMap} asyncTail=${c.asyncTail} inPlaceReduce=${c.inPlaceReduce} snapshotSlice=${c.snapshotSliceMax ?? "time"} checkpoint=${JSON.stringify(c.checkpoint)}` +
    (c.windowed ? ` windows=${c.windowSize}ms` : "") + (c.state ? ` state=${c.state.backend}-incremental` : "") +
    (c.bufferTimeout ? ` bufferTimeout=${c.bufferTimeout.env}${c.bufferTimeout.reduce === undefined ? "" : `/reduce ${c.bufferTimeout.reduce}`}ms` : ""),
    `faults: budget=${f.budget} window=${f.windowMs}ms crash=${p(f.crash)} coord=${p(f.coordinatorBeforeCommit)}/${p(f.coordinatorAfterCommit)}`,
    `storage: fail=${p(s.putFail)} torn=${p(s.torn)} lostAck=${p(s.lostAck)} slow=${p(s.slow)} slowMax=${s.slowMaxMs}ms` +
    (s.readMaxMs ? ` reads=${p(s.readMaxMs)}ms slowRead=${p(s.readSlow ?? 0)}` : ""),
    `process: crashes at ${JSON.stringify(c.ext.crashesAtMs)}ms, savepoints at ${JSON.stringify(c.ext.savepointsAtMs)}ms` +
    (c.ext.stop ? `, stop${c.ext.stop.drain ? " --drain" : ""} at ${c.ext.stop.atMs}ms then restore at ${c.ext.stop.sourceParallelism}->${c.ext.stop.reduceParallelism}` : ""),
    c.network
      ? `network: latency<${p(c.network.latencyMaxMs)}ms spike=${p(c.network.spike)} up to ${c.network.spikeMaxMs}ms failRpc=${p(c.network.failRpc)}`
      : "network: in-memory",
  ].join("\n  ");
}
