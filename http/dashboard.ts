/**
 * The dashboard at GET /: one self-contained page (HTML, CSS, JavaScript, SVG) served by
 * the same app as the REST API, with no build step. It shows the job graph (drawn from
 * the edges in GET /jobs/:jobid's `plan`, so fan-out and fan-in show) with per-subtask
 * backpressure, the checkpoint history (duration, size, in-flight bytes;
 * aligned, unaligned and savepoints in their own colours), failures with their reasons,
 * and a button that triggers a checkpoint.
 * @module
 */
import { DASHBOARD_JS } from "./dashboard/script.ts";
import { DASHBOARD_CSS } from "./dashboard/style.ts";

/**
 * Only this page's own inline script and style may run, and it may only talk to this
 * origin: the page shows user-provided names and messages, so nothing else gets in.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:";

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
<style>${DASHBOARD_CSS}</style>
</head>
<body>
<header>
  <h1>weir</h1>
  <select id="job-select" aria-label="Job"></select>
  <span id="job-status" class="badge">…</span>
  <span class="spacer"></span>
  <span id="trigger-status" role="status"></span>
  <button id="trigger-checkpoint" type="button">Trigger checkpoint</button>
</header>
<main>
  <div id="error" role="alert"></div>
  <section><h2>Job</h2><div id="stats" class="stats"></div></section>
  <section>
    <h2>Job graph</h2>
    <div class="legend"><span><i style="background:var(--ok)"></i>ok (≤10% backpressured)</span><span><i style="background:var(--low)"></i>low (≤50%)</span><span><i style="background:var(--high)"></i>high</span></div>
    <svg id="job-graph" width="100%" role="img" aria-label="Job graph"></svg>
  </section>
  <section>
    <h2>Checkpoint history</h2>
    <div class="legend"><span><i style="background:var(--aligned)"></i>aligned</span><span><i style="background:var(--unaligned)"></i>unaligned</span><span><i style="background:var(--savepoint)"></i>savepoint</span><span><i style="background:var(--failed)"></i>failed</span></div>
    <svg id="checkpoint-chart" width="100%" role="img" aria-label="Checkpoint history"></svg>
  </section>
  <section><h2>Failures</h2><div id="failures"></div></section>
</main>
<script>${DASHBOARD_JS}</script>
</body>
</html>`;
}
