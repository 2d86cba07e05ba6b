/**
 * weir on Deno Deploy: one job in one isolate, its checkpoints, ingest log and results in
 * Deno KV. Events POSTed to /ingest/events are answered 202 once they are in KV; a keyed
 * running count per user is committed exactly-once to KV at every completed checkpoint and
 * served at GET /results; Flink's REST API and the dashboard answer on the same server.
 *
 * The platform may stop the isolate at any moment (an eviction, a deploy, a crash): that is
 * a crash to weir. The next start finds the job's marker in KV, restores its latest
 * completed checkpoint, replays the events acknowledged since, and goes on, exactly-once.
 * A job that ended (PATCH /jobs/:jobid?mode=cancel, a failure) stays ended: the next isolate
 * serves its results and final status, and runs it again only when WEIR_FRESH=true (a new,
 * empty run) or WEIR_RESTORE_FROM (a savepoint) asks for a start it was not started with.
 *
 *   deno deploy --prod examples/deno-deploy/main.ts      (see the README's Deno Deploy section)
 *   deno run -A examples/deno-deploy/main.ts              (locally; deno.json enables KV)
 *   curl -X POST localhost:8000/ingest/events --data '[{"id":1,"user":"ada"}]'
 *   curl localhost:8000/results
 *
 * Environment: WEIR_KV_PATH (a local KV file; Deno's default database when unset, as on
 * Deploy), WEIR_CHECKPOINT_MS (checkpoint interval, default 10000), WEIR_TOKEN (bearer
 * token for POST/PATCH/DELETE, ingest included), WEIR_FRESH and WEIR_RESTORE_FROM (above),
 * PORT and HOSTNAME (local runs; Deploy chooses its own).
 */
import { createApp, DenoKvStorage, HttpIngestSource, type JobHandle, jobRegistry, StreamEnvironment } from "../../mod.ts";
import { isTerminal } from "../../http/registry.ts";
import { decodeEnded, type EndedRecord, endedIngestResponse, endedRecord, endedResponse, encodeEnded, type StartConfig, startsNewRun, withConfigSeen } from "../../platforms/ended_job.ts";
import { UpsertSink } from "./upsert_sink.ts";

/** What a client posts. */
export interface Event {
  id: number;
  user: string;
}
/** What the job keeps and commits per user: the ids are kept so that a client can check exactly-once. */
export interface UserEvents {
  user: string;
  count: number;
  ids: number[];
}

/** The slice of Deno's API this file uses (the repository type-checks with Bun's types). */
interface DenoApi {
  env: { get(name: string): string | undefined };
  serve(
    options: { port?: number; hostname?: string; onListen?: (addr: { hostname: string; port: number }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): unknown;
  cron?(name: string, schedule: string, handler: () => Promise<void>): Promise<void>;
}
const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

const JOB_NAME = "deploy-events";
/** The ingest path; Deploy routes every request of the project's URL to this isolate. */
const INGEST_PATH = "/ingest/events";
/** An event that is not `{ id: number, user: string }` is kept, counted under this user, not dropped. */
const INVALID_USER = "(invalid)";

// The fence: a newer isolate of this job takes it over at its first storage call, and from
// then on an older one still running can no longer write (its writes fail with storage_fenced).
const storage = new DenoKvStorage(Deno.env.get("WEIR_KV_PATH") || undefined, { fence: JOB_NAME });
const checkpointMs = Number(Deno.env.get("WEIR_CHECKPOINT_MS") ?? 10_000);
const results = new UpsertSink<UserEvents>(storage, `${JOB_NAME}/results/`, (r) => r.user);

function toUserEvents(e: unknown): UserEvents {
  const ev = e as Partial<Event> | null;
  const valid = ev !== null && typeof ev === "object" && typeof ev.user === "string" && ev.user.length > 0 && Number.isSafeInteger(ev.id);
  return valid ? { user: ev.user!, count: 1, ids: [ev.id!] } : { user: INVALID_USER, count: 1, ids: [] };
}

// A job that ended (a cancel, a failure) is not run again by the next isolate: its ingest
// log was trimmed past the events its state already counted, so a new run with empty state
// would commit lower counts over them. As WeirJob on Cloudflare does, a new run starts only
// when WEIR_FRESH=true or WEIR_RESTORE_FROM asks for a start the ended run was not started
// with (ended_job.ts holds that rule; it touches no Cloudflare API).
const ENDED_KEY = `${JOB_NAME}/_ended`;
const startConfig: StartConfig = { restoreFrom: Deno.env.get("WEIR_RESTORE_FROM") || undefined, fresh: Deno.env.get("WEIR_FRESH") === "true" };
const endedBytes = await storage.get(ENDED_KEY);
const ended: EndedRecord | undefined = endedBytes ? decodeEnded(endedBytes) : undefined;
const job = ended && !startsNewRun(ended, startConfig) ? undefined : await runJob();
const seen = ended && !job ? withConfigSeen(ended, startConfig) : undefined;
if (seen) await storage.put(ENDED_KEY, encodeEnded(seen));
if (!job) console.log(JSON.stringify({ type: "ended-earlier", jobId: ended!.jobId, status: ended!.status }));

async function runJob(): Promise<JobHandle> {
  const env = new StreamEnvironment({
    jobName: JOB_NAME,
    parallelism: 1,
    storage,
    // The periodic timer runs while the isolate lives; Deno.cron (below) covers the rest.
    checkpoint: { interval: checkpointMs },
    restart: { strategy: "exponential-delay", initialDelay: 100, maxDelay: 10_000 },
    ...(startConfig.restoreFrom ? { restoreFrom: startConfig.restoreFrom } : {}),
    ...(startConfig.fresh ? { fresh: true } : {}),
  });
  env.fromSource(new HttpIngestSource({ path: INGEST_PATH }), { uid: "events" })
    .map(toUserEvents, { uid: "validate" })
    .keyBy((r) => r.user)
    .reduce((a, b) => ({ user: a.user, count: a.count + b.count, ids: [...a.ids, ...b.ids] }), { uid: "per-user" })
    .sinkTo(results, { uid: "results" });
  const job = await env.execute();
  // A new run of an ended job: from here on the next isolate resumes this run.
  if (ended) await storage.delete(ENDED_KEY);
  jobRegistry.add(job);
  job.on((e) => console.log(JSON.stringify(e.type === "restarting" ? { ...e, error: e.error.message } : e)));
  job.done.then(async (result) => {
    await storage.put(ENDED_KEY, encodeEnded(endedRecord(job, jobRegistry, result, { config: startConfig, ingestPaths: [INGEST_PATH] })));
    console.log(JSON.stringify({ type: "ended", jobId: job.id, status: result.status }));
  }).catch((e) => console.error(`weir: the ended job's record was not written (the next isolate would start it anew): ${(e as Error).message}`));
  return job;
}

// Where Deno.cron exists (Deploy; locally with --unstable-cron), a checkpoint at least once
// a minute even when no timer of an idle isolate is left to fire.
if (job && typeof Deno.cron === "function") {
  Deno.cron("weir checkpoint", "* * * * *", async () => {
    await job.triggerCheckpoint().catch((e) => console.error(`weir: cron checkpoint failed: ${(e as Error).message}`));
  });
}

// With WEIR_TOKEN set, POSTs (ingest included), PATCHes and DELETEs need `Authorization: Bearer <token>`.
// The source's endpoint outlives the run: events taken after it ended would be answered 202
// (durable) and never read. Checked behind the token, as the app's own routes are.
const app = createApp({
  registry: jobRegistry,
  token: Deno.env.get("WEIR_TOKEN") || undefined,
  before: (request) => {
    const path = new URL(request.url).pathname;
    if (job && isTerminal(job.status) && request.method === "POST" && path === INGEST_PATH) return endedIngestResponse({ jobId: job.id, jobName: JOB_NAME, status: job.status }, path);
  },
});
const port = Deno.env.get("PORT");
Deno.serve({
  ...(port !== undefined ? { port: Number(port) } : {}),
  ...(Deno.env.get("HOSTNAME") ? { hostname: Deno.env.get("HOSTNAME") } : {}),
  onListen: (addr) => console.log(JSON.stringify({ type: "listening", hostname: addr.hostname, port: addr.port, jobId: job?.id ?? ended!.jobId })),
}, async (request) => {
  const path = new URL(request.url).pathname;
  if (request.method === "GET" && path === "/results") return Response.json(await results.read());
  if (path === INGEST_PATH && request.method !== "POST") {
    return Response.json({ errors: [`${request.method} ${path}: the ingest endpoint takes POST only`], code: "invalid_request" }, { status: 405, headers: { Allow: "POST" } });
  }
  // The job ended in an earlier isolate: its REST views as it ended, 409 for anything else.
  if (!job) return endedResponse(ended!, request);
  const response = await app.fetch(request);
  // The ingest endpoint appears once the restored source has opened its log: until then a
  // client is told to come back, not that the path does not exist.
  if (response.status === 404 && path === INGEST_PATH) {
    return Response.json({ errors: ["The job is starting; retry"], code: "ingest_unavailable" }, { status: 503, headers: { "Retry-After": "1" } });
  }
  return response;
});
