import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { JobHandle } from "../../mod.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { until } from "../helpers.ts";

const KEYS = 5000;
const FILL = 20_000;

/** Polls until cond holds (a hang guard, not a speed check). */
/**
 * Every key written first, then only 10 keys change: later checkpoints write little but
 * stand for everything. Periodic checkpoints (which commit the sink) come every 250 ms: at
 * 50 ms, under CI load on a slow machine, they overlapped the triggered ones, and a
 * checkpoint aborted by another makes the next one a base, so every one checked was.
 * After the fill, one record in 50 goes on: the sink's transaction holds the records since
 * the last checkpoint, and at 40 000 a second those outweighed the keyed changelog when CI
 * load spread checkpoints out (a checkpoint wrote 12–20 KB of 60 KB, all but 1 KB of it
 * the sink's records).
 */
function job(backend: "heap" | "sqlite", incremental: boolean, sink: CollectSink<[number, number]>) {
  const env = new StreamEnvironment({ jobName: `sizes-${backend}-${incremental}`, parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 250 }, state: { backend, incremental } });
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 40_000 }), { uid: "n" })
    .filter((n) => n < FILL || n % 50 === 0, { uid: "thin" })
    .map((n): [number, number] => [n < FILL ? n % KEYS : n % 10, 1], { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: "count" })
    .sinkTo(sink, { uid: "out" });
  return env;
}

/**
 * The checkpoint that wrote least of three after the fill: any one of them may be a new
 * base (one checkpoint in nine of a sqlite chain is, and periodic ones run between).
 */
async function sizesAfterFill(h: JobHandle, sink: CollectSink<[number, number]>) {
  await h.triggerCheckpoint();
  await until("200 records past the fill committed", () => sink.committed.length > FILL + 200);
  await h.triggerCheckpoint(); // the first after the fill: maybe still a base
  let least = { state: 0, written: Infinity };
  for (let i = 0; i < 3; i++) {
    const d = await h.triggerCheckpoint();
    if (d.checkpointed_size < least.written) least = { state: d.state_size, written: d.checkpointed_size };
  }
  await h.cancel();
  return least;
}

describe("state_size and checkpointed_size", () => {
  for (const backend of ["heap", "sqlite"] as const) {
    test(`incremental ${backend}: a checkpoint after few changes writes a small part of state_size, which still counts every key`, async () => {
      const full = new CollectSink<[number, number]>();
      const fullSizes = await sizesAfterFill(await job(backend, false, full).execute(), full);
      const inc = new CollectSink<[number, number]>();
      const incSizes = await sizesAfterFill(await job(backend, true, inc).execute(), inc);
      assert.equal(fullSizes.written, fullSizes.state, "a full checkpoint writes all it stands for");
      assert.ok(incSizes.written < incSizes.state / 5, `written ${incSizes.written} of ${incSizes.state}`);
      // The incremental state_size counts the base: the same order as a full snapshot's bytes.
      assert.ok(incSizes.state > fullSizes.state / 3, `incremental state_size ${incSizes.state} vs full ${fullSizes.state}`);
    });
  }
});

describe("checkpointed_size after a savepoint", () => {
  for (const backend of ["heap", "sqlite"] as const) {
    test(`incremental ${backend}: a checkpoint after a savepoint counts only what it wrote, not the chain the savepoint did not refer to`, async () => {
      const sink = new CollectSink<[number, number]>();
      const h = await job(backend, true, sink).execute();
      // Savepoints go to a directory on disk, whatever the checkpoint storage.
      const savepoints = mkdtempSync(join(tmpdir(), "weir-incremental-stats-"));
      await h.triggerCheckpoint();
      await until("200 records past the fill committed", () => sink.committed.length > FILL + 200);
      await h.triggerCheckpoint();
      const seen: string[] = [];
      // A savepoint is full and canonical (writes all it stands for); the checkpoint after
      // it extends the previous checkpoint's chain. Up to six times: one may be a new base,
      // under load the first may still hold the fill's last changes, and a periodic
      // checkpoint the savepoint overlapped makes the next one a base (three rounds of
      // bases failed a CI run under Deno).
      const small = (s: string) => {
        const [w, all] = s.split("/").map(Number);
        return w < all / 5;
      };
      for (let i = 0; i < 6 && !seen.some(small); i++) {
        const sp = await h.triggerSavepoint(savepoints);
        assert.equal(sp.checkpointed_size, sp.state_size, "a savepoint writes all it stands for");
        const d = await h.triggerCheckpoint();
        assert.equal(d.status, "COMPLETED");
        seen.push(`${d.checkpointed_size}/${d.state_size}`);
      }
      await h.cancel();
      rmSync(savepoints, { recursive: true, force: true });
      assert.ok(seen.some(small), `written/state after savepoints: ${seen.join(", ")}`);
    });
  }
});

describe("checkpointed_size with 1 % of the keys changing", () => {
  for (const backend of ["heap", "sqlite"] as const) {
    test(`incremental ${backend}: no checkpoint after the fill writes over 2 % of state_size, across more checkpoints than a chain holds (bases are materialized between checkpoints)`, async () => {
      const keys = 20_000;
      const fill = 2 * keys;
      let reduced = 0;
      const storage = new MemoryStorage();
      const env = new StreamEnvironment({ jobName: "one-percent", parallelism: 2, storage, checkpoint: { interval: 1e9 }, state: { backend, incremental: true } });
      // One source subtask: the fill is the first `fill` records, whichever subtask counts them.
      env.fromSource(new SequenceSource(0, 1e12, { ratePerSecond: 100_000 }), { uid: "n", parallelism: 1 })
        .map((n): [string, number] => [`user-${n < fill ? n % keys : n % (keys / 100)}`, 1], { uid: "pair", parallelism: 1 })
        .keyBy((p) => p[0])
        .reduce((a, b): [string, number] => [a[0], a[1] + b[1]], { uid: "count" })
        // The sink's transaction stays empty: the checkpoint is the keyed state's.
        .filter(() => (reduced++, false), { uid: "none" })
        .sinkTo(new CollectSink<[string, number]>(), { uid: "out" });
      const h = await env.execute();
      await until("the fill passed the keyed operator", () => reduced > fill + 1000);
      const seen: string[] = [];
      const stateSizes: number[] = [];
      let materialized = 0;
      // 14 checkpoints at least (more than a chain holds), and on a loaded machine, where a
      // materialization's turns come slowly, on until two after a base was materialized
      // (the rebase shows in the next ones; 40 at most).
      let firstBaseAt = Infinity;
      for (let i = 0; i < 14 || (i < firstBaseAt + 3 && i < 40); i++) {
        await new Promise((r) => setTimeout(r, 50));
        const d = await h.triggerCheckpoint();
        assert.equal(d.status, "COMPLETED");
        seen.push(`${d.checkpointed_size}/${d.state_size}`);
        stateSizes.push(d.state_size);
        // The heap's base is one file (`<id>-<n>-materialized`), sqlite's parts (`<id>-<n>-materialized-base-0.db`, …).
        materialized = Math.max(materialized, (await storage.list("one-percent/")).filter((k) => k.includes("-materialized")).length);
        if (materialized > 0 && firstBaseAt === Infinity) firstBaseAt = i;
      }
      await h.cancel();
      // The chain was rebased onto materialized bases: state_size fell back after growing.
      assert.ok(materialized > 0, "a base was materialized");
      assert.ok(stateSizes.slice(3).some((s, i) => s < stateSizes[i + 2]), `state_size: ${stateSizes.join(", ")}`);
      // The first two may still hold the fill's last keys.
      const over = seen.slice(2).filter((s) => {
        const [w, all] = s.split("/").map(Number);
        return w > all * 0.02;
      });
      assert.deepEqual(over, [], `written/state: ${seen.join(", ")}`);
    });
  }
});
