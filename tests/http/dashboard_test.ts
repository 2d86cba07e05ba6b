/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core. Skips
 * (saying why) when /usr/bin/chromium is missing. Runs under Bun and under Deno.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, startJob, stopJob } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

describe("dashboard", () => {
  test("GET / serves the page with a restrictive content security policy", async () => {
    const { job, url } = await startJob();
    try {
      const res = await api(url, "/");
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'none'.*connect-src 'self'/);
      for (const id of ["job-graph", "checkpoint-chart", "failures", "trigger-checkpoint"]) assert.ok((res.body as string).includes(`id="${id}"`), id);
    } finally {
      await stopJob(job);
    }
  });

  test("in headless Chromium: the page loads, the chart shows completed checkpoints, the button triggers one", { timeout: 60_000 }, async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing (apt-get install -y chromium); the dashboard was not tested in a browser`);
      return;
    }
    const { chromium } = await import("playwright-core");
    const profile = mkdtempSync(join(tmpdir(), "weir-chromium-"));
    const { job, url } = await startJob({ parallelism: 2 });
    // playwright refuses --user-data-dir in args; a persistent context on a fresh directory is the same thing.
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));
      await page.goto(`${url}/#${job.id}`);

      const completedBars = page.locator('#checkpoint-chart rect.checkpoint-bar[data-lane="duration"][data-status="COMPLETED"]');
      await waitFor(async () => (await completedBars.count()) === 2, "the chart to show two completed checkpoints");
      assert.deepEqual(await completedBars.evaluateAll((bars) => bars.map((b) => `${b.getAttribute("data-checkpoint-id")}:${b.getAttribute("data-type")}`)), ["1:CHECKPOINT", "2:CHECKPOINT"]);
      for (const lane of ["size", "in-flight"]) assert.equal(await page.locator(`#checkpoint-chart rect.checkpoint-bar[data-lane="${lane}"]`).count(), 2, lane);

      assert.equal(await page.locator("#job-graph g.vertex").count(), 2);
      await waitFor(async () => (await page.locator('#job-graph rect.subtask:not([data-level="unknown"])').count()) === 4, "per-subtask backpressure in the graph");
      assert.equal(await page.locator("#job-status").textContent(), "RUNNING");
      assert.equal(await page.locator("#failures").textContent(), "No failures");

      await page.click("#trigger-checkpoint");
      await waitFor(async () => (await page.locator("#trigger-status").textContent()) === "Checkpoint 3 completed", "the button's checkpoint to complete");
      assert.equal(job.checkpointStats().counts.completed, 3);
      await waitFor(async () => (await completedBars.count()) === 3, "the chart to show the third checkpoint");
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await stopJob(job);
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
