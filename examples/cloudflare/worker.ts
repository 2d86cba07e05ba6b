/**
 * The Cloudflare entry of the example: the job of job.ts, its master in a `WeirJob` Durable
 * Object and its subtasks in `WeirSubtask` objects.
 *
 *   npx wrangler dev -c examples/cloudflare/wrangler.toml      (locally, on workerd)
 *   curl -X POST localhost:8787/ingest/clicks --data '[{"user":"ada"},{"user":"grace"}]'
 *   curl -X POST localhost:8787/jobs/$(curl -s localhost:8787/jobs | jq -r '.jobs[0].id')/checkpoints
 *   curl localhost:8787/results
 *   npx wrangler deploy -c examples/cloudflare/wrangler.toml   (to Cloudflare)
 */
import { StreamEnvironment, WeirJob, WeirSubtask, weirWorker } from "../../platforms/cloudflare/mod.ts";
import { buildClickCounts, latestCounts } from "./job.ts";

// WeirJob is the job master; with WeirSubtask bound (WEIR_SUBTASK in wrangler.toml) every
// subtask but the ingest source runs in a WeirSubtask object of its own.
export { WeirJob, WeirSubtask };

export default weirWorker(({ storage, bindings }) => {
  const env = new StreamEnvironment({
    jobName: "clicks",
    parallelism: 2,
    storage,
    checkpoint: { interval: Number(bindings.CHECKPOINT_MS ?? 10_000) },
    restart: { strategy: "fixed-delay", attempts: 10, delay: 1000 },
  });
  buildClickCounts(env);
  return env;
}, {
  routes: async (request, job) => {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/results") return Response.json(await latestCounts(job.storage));
    return undefined;
  },
});
