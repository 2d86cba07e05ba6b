/**
 * The local entry of the example: the same job (job.ts) on Bun or Deno, its state and
 * results in a directory, the REST API and ingest on http://127.0.0.1:8787.
 *
 *   bun examples/cloudflare/local.ts                       (or: deno run -A examples/cloudflare/local.ts)
 *   curl -X POST localhost:8787/ingest/clicks --data '[{"user":"ada"}]'
 */
import { FileStorage, type JobHandle, type StorageAdapter, StreamEnvironment } from "../../mod.ts";
import { buildClickCounts, latestCounts } from "./job.ts";

/** Starts the example's job locally; `storage` defaults to `.weir-clicks`. */
export function startLocal(options: { storage?: StorageAdapter; port?: number; checkpointMs?: number } = {}): Promise<JobHandle> {
  const env = new StreamEnvironment({
    jobName: "clicks",
    parallelism: 2,
    storage: options.storage ?? new FileStorage(".weir-clicks"),
    checkpoint: { interval: options.checkpointMs ?? 10_000 },
    restart: { strategy: "fixed-delay", attempts: 10, delay: 1000 },
    http: { port: options.port ?? 8787 },
  });
  buildClickCounts(env);
  return env.execute();
}

export { latestCounts };

if ((import.meta as { main?: boolean }).main) {
  const storage = new FileStorage(".weir-clicks");
  const job = await startLocal({ storage });
  console.log(`clicks: POST events to ${job.url}/ingest/clicks; results in ${storage.description}/results/clicks`);
  job.on((e) => {
    if (e.type === "checkpoint_completed") latestCounts(storage).then((c) => console.log(`checkpoint ${e.checkpointId}:`, c));
  });
}
