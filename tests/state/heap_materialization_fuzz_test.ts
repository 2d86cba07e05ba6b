/**
 * Materialization of incremental heap state against random interleavings (seeded, so each
 * run is the same): records, up to three checkpoints in flight, aborts, declines,
 * savepoints, turns of the materialization, storage writes held back and landing in any
 * order, and a coordinator that registers each completed checkpoint, keeps one and sweeps
 * shared files (checkpoint/shared_state.ts). Every completed checkpoint is restored and
 * compared with a model of the state at its snapshot point; at the end no shared file may
 * be left that the retained checkpoint does not refer to. It found a restore that lost the
 * changes between an aborted snapshot and an older base that landed after it, and a
 * materialized base left behind at the job's end. Savepoints are restored and compared too;
 * with 20 000 keys a materialization's visit spans checkpoints and savepoints, which visit
 * beside it.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { type InFlight, HoldStorage, Turns, completeFinished, draw, leftAtEnd, mulberry, stepOnce, tick } from "./seeded_interleavings.ts";
import type { MemoryStorage } from "../../storage/memory.ts";
import { SharedStateRegistry } from "../../checkpoint/shared_state.ts";
import type { IncrementalKeyedState, ReducingState } from "../../state/backend.ts";
import { restoredSums } from "./heap_steps.ts";

const SHARED = "j/id/shared";

const log = (_m: string) => {};

function diff(a: Map<number, number>, b: Map<number, number>): string | undefined {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: want ${v} got ${b.get(k)}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: want none got ${v}`);
  return out.length ? `${out.length} diffs: ${out.slice(0, 5).join("; ")}` : undefined;
}

interface Cp extends InFlight { expected: Map<number, number> }

interface Config {
  name: string;
  /** Keys filled in first; a materialization visits 4096 a turn. */
  keys: number;
  /** Per step, the chance that a checkpoint begins, and that one in flight is aborted. */
  begin: number;
  abort: number;
  maxInFlight: number;
  /** The share of snapshots begun that are savepoints. */
  savepoints: number;
  seeds: number;
  /** Some checkpoints must begin while a materialization runs. */
  overlap: boolean;
}

async function run(seed: number, steps: number, o: Config): Promise<{ fails: string[]; stats: Record<string, number> }> {
  const KEYS = o.keys;
  const restoredState = (storage: MemoryStorage, h: IncrementalKeyedState) => restoredSums(storage, h, KEYS + 200);
  const rand = mulberry(seed);
  const storage = new HoldStorage(rand, 0.4);
  const turns = new Turns();
  // A clock 10 ms on at every reading keeps each turn of a materialization to 4096 entries:
  // its visit takes keys / 4096 turns, which checkpoints and savepoints may come between.
  let t = 0;
  const clock = { now: () => (t += 10) };
  const b = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, scheduler: turns, clock, uid: "count", subtaskIndex: 0, jobId: "j", sharedDirectory: SHARED });
  const sum: ReducingState<number> = b.reducingState<number>("sum", (a, x) => a + x);
  const model = new Map<number, number>();
  const add = (k: number, n: number) => { sum.addFor(k, n); model.set(k, (model.get(k) ?? 0) + n); };
  const del = (k: number) => { b.setCurrentKey(k); sum.clear(); model.delete(k); };
  for (let k = 0; k < KEYS; k++) add(k, k);
  const registry = new SharedStateRegistry(storage, "j", "id");
  const fails: string[] = [];
  const stats: Record<string, number> = { completed: 0, materializedChains: 0, aborted: 0, savepoints: 0, declined: 0, beganDuringMaterialization: 0 };
  let nextId = 1;
  const cps: Cp[] = [];
  let completed: number[] = [];
  const records = () => {
    const n = Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) {
      const r = rand();
      const k = Math.floor(rand() * (KEYS + 100));
      if (r < 0.15) del(k); else add(k, 1 + Math.floor(rand() * 5));
    }
  };
  const complete = async (c: Cp) => {
    // Coordinator: completes (or declines) a finished checkpoint.
    if (rand() < 0.15) { stats.declined++; log(`declined ${c.id}`); return; }
    log(`complete ${c.id}`);
    const keys = c.handle!.shared.map((r) => r.key);
    registry.register(c.id, keys);
    // Subsumes older pending ones (their capture is released).
    for (const o of cps) if (o.id < c.id && (o.st === "step" || o.st === "write")) { log(`subsume ${o.id} in ${o.st}`); o.st = "gone"; o.snap.release(); stats.aborted++; }
    for (const id of completed) registry.discard(id);
    completed = [c.id];
    stats.completed++;
    if (c.handle!.shared[0].materialized) stats.materializedChains++;
    await registry.sweep(c.id);
    const got = await restoredState(storage, c.handle!).catch((e) => { fails.push(`seed ${seed} cp ${c.id}: restore threw ${e.message}`); return undefined; });
    if (got) {
      const d = diff(c.expected, got);
      if (d) fails.push(`seed ${seed} cp ${c.id} chain ${c.handle!.shared.map((r) => r.key.split("/").pop()).join(",")}: ${d}`);
    }
  };
  for (let s = 0; s < steps && fails.length === 0; s++) {
    records();
    await tick();
    const { a, live, begins } = draw(rand, cps, o);
    if (begins) {
      const id = nextId++;
      if (turns.q.length > 0) stats.beganDuringMaterialization++;
      if (rand() < o.savepoints) {
        const sp = b.snapshot(id, { savepoint: true });
        const atPoint = new Map(model);
        while (!(await sp.step(1 + Math.floor(rand() * 3000)))) records();
        const got = await restoredState(storage, sp.result() as IncrementalKeyedState);
        sp.release();
        const d = diff(atPoint, got);
        if (d) fails.push(`seed ${seed} savepoint ${id}: ${d}`);
        stats.savepoints++;
      } else { cps.push({ id, snap: b.snapshot(id), expected: new Map(model), st: "step" }); log(`begin ${id}`); }
    } else if (a < 0.45 && live.length > 0) {
      const c = live[Math.floor(rand() * live.length)];
      if (c.st !== "step") continue;
      if (!stepOnce(c, 1 + Math.floor(rand() * 3000), fails, `seed ${seed}`)) break;
    } else if (a < 0.45 + o.abort && live.length > 0) {
      const c = live[Math.floor(rand() * live.length)];
      log(`abort ${c.id} in ${c.st}`); c.st = "gone"; c.snap.release(); stats.aborted++;
    } else if (a < 0.8) {
      turns.turn();
    } else if (storage.held.length > 0) {
      storage.releaseOne(Math.floor(rand() * storage.held.length));
      await tick();
    }
    await completeFinished(cps, fails, complete);
  }
  b.dispose();
  const leaked = await leftAtEnd(storage, registry, nextId, SHARED, cps.filter((c) => completed.includes(c.id)).flatMap((c) => c.handle!.shared.map((r) => r.key)));
  stats.leaked = leaked.length;
  if (leaked.length) fails.push(`seed ${seed}: files left at the end that no retained checkpoint refers to: ${leaked.join(", ")}`);
  return { fails, stats };
}

describe("materialization of incremental heap state, random interleavings", () => {
  const configs: Config[] = [
    { name: "one checkpoint in flight, frequent aborts", keys: 5000, begin: 0.015, maxInFlight: 1, abort: 0.01, savepoints: 0.05, seeds: 6, overlap: false },
    { name: "two in flight", keys: 5000, begin: 0.02, maxInFlight: 2, abort: 0.01, savepoints: 0.05, seeds: 6, overlap: false },
    { name: "three in flight, many checkpoints", keys: 5000, begin: 0.03, maxInFlight: 3, abort: 0.005, savepoints: 0.05, seeds: 6, overlap: false },
    { name: "visits spanning checkpoints and savepoints", keys: 20_000, begin: 0.04, maxInFlight: 1, abort: 0.003, savepoints: 0.3, seeds: 3, overlap: true },
  ];
  for (const c of configs) {
    test(`${c.name}: every completed checkpoint restores its snapshot point, and nothing is left at the end`, async () => {
      let materialized = 0;
      let beganDuring = 0;
      for (let seed = 1; seed <= c.seeds; seed++) {
        const { fails, stats } = await run(seed, 3000, c);
        assert.deepEqual(fails, []);
        materialized += stats.materializedChains;
        beganDuring += stats.beganDuringMaterialization;
      }
      assert.ok(materialized > 0, "some checkpoints extended a materialized base");
      if (c.overlap) assert.ok(beganDuring >= 10, `${beganDuring} checkpoints began while a materialization ran`);
    });
  }
});
