/**
 * What a heap checkpoint costs the subtask's thread, without a job around it (issue 10): a
 * heap backend holding `--keys` counts (the reduce's state of bench/state.ts), then per
 * round one update of every key, as the records would make it, and a checkpoint stepped to
 * its end a budget of 4096 entries at a time, as the runtime steps it between records: a
 * full snapshot encoded by KeyedStateCapture and stored in parts (its chunks given back to
 * the process's chunk pool once stored, as runtime/snapshot_writer.ts does), or an
 * incremental one (every key changed: bases and changelogs in turn). Prints per variant the
 * medians, over the rounds after the first two (warm-up), of the update pass (ms; it pays
 * for copy-on-write and for noting changed slots), the steps' sum and the longest step
 * (ms), and the process's CPU for the checkpoint (ms, every thread). "none" is the update
 * pass with no checkpoint, the baseline. Checkpoints go to FileStorage in a temporary
 * directory, without fsync.
 *
 * Then the materializations of incremental heap state (state/heap_materialization.ts) and
 * of sqlite state (state/sqlite_materialization.ts, a cache of 100 000 keys and its
 * background writer) with 1 % of the keys changing: 3 × `--rounds` checkpoints of
 * changelogs, each followed by the turns of a materialization when one began, run one after
 * another on the backend's clock as the subtask's scheduler would run them between records.
 * Prints how many checkpoints came between two bases, and per materialization the medians of
 * its turns' sum, its longest turn, its number of turns and the process's CPU for it (every
 * thread: sqlite's page image is copied on the writer's); and that CPU spread over the
 * checkpoints between two bases, what a materialization adds to each checkpoint.
 *
 *   bun bench/state_steps.ts [--keys 1000000] [--rounds 12]
 *   deno run -A bench/state_steps.ts
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { checkpointChunks } from "../codec/chunk_pool.ts";
import { KeyedStateCapture } from "../dataflow/operators/keyed_capture.ts";
import { FileStorage } from "../mod.ts";
import { sqliteDriver } from "../platforms/sqlite.ts";
import type { KeyedStateBackend, KeyedStateBackendInit, KeyedStateSnapshot } from "../state/backend.ts";
import { SqliteKeyedStateBackend } from "../state/sqlite_backend.ts";
import { putInParts } from "../storage/adapter.ts";
import { benchArgs } from "./args.ts";
import { filled } from "./state_restore.ts";
import { median, nowMs, runtimeName, table } from "./stats.ts";

const USAGE = "Usage: bun bench/state_steps.ts [--keys 1000000] [--rounds 12]";
const values = benchArgs(USAGE, {
  keys: { type: "string", default: "1000000" },
  rounds: { type: "string", default: "12" },
});
const keys = Number(values.keys);
const rounds = Number(values.rounds);
for (const [bad, why] of [[!Number.isInteger(keys) || keys < 1, `--keys is a positive integer, got ${values.keys}`], [!Number.isInteger(rounds) || rounds < 3, `--rounds is an integer of 3 or more, got ${values.rounds}`]] as const) {
  if (!bad) continue;
  console.error(`${why}\n${USAGE}`);
  process.exit(2);
}

type Variant = "none" | "full" | "incremental";
const BUDGET = 4096;

/** Process CPU time, ms (every thread). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Steps a snapshot or capture to its end; the sum and the longest of its steps, ms. */
async function stepAll(step: () => boolean | Promise<boolean>): Promise<{ sum: number; max: number }> {
  let sum = 0;
  let max = 0;
  for (;;) {
    const start = nowMs();
    const r = step();
    const ms = nowMs() - start;
    sum += ms;
    if (ms > max) max = ms;
    if (r === true || (r !== false && (await r))) return { sum, max };
  }
}

interface Round {
  updateMs: number;
  stepsMs: number;
  maxStepMs: number;
  cpuMs: number;
}

async function run(variant: Variant): Promise<Round[]> {
  const dir = mkdtempSync(join(tmpdir(), "weir-bench-steps-"));
  const storage = new FileStorage(dir, { fsync: false });
  try {
    const b = filled(keys, { incremental: variant === "incremental", storage, uid: "sum", subtaskIndex: 0, jobId: "bench" });
    const sum = b.reducingState<number>("reduce", (a, v) => a + v);
    const out: Round[] = [];
    for (let id = 1; id <= rounds; id++) {
      const start = nowMs();
      for (let k = 0; k < keys; k++) sum.addFor(k, 1);
      const updateMs = nowMs() - start;
      if (variant === "none") {
        out.push({ updateMs, stepsMs: 0, maxStepMs: 0, cpuMs: 0 });
        continue;
      }
      const cpu = cpuMs();
      const snap: KeyedStateSnapshot = b.snapshot(id);
      let steps: { sum: number; max: number };
      if (variant === "incremental") {
        steps = await stepAll(() => snap.step(BUDGET));
        snap.release();
      } else {
        const capture = new KeyedStateCapture(snap, "bench state");
        steps = await stepAll(() => capture.step(BUDGET));
        const parts = capture.parts();
        capture.release();
        await putInParts(storage, `chk-${id}/state`, parts);
        checkpointChunks.give(parts);
      }
      out.push({ updateMs, stepsMs: steps.sum, maxStepMs: steps.max, cpuMs: cpuMs() - cpu });
    }
    b.dispose();
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[][] = [["variant", "update pass", "steps", "longest step", "checkpoint CPU"]];
for (const variant of ["none", "full", "incremental"] as const) {
  const warm = (await run(variant)).slice(2);
  const cell = (f: (r: Round) => number) => `${median(warm.map(f)).toFixed(1)} ms`;
  rows.push(variant === "none" ? [variant, cell((r) => r.updateMs), "-", "-", "-"] : [variant, cell((r) => r.updateMs), cell((r) => r.stepsMs), cell((r) => r.maxStepMs), cell((r) => r.cpuMs)]);
}
console.log(`\n${runtimeName()}, heap state of ${keys} counts, a checkpoint after each update of every key, medians of ${rounds - 2} rounds (after 2 warm-up rounds), steps of ${BUDGET} entries\n`);
console.log(table(rows));

interface Materialization {
  /** Checkpoints since the previous one began (or since the first checkpoint). */
  after: number;
  turns: number;
  turnsMs: number;
  maxTurnMs: number;
  cpuMs: number;
}

/** A sqlite backend holding `keys` counts, every one written back, its background writer up. */
async function sqliteFilled(keys: number, init: Partial<KeyedStateBackendInit>, directory: string): Promise<SqliteKeyedStateBackend> {
  const b = new SqliteKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, uid: "sum", subtaskIndex: 0, jobId: "bench", ...init }, { driver: sqliteDriver, directory });
  await b.store.backgroundWriterReady();
  const sum = b.reducingState<number>("reduce", (a, v) => a + v);
  for (let k = 0; k < keys; k++) sum.addFor(k, k);
  b.store.flush();
  return b;
}

/** Runs the deferred turns of a materialization until none is left and its write landed. */
async function materializations(backend: "heap" | "sqlite"): Promise<Materialization[]> {
  const dir = mkdtempSync(join(tmpdir(), "weir-bench-steps-"));
  const storage = new FileStorage(join(dir, "checkpoints"), { fsync: false });
  const queue: (() => void)[] = [];
  const scheduler = { after: () => ({ cancel() {} }), defer: (fn: () => void) => void queue.push(fn) };
  try {
    const init = { incremental: true, storage, scheduler, clock: { now: nowMs }, uid: "sum", subtaskIndex: 0, jobId: "bench" };
    const b: KeyedStateBackend = backend === "heap" ? filled(keys, init) : await sqliteFilled(keys, init, dir);
    const sum = b.reducingState<number>("reduce", (a, v) => a + v);
    const hot = Math.max(1, Math.round(keys / 100));
    const out: Materialization[] = [];
    let since = 0;
    for (let id = 1; id <= 3 * rounds; id++) {
      for (let k = 0; k < hot; k++) sum.addFor(k, 1);
      const snap = b.snapshot(id);
      await stepAll(() => snap.step(BUDGET));
      snap.result();
      snap.release();
      since++;
      // A sqlite backend looks for a due materialization in the turn after each checkpoint's result.
      if (backend === "sqlite") queue.shift()?.();
      if (queue.length === 0) continue;
      const m: Materialization = { after: since, turns: 0, turnsMs: 0, maxTurnMs: 0, cpuMs: 0 };
      const cpu = cpuMs();
      // Its write is a promise the last turn leaves behind: wait until no turn comes for a
      // while (sqlite: until it ended; its page image takes the writer 100–400 ms).
      const running = () => b instanceof SqliteKeyedStateBackend && b.materializing;
      for (let idle = 0; idle < 5 || running(); ) {
        const turn = queue.shift();
        if (turn === undefined) {
          idle++;
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        idle = 0;
        const start = nowMs();
        turn();
        const ms = nowMs() - start;
        m.turns++;
        m.turnsMs += ms;
        if (ms > m.maxTurnMs) m.maxTurnMs = ms;
      }
      m.cpuMs = cpuMs() - cpu;
      out.push(m);
      since = 0;
    }
    b.dispose();
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const materializationRows: string[][] = [["backend", "bases", "one every", "turns", "turns' sum", "longest turn", "CPU", "CPU per checkpoint"]];
for (const backend of ["heap", "sqlite"] as const) {
  const ms = await materializations(backend);
  if (ms.length === 0) {
    materializationRows.push([backend, "0", "-", "-", "-", "-", "-", "-"]);
    continue;
  }
  const every = median(ms.slice(1).map((m) => m.after).concat(ms.length === 1 ? [ms[0].after] : []));
  const med = (f: (m: Materialization) => number, digits = 1) => median(ms.map(f)).toFixed(digits);
  materializationRows.push([backend, String(ms.length), `${every} checkpoints`, med((m) => m.turns, 0), `${med((m) => m.turnsMs)} ms`, `${med((m) => m.maxTurnMs)} ms`, `${med((m) => m.cpuMs)} ms`, `${(median(ms.map((m) => m.cpuMs)) / every).toFixed(1)} ms`]);
}
console.log(`\nMaterializations with 1 % of the keys changing, ${3 * rounds} checkpoints (medians per materialization):\n`);
console.log(table(materializationRows));
