/**
 * What a `WeirJob` object keeps of its job once it ended, and when a later wake starts a
 * new run anyway: a job that ended is not run again by a wake, unless the Worker's
 * variables now ask for a start the ended run was not started with (`WEIR_RESTORE_FROM`
 * naming a savepoint, as Flink's `run -s` after a stop-with-savepoint, or `WEIR_FRESH`).
 * @module
 */
import { HttpIngestSource } from "../../connectors/http_ingest_source.ts";
import type { JobGraph } from "../../dataflow/job_graph.ts";

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
 * ```
 */
export function startsNewRun(ended: EndedRecord, config: StartConfig): boolean {
  if (config.restoreFrom === undefined && !config.fresh) return false;
  return !sameConfig(ended.config ?? { fresh: false }, config);
}

/**
 * Whether two start configurations are the same.
 *
 * @example
 * ```ts
 * import { sameConfig } from "./ended_job.ts";
 * console.assert(sameConfig({ fresh: true }, { fresh: true, restoreFrom: undefined }));
 * ```
 */
export function sameConfig(a: StartConfig, b: StartConfig): boolean {
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
 * import { HttpIngestSource } from "../../connectors/http_ingest_source.ts";
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
