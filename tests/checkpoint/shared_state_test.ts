/**
 * The job's shared files are reference-counted by the coordinator (issue 10 item 5):
 * after a completed checkpoint, files written for older ids that no restorable
 * checkpoint refers to go; what a retained, registered or stored checkpoint refers to stays.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../storage/memory.ts";
import { checkpointDir, decodeMetadata, encodeMetadata, listCompleted, type CheckpointMetadata } from "../../checkpoint/metadata.ts";
import { SharedStateRegistry, sharedFileCheckpointId, sharedStateDirectory } from "../../checkpoint/shared_state.ts";
import { checkpointsCompleted, countingJob, FailOnce } from "../helpers.ts";
import { CheckpointCoordinator } from "../../checkpoint/coordinator.ts";
import { CHECKPOINT_DEFAULTS } from "../../checkpoint/config.ts";
import { SimClock, SimScheduler } from "../../sim/clock.ts";
import "../../platforms/sqlite_state.ts";

const JOB = "j";
const ID = "0".repeat(32);
const dir = sharedStateDirectory(JOB, ID);
const file = (id: number, kind = "changelog") => `${dir}/heap/${ID}/sum/0/${id}-${kind}`;

function metadata(id: number, shared: string[] | undefined): Uint8Array {
  const m: CheckpointMetadata = {
    magic: "weir-checkpoint", jobName: JOB, jobId: ID, checkpointId: id, type: "CHECKPOINT", unaligned: false,
    triggerTimestamp: 0, completedTimestamp: 0, maxParallelism: 128, vertices: [],
    subtasks: [{ vertexId: "v", subtaskIndex: 0, file: "s", stateSize: 1, checksum: "x", ...(shared ? { shared } : {}) }],
  };
  return encodeMetadata(m);
}

async function put(storage: MemoryStorage, ...keys: string[]): Promise<void> {
  for (const k of keys) await storage.put(k, new Uint8Array([1]));
}

describe("SharedStateRegistry", () => {
  test("sweep() deletes older files no registered checkpoint refers to, keeps newer ones and referred ones", async () => {
    const storage = new MemoryStorage();
    const r = new SharedStateRegistry(storage, JOB, ID);
    await put(storage, file(1, "base"), file(2), file(3), `${file(3)}.tmp-1`, file(4, "base"), file(5), file(6));
    r.register(4, [file(1, "base"), file(2), file(4, "base")]);
    r.register(5, [file(4, "base"), file(5)]);
    assert.equal(await r.sweep(5), 2, "checkpoint 3's file and the torn write's leftover");
    assert.deepEqual((await storage.list(`${dir}/`)).sort(), [file(1, "base"), file(2), file(4, "base"), file(5), file(6)].sort());
    r.discard(4);
    await r.sweep(5);
    assert.deepEqual((await storage.list(`${dir}/`)).sort(), [file(4, "base"), file(5), file(6)].sort(), "6 may be in flight; 4's base is 5's");
  });

  test("a failed metadata write keeps its files while its metadata may be in storage, and only then", async () => {
    const storage = new MemoryStorage();
    const r = new SharedStateRegistry(storage, JOB, ID);
    await put(storage, file(1, "base"), file(2), file(3));
    r.register(2, [file(1, "base"), file(2)]);
    r.register(3, [file(1, "base"), file(3)]);
    // 2's write failed and left nothing; 3's failed too, but landed (its acknowledgement was lost).
    r.metadataWriteFailed(2);
    r.metadataWriteFailed(3);
    await storage.put(`${checkpointDir(JOB, ID, 3)}/_metadata`, metadata(3, [file(1, "base"), file(3)]));
    r.register(4, []);
    assert.equal(await r.sweep(4), 1);
    assert.deepEqual((await storage.list(`${dir}/`)).sort(), [file(1, "base"), file(3)]);
  });

  test("checkpoints in storage it does not know (a crashed process's) keep their files; unreadable metadata stops the sweep", async () => {
    const storage = new MemoryStorage();
    await put(storage, file(1, "base"), file(2), file(3));
    await storage.put(`${checkpointDir(JOB, ID, 2)}/_metadata`, metadata(2, [file(1, "base"), file(2)]));
    const r = new SharedStateRegistry(storage, JOB, ID);
    r.register(4, []);
    assert.equal(await r.sweep(4), 1);
    assert.deepEqual((await storage.list(`${dir}/`)).sort(), [file(1, "base"), file(2)]);
    await storage.put(`${checkpointDir(JOB, ID, 3)}/_metadata`, metadata(3, undefined));
    await put(storage, file(0));
    assert.equal(await r.sweep(4), 0, "metadata without its shared files recorded: nothing is deleted");
  });
});

describe("the job's last sweep", () => {
  test("covers the ids a heap backend names materialized bases for, two above the next checkpoint's; a retained checkpoint's files stay", async () => {
    const storage = new MemoryStorage();
    const clock = new SimClock(0);
    const coordinator = new CheckpointCoordinator({
      config: { ...CHECKPOINT_DEFAULTS, timeout: 10_000 }, clock, scheduler: new SimScheduler(clock), storage,
      jobName: JOB, jobId: ID, maxParallelism: 128, onJobFailure: () => {},
    });
    // Checkpoints up to 4 were begun by an earlier process: the next one is 5.
    coordinator.idsUsedUpTo(4);
    await storage.put(`${checkpointDir(JOB, ID, 3)}/_metadata`, metadata(3, [file(2, "base"), file(6, "materialized")]));
    await put(storage, file(2, "base"), file(6, "materialized"), file(4, "changelog"), file(5, "materialized"), file(6, "materialized").replace("/0/", "/1/"), file(7, "materialized"));
    await coordinator.sweepAtEnd();
    const left = await storage.list(`${dir}/`);
    assert.deepEqual(left.sort(), [file(2, "base"), file(6, "materialized"), file(7, "materialized")].sort());
  });
});

describe("shared files in a job", () => {
  for (const backend of ["heap", "sqlite"]) {
    test(`${backend} incremental through a failure: what completed checkpoints wrote stays only while a retained checkpoint refers to it`, async () => {
      const storage = new MemoryStorage();
      let armed = false;
      const fail = new FailOnce(() => armed);
      const { env, sink, n } = countingJob({
        storage,
        jobName: "shared-files",
        checkpoint: { interval: 5, retained: 2 },
        failInMap: fail,
        ratePerSecond: 20_000,
        // More than it runs: the job is canceled, which keeps its retained checkpoints.
        n: 1_000_000,
        state: { backend, incremental: true },
      });
      const job = await env.execute();
      await checkpointsCompleted(job, 10);
      armed = true;
      const until = async (what: string, done: () => boolean) => {
        while (!done()) {
          assert.ok(!["FINISHED", "CANCELED", "FAILED"].includes(job.status), `the job ended before ${what}`);
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      await until("its restore", () => (job.checkpointStats().latest.restored?.id ?? 0) > 0);
      const restored = job.checkpointStats().latest.restored!.id;
      await until("12 more checkpoints", () => (job.checkpointStats().latest.completed?.id ?? 0) > restored + 12);
      await job.cancel();
      // A canceled job keeps its retained checkpoints: they and what they refer to is all that is left.
      const ids = await listCompleted(storage, "shared-files", job.id);
      assert.equal(ids.length, 2, `two retained checkpoints: ${ids}`);
      const referred = new Set<string>();
      for (const id of ids) {
        const { metadata } = decodeMetadata((await storage.get(`${checkpointDir("shared-files", job.id, id)}/_metadata`))!, "_metadata");
        for (const s of metadata.subtasks) for (const k of s.shared ?? []) referred.add(k);
      }
      assert.ok(referred.size > 0, "the checkpoints refer to shared files");
      for (const k of referred) assert.ok(await storage.get(k), `${k} of a retained checkpoint is there`);
      const latest = ids[ids.length - 1];
      const left = (await storage.list(`${sharedStateDirectory("shared-files", job.id)}/`)).filter((k) => (sharedFileCheckpointId(k) ?? 0) <= latest);
      assert.deepEqual(left.filter((k) => !referred.has(k)), [], "no file written for a completed id is left unreferred (the restored chain included)");
      assert.ok(sink.committed.length > 0 && n > 0, "the job ran");
    });
  }
});
