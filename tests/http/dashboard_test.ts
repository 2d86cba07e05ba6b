/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core. Skips
 * (saying why) when /usr/bin/chromium is missing. Runs under Bun and under Deno.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { api, startFanOutJob, startJob, stopJob } from "./helpers.ts";

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
      assert.deepEqual(await edgesOf(page), ["v0->v1 HASH"]);
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

  test("in headless Chromium: the job graph follows plan edges, fanning out into columns and in", { timeout: 60_000 }, async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing (apt-get install -y chromium); the dashboard was not tested in a browser`);
      return;
    }
    const { chromium } = await import("playwright-core");
    const profile = mkdtempSync(join(tmpdir(), "weir-chromium-"));
    const { job, url } = await startFanOutJob();
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));
      await page.goto(`${url}/#${job.id}`);
      await waitFor(async () => (await page.locator("#job-graph g.vertex").count()) === 4, "the graph's four vertices");
      assert.deepEqual(await edgesOf(page), ["v0->v1 HASH", "v0->v2 REBALANCE", "v1->v3 REBALANCE"]);
      // Boxes by vertex id: the source alone in the first column, both of its consumers in
      // the second (one above the other), the sum's sink in the third.
      const boxes = Object.fromEntries(await page.locator("#job-graph g.vertex").evaluateAll((gs) => gs.map((g) => {
        const r = g.querySelector("rect")!;
        return [g.getAttribute("data-vertex-id")!, { x: Number(r.getAttribute("x")), y: Number(r.getAttribute("y")), w: Number(r.getAttribute("width")) }];
      }))) as Record<string, { x: number; y: number; w: number }>;
      assert.equal(boxes.v1.x, boxes.v2.x);
      assert.notEqual(boxes.v1.y, boxes.v2.y);
      assert.ok(boxes.v0.x < boxes.v1.x && boxes.v1.x < boxes.v3.x, JSON.stringify(boxes));
      // Every edge leaves its source's right side and ends at its target's left side.
      const ends = await page.locator("#job-graph g.edge").evaluateAll((gs) => gs.map((g) => {
        const [line, head] = Array.from(g.querySelectorAll("path"), (p) => p.getAttribute("d")!.match(/^M(-?[\d.]+) /)![1]);
        return { source: g.getAttribute("data-source")!, target: g.getAttribute("data-target")!, x1: Number(line), x2: Number(head) };
      }));
      for (const e of ends) {
        assert.equal(e.x1, boxes[e.source].x + boxes[e.source].w, `${e.source}->${e.target} starts at the source`);
        assert.ok(Math.abs(e.x2 - boxes[e.target].x) <= 2, `${e.source}->${e.target} ends at the target`);
      }

      // The dataflow API has no union yet, so fan-in is drawn from a plan edited on its way
      // to the page: the sum's sink also reads the side vertex.
      const fanIn = await browser.newPage();
      fanIn.on("pageerror", (e) => pageErrors.push(e.message));
      await fanIn.route((u) => u.pathname === `/jobs/${job.id}`, async (route) => {
        const res = await route.fetch();
        const body = await res.json();
        body.plan.nodes[3].inputs.push({ num: 1, id: body.vertices[2].id, ship_strategy: "FORWARD", exchange: "pipelined_bounded" });
        await route.fulfill({ response: res, json: body });
      });
      await fanIn.goto(`${url}/#${job.id}`);
      await waitFor(async () => (await fanIn.locator("#job-graph g.edge").count()) === 4, "the fan-in edge");
      assert.deepEqual(await edgesOf(fanIn), ["v0->v1 HASH", "v0->v2 REBALANCE", "v1->v3 REBALANCE", "v2->v3 FORWARD"]);
      const heads = await fanIn.locator('#job-graph g.edge[data-target="v3"] path:last-of-type').evaluateAll((ps) => ps.map((p) => p.getAttribute("d")));
      assert.notEqual(heads[0], heads[1], "two inputs of one vertex end at different points");
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await stopJob(job);
      rmSync(profile, { recursive: true, force: true });
    }
  });
});

/** The graph's edges as "source->target STRATEGY", in drawing order. */
async function edgesOf(page: import("playwright-core").Page): Promise<string[]> {
  return await page.locator("#job-graph g.edge").evaluateAll((gs) => gs.map((g) => `${g.getAttribute("data-source")}->${g.getAttribute("data-target")} ${g.getAttribute("data-ship-strategy")}`));
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
