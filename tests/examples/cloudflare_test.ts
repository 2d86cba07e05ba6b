import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { MemoryStorage } from "../../mod.ts";
import { latestCounts, startLocal } from "../../examples/cloudflare/local.ts";
import { sleep } from "../helpers.ts";
import { startWorker, workerdSkip } from "../platforms/cloudflare/workerd.ts";

const root = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const clicks = [{ user: "ada" }, { user: "grace" }, { user: "ada" }, { user: "ada" }, { user: "linus" }];
const expected = { ada: 3, grace: 1, linus: 1 };
const ndjson = [{ user: "grace" }, { user: "ada" }].map((c) => JSON.stringify(c)).join("\n");
const expectedAfterNdjson = { ada: 4, grace: 2, linus: 1 };

/**
 * POSTs the clicks (JSON, then NDJSON), then triggers checkpoints until the committed counts
 * equal `want` (the events are durable at the 202, but read by the source a little later).
 */
async function ingestAndCommit(
  post: (body: string, type: string) => Promise<Response>,
  checkpoint: () => Promise<void>,
  results: () => Promise<Record<string, number>>,
): Promise<void> {
  const first = await post(JSON.stringify(clicks), "application/json");
  assert.equal(first.status, 202, await first.clone().text());
  assert.deepEqual(await first.json(), { accepted: 5 });
  for (let i = 0; i < 500 && JSON.stringify(await results()) !== JSON.stringify(expected); i++) {
    await checkpoint();
    await sleep(10);
  }
  assert.deepEqual(await results(), expected);
  assert.equal((await post(ndjson, "application/x-ndjson")).status, 202);
  for (let i = 0; i < 500 && JSON.stringify(await results()) !== JSON.stringify(expectedAfterNdjson); i++) {
    await checkpoint();
    await sleep(10);
  }
  assert.deepEqual(await results(), expectedAfterNdjson);
}

describe("examples/cloudflare", () => {
  test("the example's job runs unchanged locally (only the entry differs): clicks in, counts committed", { timeout: 60_000 }, async () => {
    const storage = new MemoryStorage();
    const job = await startLocal({ storage, port: 0, checkpointMs: 0 });
    try {
      await ingestAndCommit(
        (body, type) => fetch(`${job.url}/ingest/clicks`, { method: "POST", body, headers: { "content-type": type } }),
        async () => void await job.triggerCheckpoint(),
        () => latestCounts(storage),
      );
    } finally {
      await job.cancel();
    }
  });

  for (const mode of <{ name: string; objects: Record<string, string> }[]>[
    { name: "every subtask but the ingest source in a WeirSubtask object", objects: { WEIR_JOB: "WeirJob", WEIR_SUBTASK: "WeirSubtask" } },
    { name: "the whole job in its WeirJob object", objects: { WEIR_JOB: "WeirJob" } },
  ]) {
    test(`the example on workerd (${mode.name}): clicks POSTed to the Worker, counts committed exactly-once and served at /results`, { skip: workerdSkip, timeout: 120_000 }, async () => {
      const host = await startWorker("../../../examples/cloudflare/worker.ts", mode.objects, { r2Buckets: ["WEIR_SAVEPOINTS"], bindings: { CHECKPOINT_MS: "3600000" } });
      try {
        const { jobs } = await (await host.fetch("/jobs")).json() as { jobs: { id: string }[] };
        await ingestAndCommit(
          (body, type) => host.fetch("/ingest/clicks", { method: "POST", body, headers: { "content-type": type } }),
          async () => void await (await host.fetch(`/jobs/${jobs[0].id}/checkpoints`, { method: "POST" })).text(),
          async () => (await host.fetch("/results")).json() as Promise<Record<string, number>>,
        );
      } finally {
        await host.dispose();
      }
    });
  }

  test("the example on workerd: events POSTed after the job was cancelled are refused with 409, not acknowledged as durable", { skip: workerdSkip, timeout: 120_000 }, async () => {
    const host = await startWorker("../../../examples/cloudflare/worker.ts", { WEIR_JOB: "WeirJob" }, { r2Buckets: ["WEIR_SAVEPOINTS"], bindings: { CHECKPOINT_MS: "3600000" } });
    try {
      const { jobs } = await (await host.fetch("/jobs")).json() as { jobs: { id: string }[] };
      const id = jobs[0].id;
      let first = await host.fetch("/ingest/clicks", { method: "POST", body: JSON.stringify(clicks) });
      for (let i = 0; i < 500 && first.status === 503; i++) {
        await sleep(10);
        first = await host.fetch("/ingest/clicks", { method: "POST", body: JSON.stringify(clicks) });
      }
      assert.equal(first.status, 202, await first.text());
      assert.equal((await host.fetch(`/jobs/${id}?mode=cancel`, { method: "PATCH" })).status, 202);
      for (let i = 0; i < 500 && (await (await host.fetch(`/jobs/${id}`)).json() as { state: string }).state !== "CANCELED"; i++) await sleep(10);
      const late = await host.fetch("/ingest/clicks", { method: "POST", body: JSON.stringify([{ user: "late" }]) });
      const body = await late.json() as { errors: string[]; code: string };
      assert.equal(late.status, 409, JSON.stringify(body));
      assert.equal(body.code, "job_not_running");
      assert.match(body.errors[0], /ended CANCELED.*\/ingest\/clicks/);
    } finally {
      await host.dispose();
    }
  });

  test("wrangler bundles the example for deployment (wrangler deploy --dry-run)", { skip: workerdSkip, timeout: 120_000 }, () => {
    const outdir = mkdtempSync(join(tmpdir(), "weir-wrangler-"));
    const r = spawnSync(join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", outdir, "-c", "wrangler.toml"], {
      cwd: join(root, "examples", "cloudflare"),
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /WEIR_JOB: WeirJob/);
    assert.match(r.stdout, /WEIR_SUBTASK: WeirSubtask/);
    const bundle = readFileSync(join(outdir, "worker.js"), "utf8");
    assert.match(bundle, /class WeirJob/);
    assert.match(bundle, /class WeirSubtask\b|WeirSubtask = class/);
  });
});
