import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, startJob, stopJob, until } from "./helpers.ts";

/** Polls a checkpoint trigger until it leaves IN_PROGRESS. */
async function settled(url: string, jobId: string, requestId: string) {
  return await until(async () => {
    const r = await api(url, `/jobs/${jobId}/checkpoints/${requestId}`);
    return r.body.status.id === "COMPLETED" ? r.body : undefined;
  }, "checkpoint trigger settled");
}

describe("REST API: checkpoints of each state option (DESIGN.md \"State options\")", () => {
  const cases = [
    { state: { backend: "heap", incremental: false }, backendName: "HashMapStateBackend", changelog: false, type: "FULL", other: "INCREMENTAL" },
    { state: { backend: "heap", incremental: true }, backendName: "HashMapStateBackend", changelog: true, type: "INCREMENTAL", other: "FULL" },
    { state: { backend: "sqlite", incremental: false }, backendName: "SqliteStateBackend", changelog: false, type: "FULL", other: "INCREMENTAL" },
    { state: { backend: "sqlite", incremental: true }, backendName: "SqliteStateBackend", changelog: false, type: "INCREMENTAL", other: "FULL" },
    // Without the option, each backend's default: sqlite's files are incremental by nature.
    { state: { backend: "heap" }, backendName: "HashMapStateBackend", changelog: false, type: "FULL", other: "INCREMENTAL" },
    { state: { backend: "sqlite" }, backendName: "SqliteStateBackend", changelog: false, type: "INCREMENTAL", other: "FULL" },
  ] as const;
  for (const c of cases) {
    const incremental = "incremental" in c.state ? c.state.incremental : undefined;
    const name = `${c.state.backend}${incremental === undefined ? " by default" : incremental ? " incremental" : ""}`;
    test(`${name}: …/checkpoints/config names the backend and whether a changelog is on`, async () => {
      const { job, url } = await startJob({ state: c.state, parallelism: 1 });
      try {
        const res = await api(url, `/jobs/${job.id}/checkpoints/config`);
        assert.equal(res.status, 200);
        assert.equal(res.body.state_backend, c.backendName);
        assert.equal(res.body.state_changelog_enabled, c.changelog);
        assert.equal(res.body.changelog_storage === "", !c.changelog, `changelog_storage ${JSON.stringify(res.body.changelog_storage)}`);
      } finally {
        await stopJob(job);
      }
    });

    test(`${name}: POST …/checkpoints takes checkpointType ${c.type} (what the job does) and refuses ${c.other} naming the option`, async () => {
      const { job, url } = await startJob({ state: c.state, parallelism: 1 });
      try {
        const posted = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", json: { checkpointType: c.type } });
        assert.equal(posted.status, 202);
        const done = await settled(url, job.id, posted.body["request-id"]);
        assert.equal(typeof done.operation.checkpointId, "number", JSON.stringify(done));
        const refused = await api(url, `/jobs/${job.id}/checkpoints`, { method: "POST", json: { checkpointType: c.other } });
        assert.equal(refused.status, 400);
        assert.match(refused.body.errors[0], /"checkpointType"/);
        assert.match(refused.body.errors[0], /incremental/);
        assert.equal(job.checkpointStats().counts.total, 1, "the refused request triggered nothing");
      } finally {
        await stopJob(job);
      }
    });
  }
});
