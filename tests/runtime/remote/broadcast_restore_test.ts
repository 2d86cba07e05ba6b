/**
 * A remote host reads of a restored checkpoint only what its subtasks need
 * (checkpoint/restore_selection.ts): broadcast state, which every new subtask restores from
 * old subtask 0's copy, must still reach every subtask on the host.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../../actors/memory_transport.ts";
import type { SubtaskAddress } from "../../../actors/transport.ts";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../../mod.ts";
import { LoopbackHost } from "../../../runtime/remote/loopback.ts";
import { VirtualWorld } from "../../virtual_world.ts";

type Out = [n: number, rules: number];

test("broadcast state on a remote host without subtask 0: after a restart every subtask gets its rules back and the job ends exactly-once", async () => {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const transport = new MemoryTransport();
  const sink = new CollectSink<Out>();
  const n = 3_000;
  // Armed once a checkpoint holding every rule completed: the rules source has ended by then
  // and replays nothing, so only restored broadcast state can show the rules afterwards.
  const failure = { armed: false, fired: false };
  const env = new StreamEnvironment({ jobName: "bcast-remote", parallelism: 3, storage, checkpoint: { interval: 20 }, restart: { strategy: "fixed-delay", attempts: 3, delay: 5 } });
  const rules = env.fromSource(new SequenceSource(0, 4), { uid: "rules" }).broadcast();
  env.fromSource(new SequenceSource(0, n, { ratePerSecond: 6_000 }), { uid: "events" })
    .keyBy((x) => x % 50)
    .connect(rules)
    .process<Out>({
      processBroadcastElement(rule, ctx) {
        ctx.broadcastState<number, string>("rules").put(rule, `rule-${rule}`);
      },
      processElement(x, ctx) {
        if (failure.armed && !failure.fired) {
          failure.fired = true;
          throw new Error("injected failure");
        }
        ctx.emit([x, ctx.broadcastState<number, string>("rules").keys().length]);
      },
    }, { uid: "apply-rules" })
    .sinkTo(sink, { uid: "out" });
  const remote = env.jobGraph().vertices.find((v) => v.uids.includes("apply-rules"))!.id;
  const host = new LoopbackHost({ hostId: "rules", graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler });
  // Subtasks 1 and 2 on the host, 0 (whose copy of the broadcast state is restored) here.
  const hostOf = (s: SubtaskAddress) => (s.vertexId === remote && s.subtaskIndex > 0 ? "rules" : "master");
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf, remoteHosts: { rules: host } });

  let job: Awaited<ReturnType<StreamEnvironment["execute"]>> | undefined;
  void env.execute().then((j) => (job = j));
  await world.drive(() => job !== undefined);
  const allRules = () => sink.committed.filter(([, r]) => r === 4).length >= 3;
  await world.drive(() => allRules() && job!.checkpointStats().counts.completed >= 2);
  failure.armed = true;
  const result = await world.untilDone(job!);

  assert.equal(result.status, "finished", String(result.error));
  assert.ok(failure.fired && result.restarts >= 1);
  assert.ok(job!.checkpointStats().latest.restored, "the restart restored a checkpoint");
  const got = [...sink.committed].sort((a, b) => a[0] - b[0]);
  assert.deepEqual(got.map(([x]) => x), Array.from({ length: n }, (_, i) => i), "every event exactly once");
  for (let k = 0; k < 50; k++) assert.equal(got.filter(([x]) => x % 50 === k).at(-1)![1], 4, `key ${k} sees every rule at the end`);
});
