/**
 * weir on Deno Deploy: one job in one isolate, its checkpoints, ingest log and results in
 * Deno KV. Events POSTed to /ingest/events are answered 202 once they are in KV; a keyed
 * running count per user is committed exactly-once to KV at every completed checkpoint and
 * served at GET /results; Flink's REST API and the dashboard answer on the same server.
 *
 * The platform may stop the isolate at any moment (an eviction, a deploy, a crash): that is
 * a crash to weir. The next start finds the job's marker in KV, restores its latest
 * completed checkpoint, replays the events acknowledged since, and goes on, exactly-once.
 *
 *   deno deploy --prod examples/deno-deploy/main.ts      (see the README's Deno Deploy section)
 *   deno run -A examples/deno-deploy/main.ts              (locally; deno.json enables KV)
 *   curl -X POST localhost:8000/ingest/events --data '[{"id":1,"user":"ada"}]'
 *   curl localhost:8000/results
 *
 * Environment: WEIR_KV_PATH (a local KV file; Deno's default database when unset, as on
 * Deploy), WEIR_CHECKPOINT_MS (checkpoint interval, default 10000), WEIR_TOKEN (bearer
 * token for POST/PATCH/DELETE, ingest included), PORT and HOSTNAME (local runs; Deploy
 * chooses its own).
 */
import { createApp, DenoKvStorage, HttpIngestSource, jobRegistry, type JobStatus, StreamEnvironment } from "../../mod.ts";
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
/** The job statuses after which it runs no more. */
const ENDED: ReadonlySet<JobStatus> = new Set(["FINISHED", "CANCELED", "FAILED", "STOPPED"]);
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

const env = new StreamEnvironment({
  jobName: JOB_NAME,
  parallelism: 1,
  storage,
  // The periodic timer runs while the isolate lives; Deno.cron (below) covers the rest.
  checkpoint: { interval: checkpointMs },
  restart: { strategy: "exponential-delay", initialDelay: 100, maxDelay: 10_000 },
});
env.fromSource(new HttpIngestSource({ path: INGEST_PATH }), { uid: "events" })
  .map(toUserEvents, { uid: "validate" })
  .keyBy((r) => r.user)
  .reduce((a, b) => ({ user: a.user, count: a.count + b.count, ids: [...a.ids, ...b.ids] }), { uid: "per-user" })
  .sinkTo(results, { uid: "results" });

const job = await env.execute();
jobRegistry.add(job);
job.on((e) => console.log(JSON.stringify(e.type === "restarting" ? { ...e, error: e.error.message } : e)));

// Where Deno.cron exists (Deploy; locally with --unstable-cron), a checkpoint at least once
// a minute even when no timer of an idle isolate is left to fire.
if (typeof Deno.cron === "function") {
  Deno.cron("weir checkpoint", "* * * * *", async () => {
    await job.triggerCheckpoint().catch((e) => console.error(`weir: cron checkpoint failed: ${(e as Error).message}`));
  });
}

// With WEIR_TOKEN set, POSTs (ingest included), PATCHes and DELETEs need `Authorization: Bearer <token>`.
const app = createApp({ registry: jobRegistry, token: Deno.env.get("WEIR_TOKEN") || undefined });
const port = Deno.env.get("PORT");
Deno.serve({
  ...(port !== undefined ? { port: Number(port) } : {}),
  ...(Deno.env.get("HOSTNAME") ? { hostname: Deno.env.get("HOSTNAME") } : {}),
  onListen: (addr) => console.log(JSON.stringify({ type: "listening", hostname: addr.hostname, port: addr.port, jobId: job.id })),
}, async (request) => {
  const path = new URL(request.url).pathname;
  if (request.method === "GET" && path === "/results") return Response.json(await results.read());
  // The source's endpoint outlives the run: events taken after it ended would be answered
  // 202 (durable) and never read.
  if (request.method === "POST" && path === INGEST_PATH && ENDED.has(job.status)) {
    return Response.json({ errors: [`Job ${JOB_NAME} (${job.id}) ended ${job.status}: it takes no more events at ${path}`], code: "job_not_running" }, { status: 409 });
  }
  const response = await app.fetch(request);
  // The ingest endpoint appears once the restored source has opened its log: until then a
  // client is told to come back, not that the path does not exist.
  if (response.status === 404 && path === INGEST_PATH) {
    return Response.json({ errors: ["The job is starting; retry"], code: "ingest_unavailable" }, { status: 503, headers: { "Retry-After": "1" } });
  }
  return response;
});
