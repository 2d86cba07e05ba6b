/**
 * Regression (found in a review): DESIGN.md: bad input gets a 4xx with a JSON {"errors": [...]} body; README: bodies over
 * 64 KiB get 413. On Bun a body over the server's backstop (4 × 64 KiB) is refused by
 * Bun.serve itself with an empty, non-JSON 413 (Deno answers the JSON one).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startJob, stopJob } from "../http/helpers.ts";

describe("request body limits", () => {
  test("a 300 KiB body gets a 413 with a JSON errors array, like a 70 KiB one", { timeout: 20_000 }, async () => {
    const { job, url } = await startJob({ jobName: "body-limit" });
    try {
      for (const size of [70 * 1024, 300 * 1024]) {
        const res = await fetch(`${url}/jobs/${job.id}/checkpoints`, { method: "POST", body: "x".repeat(size), headers: { "content-type": "application/json" } });
        const text = await res.text();
        assert.equal(res.status, 413, `${size} bytes`);
        let body: { errors?: unknown } | undefined;
        try {
          body = JSON.parse(text);
        } catch {
          assert.fail(`${size} bytes: 413 body is not JSON: ${JSON.stringify(text)} (content-type ${res.headers.get("content-type")})`);
        }
        assert.ok(Array.isArray(body?.errors), `${size} bytes: no errors array`);
      }
    } finally {
      await stopJob(job);
    }
  });
});
