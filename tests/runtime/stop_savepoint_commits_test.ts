/**
 * What a new run restoring a stop-with-savepoint does with the transactions the savepoint
 * pre-committed (DESIGN.md "Sink transactions"): it drops them once the stopped run noted
 * that its sinks committed them (`sinksCommitted` in the savepoint's `_metadata`), and commits them
 * (idempotently) when no such note is there because the run never got to commit; savepoints
 * of a weir before the note keep their rule. Found by a kill -9 trial and a review.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../actors/memory_transport.ts";
import type { SubtaskAddress } from "../../actors/transport.ts";
import { decodeMetadata, encodeMetadata } from "../../checkpoint/metadata.ts";
import { describeSavepoint, openSavepoint } from "../../checkpoint/savepoint_reader.ts";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import type { JobHandle, Sink } from "../../mod.ts";
import { PrefixStorage } from "../../platforms/cloudflare/directories.ts";
import { LoopbackHost } from "../../runtime/remote/loopback.ts";
import { setDirectoryOpener } from "../../storage/directory.ts";
import { openFileDirectory } from "../../storage/file.ts";
import type { StorageAdapter } from "../../storage/adapter.ts";
import { VirtualWorld } from "../virtual_world.ts";
import { withWriter } from "../helpers.ts";

const N = 20_000;

/** Directory paths ("sp", "mem:sp/savepoint-…") as prefixes of one memory storage; `wrap` may change each opened storage. */
function prefixDirectories(wrap: (s: StorageAdapter) => StorageAdapter = (s) => s) {
  const storage = new MemoryStorage();
  const open = (path: string) => {
    const p = path.replace(/^mem:/, "");
    return { storage: wrap(new PrefixStorage(storage, p)), root: `mem:${p}` };
  };
  setDirectoryOpener(open);
  return { storage, open, restore: () => setDirectoryOpener(openFileDirectory) };
}

/** A job reading 0..N-1 into `sink`, on a virtual clock. */
function numbersJob(sink: Sink<number>, o: { jobName: string; restoreFrom?: string; ratePerSecond: number }) {
  const env = new StreamEnvironment({
    jobName: o.jobName, parallelism: 1, storage: new MemoryStorage(), restoreFrom: o.restoreFrom,
    checkpoint: { interval: 20 }, batchSize: 32, channelCapacity: 2, restart: { strategy: "fixed-delay", attempts: 3, delay: 5 },
  });
  env.fromSource(new SequenceSource(0, N, { ratePerSecond: o.ratePerSecond }), { uid: "numbers" })
    .map((x) => x, { uid: "m" })
    .sinkTo(sink, { uid: "out" });
  return env;
}

async function executeOn(world: VirtualWorld, env: StreamEnvironment): Promise<JobHandle> {
  let job: JobHandle | undefined;
  void env.execute().then((j) => (job = j));
  await world.drive(() => job !== undefined);
  return job!;
}

/** Every number once across the sinks. */
function assertExactlyOnce(...sinks: CollectSink<number>[]): void {
  const all = sinks.flatMap((s) => s.committed).sort((a, b) => a - b);
  assert.equal(all.length, N, `${all.length} records committed, expected ${N}`);
  assert.deepEqual(all, Array.from({ length: N }, (_, i) => i));
}

/** Stops `job` with a savepoint in "sp" and resolves to its result. */
async function stopIn(world: VirtualWorld, job: JobHandle) {
  void job.stop({ savepoint: "sp" }).catch(() => {});
  return await world.untilDone(job);
}

describe("a stop-with-savepoint restored by a new run", () => {
  test("whose remote sink could not commit at the stop: the finish from the savepoint runs as a new attempt; without a commit there is no note, and a new run commits the savepoint's records", async () => {
    const dirs = prefixDirectories();
    try {
      const world = new VirtualWorld();
      const transport = new MemoryTransport();
      const first = new CollectSink<number>();
      let down = false;
      let failures = 0;
      const finishAttempts: number[] = [];
      // The external system is down from the stop on: the commit fails, and so does the commit a restore's open makes.
      const sink = withWriter(first, (w) => ({
        open: (c, restored) => {
          if (down) finishAttempts.push(c.attempt);
          if (down && restored?.operator !== undefined && !restored.transactionsCommitted) {
            failures++;
            throw new Error("external system down");
          }
          return w.open(c, restored);
        },
        notifyCheckpointComplete: (id) => {
          if (down) {
            failures++;
            throw new Error("external system down");
          }
          return w.notifyCheckpointComplete(id);
        },
      }));
      const env = numbersJob(sink, { jobName: "remote-stop", ratePerSecond: 5_000 });
      const sinkVertex = env.jobGraph().vertices.find((v) => v.uids.includes("out"))!.id;
      const storage = env.options.storage as MemoryStorage;
      const host = new LoopbackHost({ hostId: "h", graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler, openDirectory: dirs.open });
      const hostOf = (s: SubtaskAddress) => (s.vertexId === sinkVertex ? "h" : "master");
      (env.options as { runtime?: unknown }).runtime = world.runtime({ jobId: "a".repeat(32), transport, hostOf, remoteHosts: { h: host } });
      const job = await executeOn(world, env);
      await world.drive(() => first.committed.length > 300);
      down = true;
      const r1 = await stopIn(world, job);
      assert.equal(r1.status, "failed", "the sink never committed: the job did not stop");
      assert.match(String(r1.error), /external system down/);
      assert.deepEqual(finishAttempts, [1, 2, 3], "each finish from the savepoint was a new attempt the host took (it ignores a deploy of the attempt it runs)");
      assert.equal(failures, 4, "the stop's commit and three finishes");
      assert.equal(r1.restarts, 0, "finishing a stop is no restart");
      const location = job.checkpointStats().latest.savepoint!.external_path!;
      const { metadata } = decodeMetadata((await dirs.storage.get(`${location.replace(/^mem:/, "")}/_metadata`))!, "_metadata");
      assert.equal(metadata.sinksCommitted, undefined, "no note: nothing was committed");
      // weir savepoint inspect tells it apart.
      const info = describeSavepoint(await openSavepoint(location.replace(/^mem:/, ""), { storage: dirs.storage }));
      assert.deepEqual([info.terminal, info.sinksCommitted], [true, false]);

      down = false;
      const world2 = new VirtualWorld();
      const second = new CollectSink<number>();
      const env2 = numbersJob(second, { jobName: "remote-stop-2", restoreFrom: location, ratePerSecond: 50_000 });
      (env2.options as { runtime?: unknown }).runtime = world2.runtime({ jobId: "b".repeat(32) });
      const r2 = await world2.untilDone(await executeOn(world2, env2));
      assert.equal(r2.status, "finished", String(r2.error));
      assertExactlyOnce(first, second);
    } finally {
      dirs.restore();
    }
  });

  test("a job without restarts whose sink fails once at the stop's commit still stops: the finish from the savepoint commits", async () => {
    const dirs = prefixDirectories();
    try {
      const world = new VirtualWorld();
      const first = new CollectSink<number>();
      let failOnce = false;
      const sink = withWriter(first, (w) => ({
        notifyCheckpointComplete: (id) => {
          if (failOnce) {
            failOnce = false;
            throw new Error("external system hiccup");
          }
          return w.notifyCheckpointComplete(id);
        },
      }));
      const env = new StreamEnvironment({ jobName: "no-restarts", parallelism: 1, storage: new MemoryStorage(), checkpoint: { interval: 20 }, restart: { strategy: "none" } });
      env.fromSource(new SequenceSource(0, N, { ratePerSecond: 5_000 }), { uid: "numbers" }).sinkTo(sink, { uid: "out" });
      (env.options as { runtime?: unknown }).runtime = world.runtime();
      const job = await executeOn(world, env);
      await world.drive(() => first.committed.length > 300);
      failOnce = true;
      const r = await stopIn(world, job);
      assert.equal(r.status, "stopped", String(r.error));
      const sorted = [...first.committed].sort((a, b) => a - b);
      assert.deepEqual(sorted, Array.from({ length: sorted.length }, (_, i) => i), "every record up to the savepoint, once");
    } finally {
      dirs.restore();
    }
  });

  test("a note that cannot be written is a warning, and the next start of the job name runs afresh (its run marker went)", async () => {
    // Every _metadata of a savepoint is written once: the note's second write fails.
    const written = new Set<string>();
    const dirs = prefixDirectories((s) => {
      const put = s.put.bind(s);
      s.put = (k: string, b: Uint8Array) => {
        if (!k.endsWith("_metadata")) return put(k, b);
        if (written.has(k)) return Promise.reject(new Error("transient storage error"));
        written.add(k);
        return put(k, b);
      };
      return s;
    });
    try {
      const storage = new MemoryStorage();
      const mk = (world: VirtualWorld, sink: CollectSink<number>) => {
        const env = new StreamEnvironment({ jobName: "unmarked", parallelism: 1, storage, checkpoint: { interval: 20 } });
        env.fromSource(new SequenceSource(0, 5_000, { ratePerSecond: 5_000 }), { uid: "n" }).sinkTo(sink, { uid: "out" });
        (env.options as { runtime?: unknown }).runtime = world.runtime();
        return env;
      };
      const w1 = new VirtualWorld();
      const s1 = new CollectSink<number>();
      const job1 = await executeOn(w1, mk(w1, s1));
      await w1.drive(() => s1.committed.length > 500);
      const r1 = await stopIn(w1, job1);
      assert.equal(r1.status, "stopped");
      assert.deepEqual(job1.warnings().map((w) => w.code), ["sinks_committed_unmarked"]);
      assert.equal(await storage.get("unmarked/_current"), undefined, "the run marker went");

      const w2 = new VirtualWorld();
      const s2 = new CollectSink<number>();
      const r2 = await w2.untilDone(await executeOn(w2, mk(w2, s2)));
      assert.equal(r2.status, "finished", "a fresh run, not the stopped one finished again");
      assert.equal(s2.committed.length, 5_000);
    } finally {
      dirs.restore();
    }
  });

  test("a savepoint of a weir before the note (no commitsMarked in _metadata) keeps its rule: another run drops its transactions", async () => {
    const dirs = prefixDirectories();
    try {
      const world = new VirtualWorld();
      const first = new CollectSink<number>();
      const env = numbersJob(first, { jobName: "old-stop", ratePerSecond: 5_000 });
      (env.options as { runtime?: unknown }).runtime = world.runtime({ jobId: "c".repeat(32) });
      const job = await executeOn(world, env);
      await world.drive(() => first.committed.length > 300);
      const r1 = await stopIn(world, job);
      assert.equal(r1.status, "stopped");
      // As an older weir wrote it: no commitsMarked, no note.
      const dir = r1.savepoint!.replace(/^mem:/, "");
      const { metadata } = decodeMetadata((await dirs.storage.get(`${dir}/_metadata`))!, "_metadata");
      assert.deepEqual([metadata.commitsMarked, metadata.sinksCommitted], [true, true]);
      assert.equal(describeSavepoint(await openSavepoint(dir, { storage: dirs.storage })).sinksCommitted, true);
      // The note is in _metadata: the savepoint holds its files and nothing else.
      const files = (await dirs.storage.list(`${dir}/`)).map((k) => k.slice(dir.length + 1)).sort();
      assert.deepEqual(files, ["_metadata", ...metadata.subtasks.map((f) => f.file)].sort());
      delete metadata.commitsMarked;
      delete metadata.sinksCommitted;
      await dirs.storage.put(`${dir}/_metadata`, encodeMetadata(metadata));

      const world2 = new VirtualWorld();
      const second = new CollectSink<number>();
      const env2 = numbersJob(second, { jobName: "old-stop-2", restoreFrom: r1.savepoint, ratePerSecond: 50_000 });
      (env2.options as { runtime?: unknown }).runtime = world2.runtime({ jobId: "d".repeat(32) });
      const r2 = await world2.untilDone(await executeOn(world2, env2));
      assert.equal(r2.status, "finished", String(r2.error));
      assertExactlyOnce(first, second);
    } finally {
      dirs.restore();
    }
  });
});
