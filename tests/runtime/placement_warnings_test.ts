import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTransport } from "../../actors/memory_transport.ts";
import { MemoryStorage } from "../../mod.ts";
import { LoopbackHost } from "../../runtime/remote/loopback.ts";
import { placementWarnings } from "../../runtime/placement_warnings.ts";
import { countingJob } from "../helpers.ts";
import { VirtualWorld } from "../virtual_world.ts";

test("a host name that is no remote host, and a remote host given nothing, are warned about at the start", async () => {
  const world = new VirtualWorld();
  const storage = new MemoryStorage();
  const transport = new MemoryTransport();
  const { env } = countingJob({ storage, n: 100 });
  const graph = env.jobGraph();
  const keyed = graph.vertices.find((v) => v.uids.includes("sum"))!;
  const host = (hostId: string) => new LoopbackHost({ hostId, graph: () => env.jobGraph(), storage, transport, clock: world.clock, scheduler: world.scheduler });
  const remoteHosts = { w1: host("w1"), w2: host("w2") };
  // A typo: "w9" for "w1".
  const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed.id ? "w9" : "main");
  const warnings = placementWarnings(graph, { hostOf, remoteHosts });
  assert.deepEqual(warnings.map((w) => w.code), ["host_not_remote", "remote_host_unused", "remote_host_unused"]);
  assert.match(warnings[0].message, new RegExp(`subtasks of "${keyed.name}" on host "w9", which is not in runtime.remoteHosts \\(w1, w2\\): they run in this process`));
  assert.deepEqual(placementWarnings(graph, { hostOf: (s) => (s.vertexId === keyed.id ? "w1" : "master"), remoteHosts: { w1: remoteHosts.w1 } }), []);
  // A platform's own name for the master's process (Cloudflare's job object) is no typo.
  assert.deepEqual(placementWarnings(graph, { hostOf: (s) => (s.vertexId === keyed.id ? "w1" : "job"), remoteHosts: { w1: remoteHosts.w1 }, masterHost: "job" }), []);
  // And they reach the job's warnings.
  (env.options as { runtime?: unknown }).runtime = world.runtime({ transport, hostOf: (s: { vertexId: string }) => (s.vertexId === keyed.id ? "w1" : "main"), remoteHosts });
  let job: Awaited<ReturnType<typeof env.execute>> | undefined;
  env.execute().then((j) => (job = j));
  await world.drive(() => job !== undefined);
  assert.deepEqual(job!.warnings().map((w) => [w.code, w.message]), [["remote_host_unused", "Remote host w2 (runtime.remoteHosts) is given no subtask by runtime.hostOf: it runs nothing"]]);
  const result = await world.untilDone(job!);
  assert.equal(result.status, "finished", String(result.error));
});
