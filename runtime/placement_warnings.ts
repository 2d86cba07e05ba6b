/**
 * What a job's placement of subtasks on remote hosts (runtime.hostOf, runtime.remoteHosts)
 * says that is likely a mistake, as job warnings: a remote host given no subtask, and a
 * host name hostOf() gives that is no remote host (its subtasks run in this process, which
 * a typo in a name would otherwise do without a word).
 * @module
 */
import type { JobGraph } from "../dataflow/job_graph.ts";
import type { JobWarning } from "./job_master_types.ts";
import type { ExecutionTuning } from "./execution.ts";

/** Names of the master's own process in hostOf() answers (the Worker-thread transport's "main"), besides RuntimeOptions.masterHost. */
const MASTER_NAMES = new Set(["main", "master"]);

/**
 * The placement warnings of a job (none without remote hosts).
 *
 * @example
 * ```ts
 * import { placementWarnings } from "./placement_warnings.ts";
 * const graph = { vertices: [{ id: "v0", name: "sum", parallelism: 2 }] } as never;
 * const host = { hostId: "w1", connect: () => ({ send() {}, close() {} }) };
 * const w = placementWarnings(graph, { hostOf: () => "w9", remoteHosts: { w1: host } });
 * console.assert(w.length === 2 && w[0].message.includes('"w9"') && w[1].message.includes("w1"));
 * ```
 */
export function placementWarnings(graph: JobGraph, tuning: Pick<ExecutionTuning, "hostOf" | "remoteHosts" | "masterHost">): JobWarning[] {
  const { hostOf, remoteHosts, masterHost } = tuning;
  if (!hostOf || !remoteHosts) return [];
  const used = new Set<string>();
  const local = new Map<string, Set<string>>();
  for (const v of graph.vertices) {
    for (let i = 0; i < v.parallelism; i++) {
      const id = hostOf({ vertexId: v.id, subtaskIndex: i });
      if (Object.hasOwn(remoteHosts, id)) used.add(id);
      else if (!MASTER_NAMES.has(id) && id !== masterHost) local.set(id, (local.get(id) ?? new Set()).add(v.name));
    }
  }
  const warnings: JobWarning[] = [];
  for (const [id, names] of local) {
    warnings.push({
      code: "host_not_remote",
      message: `runtime.hostOf places subtasks of ${[...names].map((n) => `"${n}"`).join(", ")} on host "${id}", which is not in runtime.remoteHosts (${Object.keys(remoteHosts).join(", ")}): they run in this process`,
    });
  }
  for (const id of Object.keys(remoteHosts)) {
    if (!used.has(id)) warnings.push({ code: "remote_host_unused", message: `Remote host ${id} (runtime.remoteHosts) is given no subtask by runtime.hostOf: it runs nothing` });
  }
  return warnings;
}
