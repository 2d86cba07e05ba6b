import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { allowedMethods } from "../../http/methods.ts";
import { createApp } from "../../http/app.ts";
import { JobRegistry } from "../../http/registry.ts";
import { api, startJob, stopJob } from "./helpers.ts";

describe("REST API: wrong methods", () => {
  test("a wrong method on an existing path is a 405 with an Allow header, an unknown path still a 404", async () => {
    const { job, url } = await startJob();
    try {
      const cases: [string, string, string][] = [
        ["DELETE", "/jobs", "GET, HEAD"],
        ["POST", `/jobs/${job.id}`, "GET, HEAD, PATCH"],
        ["GET", `/jobs/${job.id}/stop`, "POST"],
        ["PUT", `/jobs/${job.id}/checkpoints`, "GET, HEAD, POST"],
        ["DELETE", "/savepoint-disposal", "POST"],
      ];
      for (const [method, path, allow] of cases) {
        const res = await api(url, path, { method });
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
        assert.equal(res.body.code, "method_not_allowed");
        assert.match(res.body.errors[0], new RegExp(`Method ${method} is not allowed on`));
      }
      assert.equal((await api(url, "/nowhere", { method: "DELETE" })).status, 404);
      // A trailing slash names the same path: answered, not a 405 allowing the method asked for.
      const slashed = await api(url, "/jobs/");
      assert.equal(slashed.status, 200, JSON.stringify(slashed.body));
      assert.ok(Array.isArray(slashed.body.jobs));
      assert.equal((await api(url, `/jobs/${job.id}/checkpoints/`)).status, 200);
      assert.equal(job.status, "RUNNING", "nothing was triggered");
    } finally {
      await stopJob(job);
    }
  });

  test("allowedMethods() matches parameters, not literal segments", () => {
    const app = createApp({ registry: new JobRegistry() });
    assert.deepEqual(allowedMethods(app, "/jobs/abc/checkpoints/details/7"), ["GET", "HEAD"]);
    assert.deepEqual(allowedMethods(app, "/jobs/abc/checkpoints/details/7/more"), []);
    assert.deepEqual(allowedMethods(app, "/jobs/abc/stop"), ["POST"]);
    assert.deepEqual(allowedMethods(app, "/jobs/abc/vertices/def/metrics"), ["GET", "HEAD"]);
  });
});
