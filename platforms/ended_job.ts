/**
 * What an edge host (Cloudflare's `WeirJob` object, the Deno Deploy example) keeps of its
 * job once it ended, and when a later wake starts a new run anyway: a job that ended is
 * not run again by a wake, unless the host's variables now ask for a start the ended run
 * was not started with (`WEIR_RESTORE_FROM` naming a savepoint, as Flink's `run -s` after
 * a stop-with-savepoint, or `WEIR_FRESH`).
 * @module
 */
import { HttpIngestSource } from "../connectors/http_ingest_source.ts";
import type { JobGraph } from "../dataflow/job_graph.ts";
import { flinkJobStatus } from "../http/flink_ids.ts";
import { jobDetails, jobOverview, jobSummary } from "../http/job_view.ts";
import type { JobRegistry } from "../http/registry.ts";
import type { JobHandle } from "../runtime/job_handle.ts";
import type { JobResult, JobStatus } from "../runtime/job_status.ts";

/** Where the object records that its job ended, so that a later wake does not run it again. */
export const ENDED_KEY = "_weir_edge/ended";

/** How a run was asked to start: the Worker's `WEIR_RESTORE_FROM` and `WEIR_FRESH`. */
export interface StartConfig {
  restoreFrom?: string;
  fresh: boolean;
}

/** What a wake after the job ended knows of it. */
export interface EndedRecord {
  jobId: string;
  jobName: string;
  /** How the job ended, as `job.done` resolves (`"stopped"`, `"canceled"`…). */
  status: string;
  /**
   * The start configuration last acted on: the ended run's own, or one a later wake saw
   * and did not start a run for. Records written before it existed have none.
   */
  config?: StartConfig;
  /** Where the stop's savepoint is (`job.done`'s `savepoint`). */
  savepoint?: string;
  /** The job's row of GET /jobs, of GET /jobs/overview, and GET /jobs/:jobid and its checkpoints, as the live job answered them last. */
  views?: { summary: unknown; overview: unknown; details: unknown; checkpoints: unknown };
  /** Where its HttpIngestSources took events. */
  ingestPaths?: string[];
}

/**
 * The record of a job that just ended, with the REST views it had (Flink's shapes, weir's
 * status in `weir-status`, the stop's savepoint in `weir-savepoint` of the details), so
 * that a later wake answers as the live job did.
 *
 * @example
 * ```ts
 * import { endedRecord } from "./ended_job.ts";
 * // job.done.then((result) => endedRecord(job, registry, result, { config, ingestPaths }))
 * ```
 */
export function endedRecord(job: JobHandle, registry: JobRegistry, result: JobResult, options: { config: StartConfig; ingestPaths: Iterable<string> }): EndedRecord {
  const details = { ...jobDetails(job, registry), ...(result.savepoint ? { "weir-savepoint": result.savepoint } : {}) };
  return {
    jobId: job.id,
    jobName: job.name,
    status: result.status,
    config: options.config,
    ...(result.savepoint ? { savepoint: result.savepoint } : {}),
    views: { summary: jobSummary(job, registry), overview: jobOverview(job, registry), details, checkpoints: job.checkpointStats() },
    ingestPaths: [...options.ingestPaths],
  };
}

/**
 * What a wake after the job ended answers: GET /jobs, /jobs/overview, /jobs/:jobid and its
 * checkpoints as the live job did (records of older versions: id and statuses only), 409
 * for events POSTed to its ingest paths and for anything else that needs a running job.
 *
 * @example
 * ```ts
 * import { endedResponse } from "./ended_job.ts";
 * const res = endedResponse({ jobId: "a", jobName: "clicks", status: "stopped" }, new Request("http://x/jobs"));
 * console.assert(res.status === 200);
 * ```
 */
export function endedResponse(ended: EndedRecord, request: Request): Response {
  // As the live API reads paths: a trailing slash names the same one, a job id in either case.
  const path = new URL(request.url).pathname.replace(/(.)\/+$/, "$1");
  const weirStatus = ended.status.toUpperCase() as JobStatus;
  const views: Partial<NonNullable<EndedRecord["views"]>> = ended.views ?? { summary: { id: ended.jobId, status: flinkJobStatus(weirStatus), "weir-status": weirStatus, name: ended.jobName } };
  if (request.method === "GET") {
    if (path === "/jobs") return Response.json({ jobs: [views.summary] });
    if (path === "/jobs/overview") return Response.json({ jobs: [views.overview ?? views.summary] });
    const m = /^\/jobs\/([^/]+)(\/checkpoints)?\/?$/.exec(path);
    if (m && m[1].toLowerCase() !== ended.jobId.toLowerCase()) return Response.json({ errors: [`No job "${m[1]}" (this Worker's job is ${ended.jobId})`], code: "job_not_found" }, { status: 404 });
    if (m && !m[2] && views.details) return Response.json(views.details);
    if (m && m[2] && views.checkpoints) return Response.json(views.checkpoints);
  }
  if (request.method === "POST" && ended.ingestPaths?.includes(path)) return endedIngestResponse(ended, path);
  return Response.json({ errors: [`Job ${ended.jobName} (${ended.jobId}) ended ${weirStatus}; this Worker runs it no more`], code: "job_not_running" }, { status: 409 });
}

/**
 * Whether a wake of an ended job starts a new run: only when `config` asks for a start
 * (a restore or a fresh run) that differs from the one last acted on, so that variables
 * left in place after that run ended do not start it again at every wake.
 *
 * @example
 * ```ts
 * import { startsNewRun } from "./ended_job.ts";
 * const ended = { jobId: "a", jobName: "clicks", status: "stopped", config: { fresh: false } };
 * console.assert(startsNewRun(ended, { fresh: false }) === false);
 * console.assert(startsNewRun(ended, { restoreFrom: "r2://SP/stops/savepoint-1", fresh: false }) === true);
 * console.assert(startsNewRun({ ...ended, config: { restoreFrom: "r2://SP/stops/savepoint-1", fresh: false } }, { restoreFrom: "r2://SP/stops/savepoint-1", fresh: false }) === false);
 * console.assert(startsNewRun({ ...ended, config: undefined }, { fresh: true }) === false);
 * ```
 */
export function startsNewRun(ended: EndedRecord, config: StartConfig): boolean {
  if (config.restoreFrom === undefined && !config.fresh) return false;
  // A record of a weir before it kept the configuration: the variables seen now may be the
  // very ones the ended run started with, so they start nothing; a change after this does.
  if (ended.config === undefined) return false;
  return !sameConfig(ended.config, config);
}

/**
 * After a wake that started no run: the record to store with `config` remembered as acted
 * on, so that setting the variables again later is a change that starts a run; undefined
 * when that is what the record says already.
 *
 * @example
 * ```ts
 * import { withConfigSeen } from "./ended_job.ts";
 * const ended = { jobId: "a", jobName: "clicks", status: "stopped", config: { fresh: true } };
 * console.assert(withConfigSeen(ended, { fresh: false })?.config?.fresh === false);
 * console.assert(withConfigSeen(ended, { fresh: true }) === undefined);
 * ```
 */
export function withConfigSeen(ended: EndedRecord, config: StartConfig): EndedRecord | undefined {
  return ended.config !== undefined && sameConfig(ended.config, config) ? undefined : { ...ended, config };
}

/** Whether two start configurations are the same (startsNewRun, withConfigSeen). */
function sameConfig(a: StartConfig, b: StartConfig): boolean {
  return a.fresh === b.fresh && a.restoreFrom === b.restoreFrom;
}

/**
 * The record's bytes in storage.
 *
 * @example
 * ```ts
 * import { decodeEnded, encodeEnded } from "./ended_job.ts";
 * const r = { jobId: "a", jobName: "clicks", status: "canceled" };
 * console.assert(decodeEnded(encodeEnded(r)).jobId === "a");
 * ```
 */
export function encodeEnded(record: EndedRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

/**
 * The record from its bytes in storage.
 *
 * @example
 * ```ts
 * import { decodeEnded, encodeEnded } from "./ended_job.ts";
 * console.assert(decodeEnded(encodeEnded({ jobId: "a", jobName: "j", status: "failed" })).status === "failed");
 * ```
 */
export function decodeEnded(bytes: Uint8Array): EndedRecord {
  return JSON.parse(new TextDecoder().decode(bytes)) as EndedRecord;
}

/**
 * The paths where the graph's `HttpIngestSource`s take events (the source's `path`, else
 * `/ingest/<uid>`, as the source registers them).
 *
 * @example
 * ```ts
 * import { HttpIngestSource } from "../connectors/http_ingest_source.ts";
 * import { ingestPathsOf } from "./ended_job.ts";
 * const graph = { vertices: [{ id: "v1", uids: ["clicks"], source: { uid: "clicks", name: "clicks", source: new HttpIngestSource() } }] } as never;
 * console.assert([...ingestPathsOf(graph)].join() === "/ingest/clicks");
 * ```
 */
export function ingestPathsOf(graph: JobGraph): Set<string> {
  const paths = new Set<string>();
  for (const v of graph.vertices) {
    const s = v.source;
    if (s && s.source instanceof HttpIngestSource) paths.add(s.source.path ?? `/ingest/${encodeURIComponent(s.uid)}`);
  }
  return paths;
}

/**
 * The answer to events POSTed after the job ended: 409, as nothing would ever read them
 * (an ingest log replays only into the run that owns it).
 *
 * @example
 * ```ts
 * import { endedIngestResponse } from "./ended_job.ts";
 * const res = endedIngestResponse({ jobId: "a", jobName: "clicks", status: "canceled" }, "/ingest/clicks");
 * console.assert(res.status === 409);
 * ```
 */
export function endedIngestResponse(ended: Pick<EndedRecord, "jobId" | "jobName" | "status">, path: string): Response {
  return Response.json({
    errors: [`Job ${ended.jobName} (${ended.jobId}) ended ${ended.status.toUpperCase()}: it takes no more events at ${path} (nothing would read them; start a new run to ingest again)`],
    code: "job_not_running",
  }, { status: 409 });
}
