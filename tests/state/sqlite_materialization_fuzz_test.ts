/**
 * Materialization of the SQLite backend's native checkpoints (state/sqlite_materialization.ts)
 * against random interleavings (seeded, so each run is the same): records of four state
 * kinds over more keys than the cache holds (write-backs race the materialization's row
 * copy or page image), checkpoints in flight, aborts, savepoints, turns of the
 * materialization, storage writes held back and landing in any order, and a coordinator
 * that registers each completed checkpoint, keeps one and sweeps shared files. Every
 * completed checkpoint and savepoint is restored into a new backend and compared with a
 * model of the state at its snapshot point; at the end no shared file may be left that the
 * retained checkpoint does not refer to.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { SharedStateRegistry } from "../../checkpoint/shared_state.ts";
import type { KeyedStateHandle } from "../../state/backend.ts";
import { type InFlight, HoldStorage, Turns, completeFinished, draw, leftAtEnd, mulberry, stepOnce, tick } from "./seeded_interleavings.ts";
import { ModelState } from "./sqlite_model_state.ts";

const SHARED = "j/id/shared";
const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-materialization-"));

interface Cp extends InFlight {
  expected: string[];
}

export interface Config {
  name: string;
  keys: number;
  cacheEntriesMax: number;
  backgroundWrites: boolean;
  /** Per step, the chance that a checkpoint begins, and that one in flight is aborted. */
  begin: number;
  abort: number;
  maxInFlight: number;
  savepoints: number;
  seeds: number;
}

const backend = (storage: HoldStorage, dir: string, o: Config, scheduler?: Turns, clock?: { now(): number }) =>
  new SqliteKeyedStateBackend(
    { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, scheduler, clock, uid: "op", subtaskIndex: 0, jobId: "j", sharedDirectory: SHARED },
    { driver: sqliteDriver, directory: dir, cacheEntriesMax: o.cacheEntriesMax, backgroundWrites: o.backgroundWrites, writeGroupRows: 64 },
  );

export async function run(seed: number, steps: number, o: Config): Promise<{ fails: string[]; stats: Record<string, number> }> {
  const rand = mulberry(seed);
  const storage = new HoldStorage(rand, 0.3);
  const turns = new Turns();
  // Every reading 10 ms on: each turn of a materialization keeps the first budget.
  let t = 0;
  const clock = { now: () => (t += 10) };
  const dir = mkdtempSync(join(directory, `${o.name.replace(/\W+/g, "-")}-${seed}-`));
  const b = backend(storage, dir, o, turns, clock);
  if (o.backgroundWrites) await b.store.backgroundWriterReady();
  const model = new ModelState(b);
  const records = (n: number) => {
    for (let i = 0; i < n; i++) {
      const k = Math.floor(rand() * (o.keys + 20));
      const r = rand();
      if (r < 0.05) model.remove(k);
      else if (r < 0.55) model.update(k, `v${seed}-${k}-${Math.floor(rand() * 1000)}`);
      else if (r < 0.7) model.add(k, Math.floor(rand() * 100));
      else if (r < 0.85) model.put(k, `m${Math.floor(rand() * 4)}`, Math.floor(rand() * 100));
      else model.reduce(k, 1 + Math.floor(rand() * 5));
    }
  };
  records(o.keys * 2);
  const registry = new SharedStateRegistry(storage, "j", "id");
  const fails: string[] = [];
  const stats: Record<string, number> = { completed: 0, materializedChains: 0, aborted: 0, savepoints: 0, beganDuringMaterialization: 0 };
  let restores = 0;
  const restored = async (h: KeyedStateHandle): Promise<string[]> => {
    const r = backend(storage, mkdtempSync(join(dir, `restore-${++restores}-`)), o);
    try {
      await r.restore([h]);
      return new ModelState(r).actual(o.keys + 20);
    } finally {
      r.dispose();
    }
  };
  const compare = async (what: string, h: KeyedStateHandle, expected: string[]) => {
    const got = await restored(h).catch((e) => [`restore threw ${(e as Error).stack}`]);
    const diffs = expected.flatMap((line, i) => (got[i] === line ? [] : [`want ${line} got ${got[i]}`]));
    if (got.length !== expected.length || diffs.length > 0) fails.push(`seed ${seed} ${what}: ${got.length === 1 ? got[0] : `${diffs.length} keys differ: ${diffs.slice(0, 3).join("; ")}`}`);
  };
  let nextId = 1;
  const cps: Cp[] = [];
  let completed: number[] = [];
  const complete = async (c: Cp) => {
    const keys = c.handle!.shared.map((r) => r.key);
    registry.register(c.id, keys);
    for (const other of cps) {
      if (other.id < c.id && (other.st === "step" || other.st === "write")) {
        other.st = "gone";
        other.snap.release();
        stats.aborted++;
      }
    }
    for (const id of completed) registry.discard(id);
    completed = [c.id];
    stats.completed++;
    if (keys[0].includes("-materialized-")) stats.materializedChains++;
    await registry.sweep(c.id);
    await compare(`checkpoint ${c.id} (${keys.map((k) => k.split("/").pop()).join(",")})`, c.handle!, c.expected);
  };
  for (let s = 0; s < steps && fails.length === 0; s++) {
    records(Math.floor(rand() * 6));
    await tick();
    const { a, live, begins } = draw(rand, cps, o);
    if (begins) {
      const id = nextId++;
      if (turns.q.length > 0) stats.beganDuringMaterialization++;
      if (rand() < o.savepoints) {
        const sp = b.snapshot(id, { savepoint: true });
        const atPoint = model.expected(o.keys + 20);
        while (!(await sp.step(1 + Math.floor(rand() * 3000)))) records(2);
        await compare(`savepoint ${id}`, sp.result(), atPoint);
        sp.release();
        stats.savepoints++;
      } else {
        cps.push({ id, snap: b.snapshot(id), expected: model.expected(o.keys + 20), st: "step" });
      }
    } else if (a < 0.4 && live.length > 0) {
      const c = live[Math.floor(rand() * live.length)];
      if (c.st === "step" && !stepOnce(c, 1 + Math.floor(rand() * 3000), fails, `seed ${seed}`)) break;
    } else if (a < 0.4 + o.abort && live.length > 0) {
      const c = live[Math.floor(rand() * live.length)];
      c.st = "gone";
      c.snap.release();
      stats.aborted++;
    } else if (a < 0.8) {
      turns.turn();
    } else if (storage.held.length > 0) {
      storage.releaseOne(Math.floor(rand() * storage.held.length));
      await tick();
    }
    // A page image comes from the writer's thread: let it land now and then.
    if (o.backgroundWrites && rand() < 0.05) await new Promise((r) => setTimeout(r, 1));
    await completeFinished(cps, fails, complete);
  }
  stats.materializations = b.materializations;
  b.dispose();
  const leaked = await leftAtEnd(storage, registry, nextId, SHARED, cps.filter((c) => completed.includes(c.id)).flatMap((c) => c.handle!.shared.map((r) => r.key)));
  if (leaked.length) fails.push(`seed ${seed}: files left at the end that no retained checkpoint refers to: ${leaked.join(", ")}`);
  return { fails, stats };
}

describe(`materialization of sqlite native checkpoints, random interleavings (${sqliteDriver.name})`, () => {
  const configs: Config[] = [
    { name: "rows copied, one checkpoint in flight", keys: 2000, cacheEntriesMax: 64, backgroundWrites: false, begin: 0.04, abort: 0.005, maxInFlight: 1, savepoints: 0.1, seeds: 4 },
    { name: "rows copied, two in flight", keys: 2000, cacheEntriesMax: 64, backgroundWrites: false, begin: 0.03, abort: 0.005, maxInFlight: 2, savepoints: 0.05, seeds: 3 },
    { name: "page images from the background writer", keys: 2000, cacheEntriesMax: 64, backgroundWrites: true, begin: 0.04, abort: 0.005, maxInFlight: 1, savepoints: 0.1, seeds: 3 },
  ];
  for (const c of configs) {
    // Tens of seconds alone on this VM, over a minute on a loaded one: a limit of its own.
    test(`${c.name}: every completed checkpoint and savepoint restores its snapshot point, and nothing is left at the end`, { timeout: 300_000 }, async () => {
      let chains = 0;
      let beganDuring = 0;
      for (let seed = 1; seed <= c.seeds; seed++) {
        const { fails, stats } = await run(seed, 2500, c);
        assert.deepEqual(fails, []);
        if (process.env.WEIR_FUZZ_STATS) console.log(c.name, seed, stats);
        chains += stats.materializedChains;
        beganDuring += stats.beganDuringMaterialization;
      }
      assert.ok(chains > 0, "some checkpoints extended a materialized base");
      assert.ok(beganDuring > 0, "some checkpoints began while a materialization ran");
    });
  }
});
