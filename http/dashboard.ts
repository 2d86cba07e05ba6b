/**
 * The dashboard at GET /: one page (HTML, CSS, JavaScript, SVG) served by the same app as
 * the REST API, with no build step. It shows the job graph (drawn from the edges in GET
 * /jobs/:jobid's `plan`, so fan-out and fan-in show) with per-subtask backpressure, records
 * per second in and out per vertex over time (uPlot, served from /assets/), Flink's
 * checkpoint tab (overview with the latest restore and savepoint paths, history with a
 * drill-down per operator and subtask, summary, configuration), failures with their
 * reasons, and buttons for checkpoint, savepoint, stop-with-savepoint and cancel.
 * @module
 */
import { DASHBOARD_JS } from "./dashboard/script.ts";
import { DASHBOARD_CSS } from "./dashboard/style.ts";

/**
 * Only this page's own scripts and styles (inline, and uPlot from /assets/) may run, and it
 * may only talk to this origin: the page shows user-provided names and messages, so nothing
 * else gets in.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:";

const LOADING = '<p class="loading">Loading…</p>';

/**
 * The dashboard page.
 *
 * @example
 * ```ts
 * import { dashboardHtml } from "./dashboard.ts";
 * console.assert(dashboardHtml().includes('id="trigger-checkpoint"'));
 * ```
 */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>weir dashboard</title>
<link rel="stylesheet" href="/assets/uplot.css">
<style>${DASHBOARD_CSS}</style>
</head>
<body>
<header>
  <h1>weir</h1>
  <select id="job-select" aria-label="Job"></select>
  <span id="job-status" class="badge">…</span>
  <span class="spacer"></span>
  <label id="token-field" hidden>Token <input id="token" type="password" autocomplete="off" size="14"></label>
</header>
<div id="actions" class="actions">
  <button id="trigger-checkpoint" type="button">Trigger checkpoint</button>
  <label>Savepoint directory <input id="savepoint-dir" type="text" size="28" placeholder="e.g. /var/weir/savepoints"></label>
  <button id="trigger-savepoint" type="button">Trigger savepoint</button>
  <button id="stop-with-savepoint" type="button">Stop with savepoint</button>
  <button id="cancel-job" type="button" class="danger">Cancel job</button>
  <span id="trigger-status" role="status"></span>
</div>
<main>
  <div id="error" role="alert"></div>
  <section><h2>Job</h2><div id="stats" class="stats">${LOADING}</div></section>
  <section>
    <h2>Job graph</h2>
    <div class="legend"><span><i style="background:var(--ok)"></i>ok (≤10% backpressured)</span><span><i style="background:var(--low)"></i>low (≤50%)</span><span><i style="background:var(--high)"></i>high</span></div>
    <div id="job-graph-box" class="scroll"><p class="loading">Loading…</p><svg id="job-graph" width="100%" role="img" aria-label="Job graph"></svg></div>
  </section>
  <section>
    <h2>Records per second</h2>
    <div id="throughput" class="chart">${LOADING}</div>
  </section>
  <section id="checkpoints">
    <h2>Checkpoints</h2>
    <nav class="tabs" role="tablist">
      <button type="button" role="tab" id="cp-tab-overview" data-panel="cp-overview" aria-selected="true">Overview</button>
      <button type="button" role="tab" id="cp-tab-history" data-panel="cp-history" aria-selected="false">History</button>
      <button type="button" role="tab" id="cp-tab-summary" data-panel="cp-summary" aria-selected="false">Summary</button>
      <button type="button" role="tab" id="cp-tab-config" data-panel="cp-config" aria-selected="false">Configuration</button>
    </nav>
    <div id="cp-overview" role="tabpanel" class="panel">${LOADING}</div>
    <div id="cp-history" role="tabpanel" class="panel scroll" hidden>${LOADING}</div>
    <div id="cp-summary" role="tabpanel" class="panel scroll" hidden>${LOADING}</div>
    <div id="cp-config" role="tabpanel" class="panel scroll" hidden>${LOADING}</div>
    <h3>Duration, size and in-flight data per checkpoint</h3>
    <div class="legend"><span><i style="background:var(--aligned)"></i>aligned</span><span><i style="background:var(--unaligned)"></i>unaligned</span><span><i style="background:var(--savepoint)"></i>savepoint</span><span><i style="background:var(--failed)"></i>failed</span></div>
    <svg id="checkpoint-chart" width="100%" role="img" aria-label="Checkpoint history"></svg>
  </section>
  <section><h2>Failures</h2><div id="failures">${LOADING}</div></section>
</main>
<script src="/assets/uplot.js"></script>
<script>${DASHBOARD_JS}</script>
</body>
</html>`;
}
