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
      for (const id of ["job-graph", "checkpoint-chart", "failures", "trigger-checkpoint", "trigger-savepoint", "stop-with-savepoint", "cancel-job", "throughput", "cp-history"]) assert.ok((res.body as string).includes(`id="${id}"`), id);
      const uplot = await api(url, "/assets/uplot.js");
      assert.equal(uplot.status, 200);
      assert.match(uplot.headers.get("content-type") ?? "", /^text\/javascript/);
      assert.match(uplot.body as string, /uPlot/);
      assert.equal((await api(url, "/assets/uplot.css")).status, 200);
      assert.equal((await api(url, "/assets/secret.txt")).status, 404);
    } finally {
      await stopJob(job);
    }
  });

  test("in headless Chromium: every panel shows real data: graph, throughput, checkpoint overview, history with drill-down, summary, configuration", { timeout: 120_000 }, async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing (apt-get install -y chromium); the dashboard was not tested in a browser`);
      return;
    }
    const { chromium } = await import("playwright-core");
    const profile = mkdtempSync(join(tmpdir(), "weir-chromium-"));
    const savepoints = mkdtempSync(join(tmpdir(), "weir-dashboard-sp-"));
    const { job, url } = await startJob({ parallelism: 2 });
    // playwright refuses --user-data-dir in args; a persistent context on a fresh directory is the same thing.
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
    try {
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      assert.equal((await job.triggerCheckpoint()).status, "COMPLETED");
      const savepoint = (await job.triggerSavepoint(savepoints)).external_path!;
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));
      await page.goto(`${url}/#${job.id}`);

      // The weir chart of checkpoint durations, sizes and in-flight data.
      const completedBars = page.locator('#checkpoint-chart rect.checkpoint-bar[data-lane="duration"][data-status="COMPLETED"]');
      await waitFor(async () => (await completedBars.count()) === 3, "the chart to show three completed checkpoints");
      assert.deepEqual(await completedBars.evaluateAll((bars) => bars.map((b) => `${b.getAttribute("data-checkpoint-id")}:${b.getAttribute("data-type")}`)), ["1:CHECKPOINT", "2:CHECKPOINT", "3:SAVEPOINT"]);
      for (const lane of ["size", "in-flight"]) assert.equal(await page.locator(`#checkpoint-chart rect.checkpoint-bar[data-lane="${lane}"]`).count(), 3, lane);

      assert.equal(await page.locator("#job-graph g.vertex").count(), 2);
      assert.deepEqual(await edgesOf(page), ["v0->v1 HASH"]);
      await waitFor(async () => (await page.locator('#job-graph rect.subtask:not([data-level="unknown"])').count()) === 4, "per-subtask backpressure in the graph");
      assert.equal(await page.locator("#job-status").textContent(), "RUNNING");
      assert.equal(await page.locator("#failures").textContent(), "No failures");

      // Records per second in and out per vertex, drawn by uPlot from /assets/.
      await waitFor(async () => Number(await page.locator("#throughput").getAttribute("data-samples")) >= 3 && Number(await page.locator("#throughput").getAttribute("data-max-rate")) > 0, "records per second in the throughput chart");
      assert.equal(await page.locator("#throughput canvas").count() > 0, true);
      const legend = await page.locator("#throughput .u-legend").textContent();
      for (const v of job.vertices()) for (const dir of ["in", "out"]) assert.ok(legend!.includes(`${v.name} ${dir}`), `${v.name} ${dir} in the legend: ${legend}`);

      // Overview: counts, latest checkpoint, savepoint and restore, savepoint paths.
      assert.match(await page.locator("#cp-counts").textContent() ?? "", /Completed: 3 · Failed: 0 · Restored: 0/);
      assert.match(await page.locator("#cp-latest-completed").textContent() ?? "", /^#2 at /);
      assert.ok((await page.locator("#cp-latest-savepoint").textContent())!.includes(savepoint));
      assert.equal(await page.locator("#cp-latest-restore").textContent(), "None");
      assert.deepEqual(await page.locator("#savepoint-paths li").allTextContents(), [savepoint]);

      // History, and the drill-down per operator and per subtask.
      await page.click("#cp-tab-history");
      const rows = page.locator("#cp-history-table tr.checkpoint-row");
      await waitFor(async () => (await rows.count()) === 3, "three history rows");
      const first = page.locator('#cp-history-table tr.checkpoint-row[data-checkpoint-id="1"]');
      assert.equal(await first.locator('td[data-col="acknowledged"]').textContent(), "4/4");
      assert.equal(await first.locator('td[data-col="type"]').textContent(), "Checkpoint");
      assert.equal(await first.locator('td[data-col="status"]').textContent(), "COMPLETED");
      assert.equal(await page.locator('#cp-history-table tr.checkpoint-row[data-checkpoint-id="3"] td[data-col="type"]').textContent(), "Savepoint");
      await first.locator("button.expand").click();
      const operators = page.locator('table.operators[data-checkpoint-id="1"] tr.task-row');
      await waitFor(async () => (await operators.count()) === 2, "the operators of checkpoint 1");
      assert.deepEqual(await operators.locator('td[data-col="name"]').allTextContents(), job.vertices().map((v) => v.name));
      await operators.first().locator("button.expand").click();
      const subtasks = page.locator("table.subtasks tr.subtask-row");
      await waitFor(async () => (await subtasks.count()) === 2, "the subtasks of the first operator");
      for (const col of ["sync", "async", "alignment", "start-delay"]) assert.match(await subtasks.first().locator(`td[data-col="${col}"]`).textContent() ?? "", /^\d+(\.\d)? m?s$/, col);
      assert.equal(await subtasks.first().locator('td[data-col="unaligned"]').textContent(), "No");
      await page.screenshot({ path: join(tmpdir(), "weir-dashboard-history.png"), fullPage: true });

      // Summary and configuration.
      await page.click("#cp-tab-summary");
      assert.equal(await page.locator("#cp-summary-table tr[data-stat]").count(), 5);
      assert.notEqual(await page.locator('#cp-summary-table tr[data-stat="end_to_end_duration"] td[data-col="max"]').textContent(), "-");
      await page.click("#cp-tab-config");
      const mode = page.locator("#cp-config-table tr", { hasText: "Checkpointing mode" }).locator('td[data-col="value"]');
      assert.equal(await mode.textContent(), "Exactly once");
      await page.click("#cp-tab-overview");

      // Labels are never clipped: no element's text is wider than its box.
      const clipped = await page.evaluate(() => Array.from(document.querySelectorAll("th, td, button, label, dt, dd, h2, h3, .badge, .legend span"))
        .filter((e) => (e as HTMLElement).offsetParent !== null && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible")
        .map((e) => `${e.tagName} ${e.textContent}`));
      assert.deepEqual(clipped, []);
      await page.screenshot({ path: join(tmpdir(), "weir-dashboard.png"), fullPage: true });

      await page.click("#trigger-checkpoint");
      await waitFor(async () => (await page.locator("#trigger-status").textContent()) === "Checkpoint 4 completed", "the button's checkpoint to complete");
      assert.equal(job.checkpointStats().counts.completed, 4);
      await waitFor(async () => (await completedBars.count()) === 4, "the chart to show the fourth checkpoint");
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await stopJob(job);
      rmSync(profile, { recursive: true, force: true });
      rmSync(savepoints, { recursive: true, force: true });
    }
  });

  test("in headless Chromium: the buttons take a savepoint, stop with a savepoint and cancel, with the token the API asks for", { timeout: 120_000 }, async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing (apt-get install -y chromium); the dashboard was not tested in a browser`);
      return;
    }
    const { chromium } = await import("playwright-core");
    const profile = mkdtempSync(join(tmpdir(), "weir-chromium-"));
    const savepoints = mkdtempSync(join(tmpdir(), "weir-dashboard-sp-"));
    const stopped = await startJob({ token: "s3cret", jobName: "dashboard-stop" });
    const canceled = await startJob({ token: "s3cret", jobName: "dashboard-cancel" });
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(e.message));
      const dialogs: string[] = [];
      page.on("dialog", (d) => { dialogs.push(d.message()); void d.accept(); });
      await page.goto(`${stopped.url}/#${stopped.job.id}`);
      await waitFor(async () => await page.locator("#token-field").isVisible(), "the token field (the API has a token)");
      await waitFor(async () => (await page.locator("#job-status").textContent()) === "RUNNING", "the job's status");

      // Without the token nothing happens, and the page says why.
      await page.click("#trigger-checkpoint");
      await waitFor(async () => /needs its bearer token/.test(await page.locator("#trigger-status").textContent() ?? ""), "the refusal");
      assert.equal(stopped.job.checkpointStats().counts.total, 0);

      await page.fill("#token", "s3cret");
      await page.click("#trigger-savepoint");
      await waitFor(async () => /enter a savepoint directory first/.test(await page.locator("#trigger-status").textContent() ?? ""), "the missing directory");
      await page.fill("#savepoint-dir", savepoints);
      await page.click("#trigger-savepoint");
      await waitFor(async () => /^Savepoint completed at /.test(await page.locator("#trigger-status").textContent() ?? ""), "the savepoint");
      const location = (await page.locator("#trigger-status").textContent())!.replace("Savepoint completed at ", "");
      assert.ok(existsSync(join(location, "_metadata")), location);
      await waitFor(async () => (await page.locator("#savepoint-paths li").allTextContents()).includes(location), "the savepoint's path in the overview");
      assert.equal(stopped.job.status, "RUNNING");

      await page.click("#stop-with-savepoint");
      await waitFor(async () => /^Job stopped with a savepoint at /.test(await page.locator("#trigger-status").textContent() ?? ""), "the stop");
      const result = await stopped.job.done;
      assert.equal(result.status, "stopped");
      assert.equal(await page.locator("#trigger-status").textContent(), `Job stopped with a savepoint at ${result.savepoint}`);
      await waitFor(async () => (await page.locator("#job-status").textContent()) === "FINISHED", "FINISHED in the badge");
      assert.match(await page.locator("#stats").textContent() ?? "", /FINISHED \(stopped\)/);

      await page.goto(`${canceled.url}/#${canceled.job.id}`);
      await waitFor(async () => (await page.locator("#job-status").textContent()) === "RUNNING", "the second job's status");
      // Another port is another origin: the browser keeps the token per origin.
      await page.fill("#token", "s3cret");
      await page.click("#cancel-job");
      await waitFor(async () => (await page.locator("#trigger-status").textContent()) === "Job canceled", "the cancel");
      assert.equal((await canceled.job.done).status, "canceled");
      assert.equal(dialogs.length, 2, "stop and cancel asked first");
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await stopJob(stopped.job);
      await stopJob(canceled.job);
      rmSync(profile, { recursive: true, force: true });
      rmSync(savepoints, { recursive: true, force: true });
    }
  });

  test("in headless Chromium: panels show a loading state until the API answered", { timeout: 60_000 }, async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is missing (apt-get install -y chromium); the dashboard was not tested in a browser`);
      return;
    }
    const { chromium } = await import("playwright-core");
    const profile = mkdtempSync(join(tmpdir(), "weir-chromium-"));
    const { job, url } = await startJob();
    const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      await page.route((u) => u.pathname === `/jobs/${job.id}/checkpoints`, async (route) => {
        await held;
        await route.continue();
      });
      await page.goto(`${url}/#${job.id}`);
      for (const id of ["stats", "throughput", "cp-overview", "failures"]) {
        await waitFor(async () => (await page.locator(`#${id} .loading`).count()) === 1, `a loading state in #${id}`);
      }
      assert.equal(await page.locator("#cp-overview .loading").textContent(), "Loading…");
      release();
      await waitFor(async () => (await page.locator("#cp-overview .loading").count()) === 0 && (await page.locator("#cp-counts").count()) === 1, "the overview to replace its loading state");
      assert.equal(await page.locator("#failures .loading").count(), 0);
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
