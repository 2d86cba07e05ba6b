import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, checkpointOverHttp, startJob, stopJob } from "./helpers.ts";

/** A sample line of the text exposition format: name, optional labels, value. */
const SAMPLE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/;

describe("REST API: metrics", () => {
  test("GET /metrics renders Prometheus text: checkpoints, records per operator and subtask, queues, backpressure, restarts", async () => {
    const { job, url } = await startJob({ parallelism: 2 });
    try {
      await checkpointOverHttp(url, job.id);
      const res = await api(url, "/metrics");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      const text = res.body as string;
      for (const line of text.trimEnd().split("\n")) {
        if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
        assert.match(line, SAMPLE);
      }
      const mine = (name: string) => text.split("\n").filter((l) => l.startsWith(`${name}{`) && l.includes(`job_id="${job.id}"`));
      assert.deepEqual(mine("weir_checkpoints_total").map((l) => l.split(" ")[1]), ["1", "0"]);
      assert.equal(mine("weir_checkpoint_last_duration_ms").length, 1);
      assert.equal(mine("weir_checkpoint_duration_ms").length, 8);
      assert.equal(mine("weir_job_restarts_total")[0].split(" ")[1], "0");
      // Two vertices of two subtasks each.
      for (const name of ["weir_records_in_total", "weir_records_out_total", "weir_subtask_queued_batches", "weir_subtask_backpressure_ratio", "weir_subtask_busy_ratio", "weir_subtask_idle_ratio"]) {
        assert.equal(mine(name).length, 4, name);
      }
      assert.ok(mine("weir_records_in_total").some((l) => l.includes('operator="Source: numbers -> double",subtask="1"')));
      assert.equal(text.match(/^# TYPE weir_records_in_total counter$/gm)?.length, 1, "each family is declared once");
    } finally {
      await stopJob(job);
    }
  });
});
