/**
 * The job of the Cloudflare example, as graph-building code that runs unchanged on
 * Cloudflare (worker.ts) and locally on Bun or Deno (local.ts): only the entry differs.
 *
 * Click events POSTed to /ingest/clicks (JSON or NDJSON, `{"user": "ada"}`) are answered 202
 * once they are durable in the job's storage; a running count per user is committed
 * exactly-once by a StorageSink at every completed checkpoint, as JSON-lines objects under
 * `results/clicks/` of the job's storage (the job's Durable Object on Cloudflare, a
 * directory locally); `latestCounts` reads them back.
 */
import type { StreamEnvironment } from "../../dataflow/environment.ts";
import { HttpIngestSource } from "../../connectors/http_ingest_source.ts";
import { StorageSink } from "../../connectors/storage_sink.ts";
import type { StorageAdapter } from "../../storage/adapter.ts";

/** What a client posts. */
export interface Click {
  user: string;
}
/** What the job commits: a user's running count. */
export type UserCount = [user: string, count: number];

/** Where events go in. */
export const INGEST_PATH = "/ingest/clicks";
/** Where the results are committed in the job's storage. */
export const RESULTS_PREFIX = "results/clicks";

/** Adds the job's graph to `env`: ingest → per-user running count → exactly-once sink. */
export function buildClickCounts(env: StreamEnvironment): void {
  env.fromSource(new HttpIngestSource<Click>({ path: INGEST_PATH }), { uid: "clicks" })
    .rebalance()
    .map((c): UserCount => [typeof c?.user === "string" ? c.user : "(invalid)", 1], { uid: "to-count" })
    .keyBy((c) => c[0])
    .reduce((a, b): UserCount => [a[0], a[1] + b[1]], { uid: "count" })
    .sinkTo(new StorageSink<UserCount>({ prefix: RESULTS_PREFIX }), { uid: "results" });
}

/** The committed count of every user (the highest running count committed for each). */
export async function latestCounts(storage: StorageAdapter): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [user, count] of await StorageSink.readCommitted<UserCount>(storage, RESULTS_PREFIX)) {
    if (!(count <= out[user])) out[user] = count;
  }
  return out;
}
