/**
 * Which Durable Object runs each subtask of a job on Cloudflare, and how a frame reaches it.
 * @module
 */
import type { SubtaskAddress } from "../../actors/transport.ts";
import { HttpIngestSource } from "../../connectors/http_ingest_source.ts";
import type { JobGraph } from "../../dataflow/job_graph.ts";
import { WeirError } from "../../errors.ts";
import type { DurableObjectNamespaceLike, DurableObjectStubLike } from "./bindings.ts";
import { JOB_OBJECT_NAME } from "./worker.ts";

/** The path frames are POSTed to. */
export const FRAME_PATH = "/_weir/frame";
/** The header that tells an object its own name (Durable Objects do not know it). */
export const OBJECT_NAME_HEADER = "x-weir-object";

/** Options of {@link subtaskCaller}. */
export interface SubtaskCallerOptions {
  /** The namespace of the `WeirSubtask` objects. */
  namespace: DurableObjectNamespaceLike;
}

/**
 * The `call` of a {@link DurableObjectRpcTransport} between `WeirSubtask` objects: POSTs the
 * frame to the named object and resolves on its 204. A stub whose call threw is dropped
 * and recreated by the next call (Cloudflare's advice: a stub that threw may be broken).
 *
 * @example
 * ```ts
 * import { subtaskCaller } from "./placement.ts";
 * const calls: string[] = [];
 * const call = subtaskCaller({ namespace: { idFromName: (n: string) => n, get: (id: unknown) => ({ fetch: () => { calls.push(String(id)); return Promise.resolve(new Response(null, { status: 204 })); } }) } });
 * await call("v1-0", new Uint8Array([1]));
 * console.assert(calls[0] === "v1-0");
 * ```
 */
export function subtaskCaller(options: SubtaskCallerOptions): (object: string, frame: Uint8Array) => Promise<void> {
  const stubs = new Map<string, DurableObjectStubLike>();
  return async (object, frame) => {
    let stub = stubs.get(object);
    if (!stub) stubs.set(object, (stub = options.namespace.get(options.namespace.idFromName(object))));
    let res: Response;
    try {
      res = await stub.fetch(new Request(`https://weir-subtask${FRAME_PATH}`, { method: "POST", body: frame as BodyInit, headers: { [OBJECT_NAME_HEADER]: object } }));
    } catch (e) {
      stubs.delete(object);
      throw e;
    }
    if (res.status !== 204) {
      const text = await res.text();
      throw new WeirError("job_failed", `Subtask object ${object} refused a frame (${res.status}): ${text.slice(0, 300)}`);
    }
  };
}

/**
 * The name of the object hosting a subtask: the job (its name, which is unique per Worker,
 * so that a resumed run, which keeps its objects, finds them; or an id), vertex id and
 * subtask index.
 *
 * @example
 * ```ts
 * import { subtaskObjectName } from "./placement.ts";
 * console.assert(subtaskObjectName("j1", "v2", 0) === "j1/v2/0");
 * ```
 */
export function subtaskObjectName(job: string, vertexId: string, subtaskIndex: number): string {
  return `${job}/${vertexId}/${subtaskIndex}`;
}

/**
 * The object of each subtask: its own `WeirSubtask` object, named
 * `subtaskObjectName(jobName, vertexId, index)`, except a vertex whose source is an
 * `HttpIngestSource`, which stays in the `WeirJob` object ({@link JOB_OBJECT_NAME}):
 * its reader and the `/ingest/...` endpoint share one in-memory log index, and the
 * endpoint is served where the Worker sends requests (as Flink co-locates a source with
 * what it must share memory with). The same function on the master and in every host,
 * since each builds the graph from the same code.
 *
 * @example
 * ```ts
 * import { edgePlacement } from "./placement.ts";
 * const place = edgePlacement({ vertices: [], edges: [], maxParallelism: 128 }, "clicks");
 * console.assert(place({ vertexId: "v1", subtaskIndex: 0 }) === "clicks/v1/0");
 * ```
 */
export function edgePlacement(graph: JobGraph, jobName: string): (subtask: SubtaskAddress) => string {
  const inJob = new Set(graph.vertices.filter((v) => v.source?.source instanceof HttpIngestSource).map((v) => v.id));
  return (s) => (inJob.has(s.vertexId) ? JOB_OBJECT_NAME : subtaskObjectName(jobName, s.vertexId, s.subtaskIndex));
}

/**
 * The `call` of a DurableObjectRpcTransport among a job's objects: frames for `self` are
 * handed to `local` on a later microtask (no call to oneself), frames for the job object
 * go to the `WeirJob` namespace, every other one to the `WeirSubtask` namespace.
 */
export function objectCaller(options: {
  self: string;
  local: (frame: Uint8Array) => void;
  subtasks: DurableObjectNamespaceLike;
  job: DurableObjectNamespaceLike | undefined;
}): (object: string, frame: Uint8Array) => Promise<void> {
  const toSubtask = subtaskCaller({ namespace: options.subtasks });
  const toJob = options.job ? subtaskCaller({ namespace: options.job }) : undefined;
  return (object, frame) => {
    if (object === options.self) return Promise.resolve().then(() => options.local(frame));
    if (object === JOB_OBJECT_NAME) {
      if (!toJob) return Promise.reject(new WeirError("binding_missing", "A frame for the job object, but its namespace is not bound"));
      return toJob(object, frame);
    }
    return toSubtask(object, frame);
  };
}
