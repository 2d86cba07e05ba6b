/**
 * Which Durable Object owns a key of a job's storage on Cloudflare (issue 14: a
 * `WeirSubtask`'s state and channel state live in the object's own storage). A subtask's
 * checkpoint file (`<job>/<jobId>/chk-<n>/<vertexId>-<index>`) and its incremental shared
 * files (`<job>/<jobId>/shared/<backend>/<jobId>/<uid>/<index>/…`) belong to the object that
 * runs that subtask; every other key — `_metadata` (the commit point), the run marker,
 * savepoint directories, sink commits, the ingest log — belongs to `WeirJob`.
 * @module
 */
import type { SubtaskAddress } from "../../actors/transport.ts";
import type { JobGraph } from "../../dataflow/job_graph.ts";
import { JOB_OBJECT_NAME } from "./worker.ts";

/** Where a job's keys live: their owner, and every object that may hold any (list and deletePrefix ask them all). */
export interface StorageRoutes {
  /** The object (a `WeirSubtask`'s name, or {@link JOB_OBJECT_NAME}) that owns `key`. */
  ownerOf(key: string): string;
  /**
   * The one object that owns every key under `prefix`, or undefined when keys of several
   * objects may start with it.
   */
  ownerOfPrefix(prefix: string): string | undefined;
  /** Every object that may hold keys of the job, the job object included. */
  objects(): readonly string[];
}

/** The names the heap and SQLite backends give a uid in their shared file keys (state/heap_backend.ts, sqlite_backend.ts). */
const sharedNames = (uid: string) => [uid.replace(/[^A-Za-z0-9._-]/g, "_"), uid.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 60)];

/**
 * The routes of a job's keys, from its graph and placement (placement.ts edgePlacement):
 * the same on the master and in every object, since each builds the graph from the same
 * code. A file of an old subtask that the graph no longer has (a restore at a lower
 * parallelism) routes to the object that ran it, which still holds it; `also` names such
 * objects of earlier runs, so that list and deletePrefix reach them too.
 *
 * @example
 * ```ts
 * import { storageRoutes } from "./storage_routes.ts";
 * const graph = { vertices: [{ id: "v2", uids: ["sum"], parallelism: 2 }], edges: [], maxParallelism: 128 } as never;
 * const routes = storageRoutes(graph, "clicks", (s) => `clicks/${s.vertexId}/${s.subtaskIndex}`);
 * console.assert(routes.ownerOf("clicks/ab/chk-3/v2-1") === "clicks/v2/1");
 * console.assert(routes.ownerOf("clicks/ab/chk-3/_metadata") === "job");
 * console.assert(routes.ownerOf("clicks/ab/shared/heap/ab/sum/0/3-base") === "clicks/v2/0");
 * ```
 */
export function storageRoutes(graph: JobGraph, jobName: string, place: (s: SubtaskAddress) => string, options: { also?: Iterable<string> } = {}): StorageRoutes {
  const vertexOfShared = new Map<string, string>();
  for (const v of graph.vertices) for (const uid of v.uids) for (const name of sharedNames(uid)) vertexOfShared.set(name, v.id);
  const all = new Set<string>([JOB_OBJECT_NAME]);
  for (const v of graph.vertices) for (let i = 0; i < v.parallelism; i++) all.add(place({ vertexId: v.id, subtaskIndex: i }));
  for (const o of options.also ?? []) all.add(o);
  const objects = [...all];
  const job = `${jobName}/`;
  const fileOwner = (rest: string): string | undefined => {
    // rest: "<jobId>/chk-<n>/<vertexId>-<index>" or "<jobId>/shared/<backend>/<jobId>/<uid>/<index>/…"
    const parts = rest.split("/");
    if (parts.length === 3 && /^chk-\d+$/.test(parts[1])) {
      const m = /^(.+)-(\d+)$/.exec(parts[2]);
      return m ? place({ vertexId: m[1], subtaskIndex: Number(m[2]) }) : undefined;
    }
    if (parts.length >= 7 && parts[1] === "shared" && /^\d+$/.test(parts[5])) {
      const vertexId = vertexOfShared.get(parts[4]);
      return vertexId === undefined ? undefined : place({ vertexId, subtaskIndex: Number(parts[5]) });
    }
    return undefined;
  };
  return {
    ownerOf: (key) => (key.startsWith(job) ? fileOwner(key.slice(job.length)) : undefined) ?? JOB_OBJECT_NAME,
    ownerOfPrefix(prefix) {
      if (!prefix.startsWith(job)) return job.startsWith(prefix) ? undefined : JOB_OBJECT_NAME;
      const rest = prefix.slice(job.length);
      const parts = rest.split("/");
      // Below one subtask's shared directory: "<jobId>/shared/<backend>/<jobId>/<uid>/<index>/…".
      if (parts.length >= 7 && parts[1] === "shared") return fileOwner(rest);
      // Keys outside a run's checkpoint and shared directories (the ingest log…) are the job object's.
      if (parts.length >= 2) {
        const seg = parts[1];
        const mayHoldFiles = parts.length >= 3 ? seg.startsWith("chk-") || seg === "shared" : seg.startsWith("chk-") || "chk-".startsWith(seg) || "shared".startsWith(seg);
        if (!mayHoldFiles) return JOB_OBJECT_NAME;
      }
      return undefined;
    },
    objects: () => objects,
  };
}
