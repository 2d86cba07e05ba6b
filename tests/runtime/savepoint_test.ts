import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, MemoryStorage, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import type { EnvironmentOptions } from "../../mod.ts";
import { assertExactlyOnce, checkpointsCompleted, type Pair, sleep, until } from "../helpers.ts";

const N = 6000;

/**
 * The counting job. Runs that continue each other share one sink, as they would share an
 * external system: re-committing what the restored savepoint pre-committed is idempotent.
 */
function job(o: EnvironmentOptions & { sourceP: number; sumP: number; extraUid?: string; sink?: CollectSink<Pair> }) {
  const { sourceP, sumP, extraUid, sink = new CollectSink<Pair>(), ...env } = o;
  const e = new StreamEnvironment({ jobName: "sp", storage: new MemoryStorage(), batchSize: 32, ...env });
  let s = e.fromSource(new SequenceSource(0, N, { ratePerSecond: 30_000 }), { uid: "numbers", parallelism: sourceP })
    .map((x): Pair => [x % 7, 1], { uid: "pair", parallelism: sourceP });
  if (extraUid) s = s.map((p) => p, { uid: extraUid, parallelism: sourceP });
  s.keyBy((p) => p[0])
    .reduce((a, b) => [a[0], a[1] + b[1]], { uid: "sum", parallelism: sumP })
    .sinkTo(sink, { uid: "out", parallelism: sumP });
  return { env: e, sink };
}

describe("savepoints", () => {
  for (const [from, to] of [[[2, 3], [3, 4]], [[3, 4], [1, 1]]] as const) {
    test(`stop-with-savepoint at parallelism ${from} and restore at ${to} continues exactly-once`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "weir-sp-"));
      const first = job({ sourceP: from[0], sumP: from[1], checkpoint: { interval: 10 } });
      const h1 = await first.env.execute();
      // Output committed before the stop (asserted below), not a fixed 60 ms that a loaded machine may spend starting.
      await until("a checkpoint committed output", () => first.sink.committed.length > 0);
      const location = await h1.stop({ savepoint: dir });
      const r1 = await h1.done;
      assert.equal(r1.status, "stopped");
      assert.equal(r1.savepoint, location);
      assert.ok(readdirSync(location).includes("_metadata"), "the savepoint is a self-contained directory");
      assert.ok(first.sink.committed.length > 0 && first.sink.committed.length < N, "stopped midway");
      const latest = h1.checkpointStats().latest.savepoint!;
      assert.equal(latest.checkpoint_type, "SAVEPOINT");

      const second = job({ sourceP: to[0], sumP: to[1], restoreFrom: location, sink: first.sink });
      const h2 = await second.env.execute();
      const r2 = await h2.done;
      assert.equal(r2.status, "finished", String(r2.error));
      assert.equal(h2.checkpointStats().latest.restored?.is_savepoint, true);
      assertExactlyOnce(first.sink.committed, N);
    });
  }

  test("stop with drain flushes and ends the input before the savepoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-"));
    const { env, sink } = job({ sourceP: 2, sumP: 2 });
    const h = await env.execute();
    await sleep(40);
    const location = await h.stop({ savepoint: dir, drain: true });
    assert.equal((await h.done).status, "stopped");
    const second = job({ sourceP: 2, sumP: 2, restoreFrom: location, sink });
    await (await second.env.execute()).done;
    assertExactlyOnce(sink.committed, N);
  });

  test("a retained checkpoint of a canceled job can be restored with restoreFrom", async () => {
    const root = mkdtempSync(join(tmpdir(), "weir-ret-"));
    const first = job({ sourceP: 2, sumP: 2, storage: new FileStorage(root), checkpoint: { interval: 10 } });
    const h1 = await first.env.execute();
    await checkpointsCompleted(h1);
    await h1.cancel();
    const latest = h1.checkpointStats().latest.completed!;
    assert.ok(latest, "a checkpoint completed");
    const second = job({ sourceP: 2, sumP: 3, restoreFrom: latest.external_path! });
    const h2 = await second.env.execute();
    assert.equal((await h2.done).status, "finished");
    assert.equal(h2.checkpointStats().latest.restored?.id, latest.id);
    const finals = new Map<number, number>();
    for (const [k, c] of second.sink.committed) finals.set(k, Math.max(finals.get(k) ?? 0, c));
    assert.equal([...finals.values()].reduce((a, b) => a + b, 0), N, "counts continue from the checkpoint's state");
  });

  test("state of an operator the job no longer has is refused unless allowNonRestoredState", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-"));
    const first = job({ sourceP: 1, sumP: 1, extraUid: "gone" });
    const h1 = await first.env.execute();
    await sleep(30);
    const location = await h1.stop({ savepoint: dir });
    await assert.rejects(job({ sourceP: 1, sumP: 1, restoreFrom: location }).env.execute(), (e: unknown) =>
      e instanceof WeirError && e.code === "state_not_restored" && e.message.includes('"gone"') && /^Savepoint \d+ has state/.test(e.message));
    const ok = job({ sourceP: 1, sumP: 1, restoreFrom: location, allowNonRestoredState: true });
    assert.equal((await (await ok.env.execute()).done).status, "finished");
  });

  test("a missing or corrupt savepoint is a clear error naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-none-"));
    await assert.rejects(job({ sourceP: 1, sumP: 1, restoreFrom: dir }).env.execute(), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_not_found" && e.message.includes("_metadata"));
    const bad = new FileStorage(dir);
    await bad.put("_metadata", new Uint8Array([1, 0xff, 0x00]));
    await assert.rejects(job({ sourceP: 1, sumP: 1, restoreFrom: dir }).env.execute(), (e: unknown) =>
      e instanceof WeirError && (e.code === "storage_corrupt" || e.code === "checkpoint_corrupt") && e.message.includes("_metadata"));
  });
});

describe("savepoint failures", () => {
  test("a failed savepoint is reported and does not count against tolerableFailures", async () => {
    const { env } = job({ sourceP: 1, sumP: 1, checkpoint: { tolerableFailures: 0 } });
    const h = await env.execute();
    await sleep(20);
    const blocked = join(mkdtempSync(join(tmpdir(), "weir-sp-")), "file");
    await new FileStorage(join(blocked, "..")).put("file", new Uint8Array([1]));
    const d = await h.triggerSavepoint(blocked);
    assert.equal(d.status, "FAILED");
    assert.equal(d.failure_reason, "storage_failed");
    await sleep(10);
    assert.equal(h.status, "RUNNING");
    assert.equal(h.restarts, 0);
    await h.cancel();
  });
});

describe("resuming an unfinished run", () => {
  test("a run resumed after a crash numbers its checkpoints above every id the crashed run used", async () => {
    const storage = new MemoryStorage();
    const first = job({ sourceP: 1, sumP: 1, storage, checkpoint: { interval: 5 } });
    const h1 = await first.env.execute();
    while (h1.checkpointStats().counts.completed < 2) await sleep(5);
    // What a crash leaves behind: the run marker and a half-written checkpoint 50.
    const marker = await storage.get("sp/_current");
    await h1.cancel();
    await storage.put("sp/_current", marker!);
    await storage.put(`sp/${h1.id}/chk-50/v0-0`, new Uint8Array([1, 2, 3]));
    const second = job({ sourceP: 1, sumP: 1, storage, sink: first.sink });
    const h2 = await second.env.execute();
    assert.equal(h2.id, h1.id, "the same run resumed");
    assert.ok((h2.checkpointStats().latest.restored?.id ?? 0) >= 2);
    const result = await h2.done;
    assert.equal(result.status, "finished");
    const ids = h2.checkpointStats().history.map((d) => d.id);
    assert.ok(ids.every((id) => id > 50), `new checkpoint ids ${ids} must be above 50`);
    assertExactlyOnce(first.sink.committed, N);
    // The crashed run's half-written checkpoint is garbage to the resumed run: deleted, not kept forever.
    assert.deepEqual(await storage.list(`sp/${h1.id}/chk-50/`), []);
  });
});

describe("resuming from a damaged checkpoint", () => {
  test("a shared file of the latest incremental checkpoint changed in place fails the job at once, naming it: no restart restores anything else", async () => {
    const storage = new MemoryStorage();
    const options = { sourceP: 1, sumP: 1, storage, state: { incremental: true }, checkpoint: { interval: 5 } } as const;
    const first = job(options);
    const h1 = await first.env.execute();
    await until("two checkpoints completed", () => h1.checkpointStats().counts.completed >= 2);
    const marker = await storage.get("sp/_current");
    await h1.cancel();
    await storage.put("sp/_current", marker!);
    const shared = (await storage.list(`sp/${h1.id}/shared/`)).filter((k) => !k.endsWith("/"));
    assert.ok(shared.length > 0, "the incremental checkpoints wrote shared files");
    for (const key of shared) {
      const bytes = (await storage.get(key))!.slice();
      bytes[bytes.length >> 1] ^= 0xff;
      await storage.put(key, bytes);
    }
    const second = job({ ...options, restart: { strategy: "fixed-delay", attempts: 5, delay: 1 } });
    const h2 = await second.env.execute();
    const r = await h2.done;
    assert.equal(r.status, "failed");
    assert.equal(h2.restarts, 0, "every attempt would restore the same damaged file");
    assert.ok(r.error instanceof WeirError && r.error.code === "checkpoint_corrupt", String(r.error));
    assert.match(r.error.message, new RegExp(`sp/${h1.id}/shared/`));
  });
});

/**
 * A stop-with-savepoint the job fails during (a value its state cannot persist) says why:
 * it said only "job failover", the cause being in `job.done` alone.
 */
describe("stop-with-savepoint of a job that fails while taking it", () => {
  test("rejects naming the error that failed the job, and so does the failed checkpoint's message", async () => {
    const env = new StreamEnvironment({ jobName: "sp-fails", storage: new MemoryStorage(), parallelism: 1, restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 1000 }), { uid: "n" })
      .keyBy((n) => n % 2)
      .process<number>((n, ctx) => {
        ctx.valueState<unknown>("position").update(Symbol("not a value"));
        ctx.emit(n);
      }, { uid: "tracker" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const job = await env.execute();
    await until("the job runs", () => job.status === "RUNNING");
    await sleep(30);
    const names = (m: string) => /job failover/.test(m) && /keyed state "position"/.test(m) && /operator "tracker"/.test(m) && /a symbol/.test(m);
    await assert.rejects(job.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-sp-fails-")) }), (e: unknown) => e instanceof Error && names(e.message));
    const failed = job.checkpointStats().latest.failed;
    assert.ok(failed && names(failed.failure_message ?? ""), failed?.failure_message);
    assert.equal((await job.done).status, "failed");
  });
});
