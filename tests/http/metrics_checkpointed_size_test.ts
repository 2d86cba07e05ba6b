import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, startJob, stopJob } from "./helpers.ts";

describe("REST API: metrics of incremental checkpoints", () => {
  test("GET /metrics gives the latest checkpoint's checkpointed_size beside its state size (Flink's lastCheckpointSize, lastCheckpointFullSize)", async () => {
    const { job, url } = await startJob({ parallelism: 1, state: { backend: "heap", incremental: true } });
    try {
      let d = await job.triggerCheckpoint();
      // The first is a base; a later one writes a changelog of the few keys changed since.
      for (let i = 0; i < 5 && d.checkpointed_size === d.state_size; i++) d = await job.triggerCheckpoint();
      assert.ok(d.checkpointed_size < d.state_size, `${d.checkpointed_size} of ${d.state_size}`);
      const text = (await api(url, "/metrics")).body as string;
      const value = (name: string) => {
        const lines = text.split("\n").filter((l) => l.startsWith(`${name}{`) && l.includes(`job_id="${job.id}"`));
        assert.equal(lines.length, 1, name);
        return Number(lines[0].split(" ")[1]);
      };
      assert.equal(value("weir_checkpoint_last_id"), d.id);
      assert.equal(value("weir_checkpoint_last_size_bytes"), d.state_size);
      assert.equal(value("weir_checkpoint_last_checkpointed_size_bytes"), d.checkpointed_size);
    } finally {
      await stopJob(job);
    }
  });
});
