/**
 * The Worker's default export for a weir job: routes every request to the job's one
 * `WeirJob` Durable Object, after checking that the bindings the job needs are there.
 * @module
 */
import type { StreamEnvironment } from "../../dataflow/environment.ts";
import type { StorageAdapter } from "../../storage/adapter.ts";
import type { DurableObjectNamespaceLike, WorkerBindings } from "./bindings.ts";

/** What the job-building function receives inside the `WeirJob` object. */
export interface EdgeJobContext {
  /** The job's storage: the `WeirJob` object's own SQLite storage (checkpoints, ingest logs). */
  readonly storage: StorageAdapter;
  /** The Worker's bindings (`env`): buckets, variables, secrets. */
  readonly bindings: WorkerBindings;
}

/**
 * Builds the job's graph on a StreamEnvironment whose `storage` is `job.storage`, and
 * returns it unexecuted; `WeirJob` executes it. The same graph-building code runs locally:
 * only this entry differs.
 */
export type EdgeJobBuilder = (job: EdgeJobContext) => StreamEnvironment;

/** Options of {@link weirWorker}. */
export interface WeirWorkerOptions {
  /** The binding of the `WeirJob` Durable Object namespace (default `WEIR_JOB`). */
  jobBinding?: string;
  /**
   * The binding of an R2 bucket for savepoints (default `WEIR_SAVEPOINTS`). Optional: without
   * it, savepoints go to the job's own storage.
   */
  savepointBucket?: string;
  /**
   * The binding of the `WeirSubtask` Durable Object namespace (default `WEIR_SUBTASK`). When
   * the Worker has it, each subtask of the job runs in a `WeirSubtask` object of its own,
   * deployed by the job master in `WeirJob` (sources reading an `HttpIngestSource` stay in
   * `WeirJob`, beside their endpoint); without it, the whole job runs in the `WeirJob` object.
   */
  subtaskBinding?: string;
  /** Further bindings the job needs: a Worker without one answers every request with an error naming it. */
  requiredBindings?: string[];
  /**
   * Routes of your own, answered inside the job's object before the REST API (e.g. a
   * `GET /results` that reads what a StorageSink committed to `job.storage`); return
   * undefined to leave a request to weir.
   */
  routes?: (request: Request, job: EdgeJobContext) => Response | undefined | Promise<Response | undefined>;
}

/** The job of this Worker, registered by {@link weirWorker} for `WeirJob` to build. */
export interface RegisteredJob {
  build: EdgeJobBuilder;
  jobBinding: string;
  subtaskBinding: string;
  savepointBucket: string;
  requiredBindings: string[];
  routes?: WeirWorkerOptions["routes"];
}

let registered: RegisteredJob | undefined;

/** The job {@link weirWorker} registered in this isolate, if any. */
export function registeredJob(): RegisteredJob | undefined {
  return registered;
}

/** The paths objects of a job call each other at; the Worker's entry refuses them from outside. */
export const INTERNAL_PATH = "/_weir/";

/** The name of the one `WeirJob` object a Worker's job lives in. */
export const JOB_OBJECT_NAME = "job";

/**
 * The binding names a Worker lacks for its job (the job's namespace first), each with
 * what it should be; empty when all are there.
 */
export function missingBindings(env: WorkerBindings | undefined, job: RegisteredJob): string[] {
  const missing: string[] = [];
  const ns = env?.[job.jobBinding] as DurableObjectNamespaceLike | undefined;
  if (!ns || typeof ns.idFromName !== "function" || typeof ns.get !== "function") {
    missing.push(`The Worker has no binding ${job.jobBinding} (a Durable Object namespace of class WeirJob, in [[durable_objects.bindings]] of wrangler.toml)`);
  }
  for (const name of job.requiredBindings) {
    if (env?.[name] === undefined) missing.push(`The Worker has no binding ${name}, which the job needs (wrangler.toml)`);
  }
  return missing;
}

/** The answer to every request of a Worker that lacks bindings. */
export function missingBindingsResponse(missing: string[]): Response {
  return Response.json({ errors: missing, code: "binding_missing" }, { status: 500 });
}

/**
 * Turns a job-building function into the Worker's default export (DESIGN.md, "Edge and
 * packaging"). Every request, the REST API at Flink's paths (`/jobs/...`), the dashboard
 * and HttpIngestSource's `/ingest/...`, goes to the job's `WeirJob` object, which starts
 * the job at its first request (or alarm) and resumes it from its latest checkpoint after
 * the object was evicted or restarted. The Worker module must also export `WeirJob`.
 * A Flink user knows the idea from a job's `main()` handed to the cluster's entry point.
 *
 * @example
 * ```ts
 * import { weirWorker, WeirJob } from "./mod.ts";
 * import { CollectSink, SequenceSource, StreamEnvironment } from "../../mod.ts";
 * const worker = weirWorker(({ storage }) => {
 *   const env = new StreamEnvironment({ jobName: "numbers", storage });
 *   env.fromSource(new SequenceSource(0, 10), { uid: "n" }).sinkTo(new CollectSink(), { uid: "out" });
 *   return env;
 * });
 * const res = await worker.fetch(new Request("http://worker/jobs"), {});
 * console.assert(res.status === 500 && (await res.json()).errors[0].includes("WEIR_JOB"));
 * console.assert(typeof WeirJob === "function");
 * // export default worker; export { WeirJob };
 * ```
 */
export function weirWorker(build: EdgeJobBuilder, options: WeirWorkerOptions = {}): { fetch(request: Request, env: WorkerBindings): Promise<Response> } {
  const job: RegisteredJob = {
    build,
    jobBinding: options.jobBinding ?? "WEIR_JOB",
    subtaskBinding: options.subtaskBinding ?? "WEIR_SUBTASK",
    savepointBucket: options.savepointBucket ?? "WEIR_SAVEPOINTS",
    requiredBindings: [...(options.requiredBindings ?? [])],
    routes: options.routes,
  };
  registered = job;
  return {
    fetch(request: Request, env: WorkerBindings): Promise<Response> {
      // /_weir/ paths are calls between the job's objects (frames, control, storage): never from outside.
      if (new URL(request.url).pathname.startsWith(INTERNAL_PATH)) {
        return Promise.resolve(Response.json({ errors: [`No route ${new URL(request.url).pathname}: ${INTERNAL_PATH} paths are internal to the job's objects`], code: "not_found" }, { status: 404 }));
      }
      const missing = missingBindings(env, job);
      if (missing.length > 0) return Promise.resolve(missingBindingsResponse(missing));
      const ns = env[job.jobBinding] as DurableObjectNamespaceLike;
      return ns.get(ns.idFromName(JOB_OBJECT_NAME)).fetch(request);
    },
  };
}
