/**
 * The dashboard's browser script, inlined into the page: the core (state, requests, the
 * job graph, the checkpoint chart, failures, the refresh loop) joined with the checkpoint
 * tab, the throughput chart and the action buttons from their own files. It polls the REST
 * API every second and builds every element through DOM calls (never innerHTML), so names
 * and failure messages cannot inject markup.
 * @module
 */
import { DASHBOARD_ACTIONS_JS } from "./actions.ts";
import { DASHBOARD_CHECKPOINTS_JS } from "./checkpoint_tab.ts";
import { DASHBOARD_THROUGHPUT_JS } from "./throughput.ts";

const CORE_JS = String.raw`
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const LEVEL_COLOR = { ok: "var(--ok)", low: "var(--low)", high: "var(--high)" };
const TYPE_COLOR = { CHECKPOINT: "var(--aligned)", UNALIGNED_CHECKPOINT: "var(--unaligned)", SAVEPOINT: "var(--savepoint)" };
const state = { jobId: location.hash.slice(1) || null, token: sessionStorage.getItem("weir-token"), loadedJob: null, busy: false };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
// An HTML element; children are nodes or strings (as text, never markup).
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== undefined && c !== null) e.append(c);
  return e;
}
function loading() { return h("p", { class: "loading" }, "Loading…"); }
function bytes(n) {
  if (n === undefined || n === null) return "-";
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB"]; let v = n / 1024, i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return v.toFixed(1) + " " + u[i];
}
function ms(n) { return n === undefined || n === null ? "-" : n < 1000 ? Math.round(n) + " ms" : (n / 1000).toFixed(1) + " s"; }
function clock(t) { return t > 0 ? new Date(t).toLocaleTimeString() : "-"; }

async function getJson(path) {
  const res = await fetch(path, { headers: { accept: "application/json" } });
  const body = await res.json();
  if (!res.ok) throw new Error((body.errors || []).join("; ") || ("HTTP " + res.status));
  return body;
}
// A mutating request with the bearer token when one is set; throws with the API's message.
async function send(method, path, body) {
  const headers = { accept: "application/json" };
  if (state.token) headers.authorization = "Bearer " + state.token;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const parsed = await res.json().catch(() => ({}));
  if (res.status === 401) {
    $("token-field").hidden = false;
    throw new Error("this API needs its bearer token (WEIR_TOKEN): enter it in the Token field");
  }
  if (!res.ok) throw new Error((parsed.errors || []).join("; ") || ("HTTP " + res.status));
  return parsed;
}

// Columns by longest path from a source, so every edge points right; a vertex sits in the
// rows of its column ordered by where its inputs sit, which keeps fan-in edges short.
function layoutGraph(vs, inputsOf) {
  const col = new Map();
  const columnOf = (id, depth) => {
    if (col.has(id)) return col.get(id);
    // The plan is acyclic; the depth bound only keeps a malformed one from looping.
    const ins = depth > vs.length ? [] : inputsOf(id);
    const c = ins.length === 0 ? 0 : 1 + Math.max(...ins.map((i) => columnOf(i.id, depth + 1)));
    col.set(id, c);
    return c;
  };
  vs.forEach((v) => columnOf(v.id, 0));
  const columns = [];
  vs.forEach((v, i) => { const c = col.get(v.id); (columns[c] = columns[c] || []).push({ v, i }); });
  const row = new Map();
  columns.forEach((members) => {
    const key = (m) => { const ins = inputsOf(m.v.id).filter((x) => row.has(x.id)); return ins.length ? ins.reduce((n, x) => n + row.get(x.id), 0) / ins.length : m.i; };
    members.map((m) => ({ m, k: key(m) })).sort((a, b) => a.k - b.k || a.m.i - b.m.i).forEach(({ m }, r) => row.set(m.v.id, r));
  });
  return { col, row, columns: columns.length, rows: Math.max(1, ...columns.map((m) => (m || []).length)) };
}

function drawGraph(job, bp) {
  const svg = $("job-graph");
  for (const p of $("job-graph-box").querySelectorAll(".loading")) p.remove();
  svg.replaceChildren();
  const vs = job.vertices;
  // Vertices are keyed by Flink's 32-hex ids; the page labels its elements with weir's short ones.
  const short = new Map(vs.map((v) => [v.id, v["weir-id"] || v.id]));
  const nodes = new Map(((job.plan && job.plan.nodes) || []).map((n) => [n.id, n]));
  const inputsOf = (id) => ((nodes.get(id) || {}).inputs || []).filter((i) => vs.some((v) => v.id === i.id));
  const { col, row, columns, rows } = layoutGraph(vs, inputsOf);
  const boxW = 260, gap = 110, vgap = 30, pad = 10;
  const lines = Math.max(1, ...vs.map((v) => Math.ceil(v.parallelism / 8)));
  const boxH = 70 + lines * 22;
  const width = Math.max(400, 2 * pad + columns * boxW + (columns - 1) * gap), height = 2 * pad + rows * boxH + (rows - 1) * vgap;
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  svg.setAttribute("height", String(height));
  const at = (id) => ({ x: pad + col.get(id) * (boxW + gap), y: pad + row.get(id) * (boxH + vgap) });
  // Several edges leaving or entering one box spread along its side instead of overlapping.
  const outs = new Map();
  vs.forEach((v) => inputsOf(v.id).forEach((i) => outs.set(i.id, (outs.get(i.id) || []).concat([v.id]))));
  outs.forEach((targets) => targets.sort((p, q) => row.get(p) - row.get(q)));
  const spread = (k, n) => (k - (n - 1) / 2) * Math.min(16, (boxH - 20) / Math.max(1, n));
  vs.forEach((v) => {
    const ins = inputsOf(v.id).sort((p, q) => row.get(p.id) - row.get(q.id));
    ins.forEach((input, k) => {
      const a = at(input.id), b = at(v.id), fan = outs.get(input.id);
      const x1 = a.x + boxW, y1 = a.y + boxH / 2 + spread(fan.indexOf(v.id), fan.length);
      const x2 = b.x - 2, y2 = b.y + boxH / 2 + spread(k, ins.length);
      const mid = (x1 + x2) / 2;
      const g = el("g", { class: "edge", "data-source": short.get(input.id), "data-target": short.get(v.id), "data-ship-strategy": input.ship_strategy });
      g.append(el("path", { d: "M" + x1 + " " + y1 + " C" + mid + " " + y1 + " " + mid + " " + y2 + " " + (x2 - 8) + " " + y2, fill: "none", stroke: "var(--dim)", "stroke-width": 2 }));
      g.append(el("path", { d: "M" + x2 + " " + y2 + " l-9 -5 v10 z", fill: "var(--dim)" }));
      g.append(el("text", { x: mid, y: (y1 + y2) / 2 - 6, "text-anchor": "middle", class: "dim" }, input.ship_strategy));
      svg.append(g);
    });
  });
  vs.forEach((v) => {
    const { x, y } = at(v.id);
    const g = el("g", { class: "vertex", "data-vertex-id": short.get(v.id), "data-column": col.get(v.id), "data-row": row.get(v.id) });
    const level = bp && bp.vertices.find((b) => b.id === v.id);
    g.append(el("rect", { x, y, width: boxW, height: boxH, rx: 8, fill: "#10171d", stroke: level ? LEVEL_COLOR[level["backpressure-level"]] : "var(--line)", "stroke-width": 2 }));
    g.append(el("text", { x: x + 10, y: y + 20, "font-weight": 600 }, v.name.length > 34 ? v.name.slice(0, 33) + "…" : v.name));
    g.append(el("text", { x: x + 10, y: y + 38, class: "dim" }, "parallelism " + v.parallelism + " · in " + v.metrics["read-records"] + " · out " + v.metrics["write-records"]));
    g.append(el("text", { x: x + 10, y: y + 56, class: "dim" }, "queued " + v.metrics["queued-batches"] + " · buffered " + v.metrics["output-buffered"]));
    v.subtasks.forEach((s, k) => {
      const b = level && level.subtasks.find((q) => q.subtask === s.subtask);
      const sx = x + 10 + (k % 8) * 25, sy = y + 64 + Math.floor(k / 8) * 22;
      const r = el("rect", { x: sx, y: sy, width: 20, height: 18, rx: 3, class: "subtask", "data-level": b ? b["backpressure-level"] : "unknown", fill: b ? LEVEL_COLOR[b["backpressure-level"]] : "var(--line)" });
      r.append(el("title", {}, "subtask " + s.subtask + (b ? ": backpressured " + Math.round(b.ratio * 100) + "%, busy " + Math.round(b.busyRatio * 100) + "%, idle " + Math.round(b.idleRatio * 100) + "%" : "")));
      g.append(r);
    });
    g.prepend(el("title", {}, v.name));
    svg.append(g);
  });
}

function drawChart(history) {
  const svg = $("checkpoint-chart");
  svg.replaceChildren();
  const items = history.slice().reverse().slice(-60);
  // The left margin holds the lane labels ("max 1023.9 KiB") whole.
  const W = 900, laneH = 90, top = 14, left = 120;
  const lanes = [["duration", (h) => h.end_to_end_duration, ms], ["size", (h) => h.state_size, bytes], ["in-flight", (h) => h.persisted_data, bytes]];
  svg.setAttribute("viewBox", "0 0 " + W + " " + (lanes.length * (laneH + top) + 24));
  if (items.length === 0) {
    svg.append(el("text", { x: left, y: 40, class: "dim" }, "No checkpoints yet"));
    return;
  }
  const bw = Math.max(3, Math.min(24, (W - left - 10) / items.length - 3));
  lanes.forEach(([label, value, fmt], li) => {
    const y0 = li * (laneH + top) + top;
    const peak = Math.max(0, ...items.map(value));
    // The scale never collapses to zero, so a lane of zeros draws flat bars instead of dividing by zero.
    const max = Math.max(1, peak);
    svg.append(el("text", { x: 4, y: y0 + 12, class: "dim" }, label));
    svg.append(el("text", { x: 4, y: y0 + 28, class: "dim" }, "max " + fmt(peak)));
    svg.append(el("line", { x1: left, y1: y0 + laneH, x2: W - 4, y2: y0 + laneH, stroke: "var(--line)" }));
    items.forEach((h, i) => {
      const v = value(h), bh = h.status === "IN_PROGRESS" ? 2 : Math.max(1, (v / max) * (laneH - 4));
      const x = left + 4 + i * (bw + 3);
      const fill = h.status === "FAILED" ? "var(--failed)" : TYPE_COLOR[h.checkpoint_type] || "var(--dim)";
      const r = el("rect", { x, y: y0 + laneH - bh, width: bw, height: bh, fill, opacity: h.status === "IN_PROGRESS" ? 0.4 : 1, class: "checkpoint-bar",
        "data-lane": label, "data-checkpoint-id": h.id, "data-type": h.checkpoint_type, "data-status": h.status });
      r.append(el("title", {}, "#" + h.id + " " + h.checkpoint_type + " " + h.status + ": " + label + " " + fmt(v) + (h.failure_message ? " (" + h.failure_message + ")" : "")));
      svg.append(r);
      if (li === lanes.length - 1 && (items.length <= 30 || i % 5 === 0)) svg.append(el("text", { x: x + bw / 2, y: y0 + laneH + 14, "text-anchor": "middle", class: "dim" }, String(h.id)));
    });
  });
}

function drawFailures(history, exceptions) {
  const box = $("failures");
  const list = document.createElement("ul");
  for (const e of exceptions.exceptionHistory.entries) {
    const li = document.createElement("li");
    li.className = "job-exception";
    const when = document.createElement("span"); when.className = "when"; when.textContent = clock(e.timestamp);
    li.append(when, (e.kind === "restart" ? "Restarted after " : "Job failed: ") + e.exceptionName + ": " + e.message);
    list.append(li);
  }
  for (const h of history.filter((c) => c.status === "FAILED")) {
    const li = document.createElement("li");
    li.className = "checkpoint-failure";
    const when = document.createElement("span"); when.className = "when"; when.textContent = clock(h.failure_timestamp || h.trigger_timestamp);
    li.append(when, "Checkpoint " + h.id + " failed (" + (h.failure_reason || "unknown") + "): " + (h.failure_message || ""));
    list.append(li);
  }
  if (list.childElementCount === 0) {
    const p = document.createElement("p"); p.className = "empty"; p.textContent = "No failures";
    box.replaceChildren(p);
  } else box.replaceChildren(list);
}

function drawStats(job, cps) {
  const c = cps.counts, latest = cps.latest.completed;
  const weirStatus = job["weir-status"] && job["weir-status"] !== job.state ? " (" + job["weir-status"].toLowerCase() + ")" : "";
  const items = [["status", job.state + weirStatus], ["restarts", job.restarts], ["completed", c.completed], ["failed", c.failed], ["in progress", c.in_progress],
    ["latest", latest ? "#" + latest.id + " in " + ms(latest.end_to_end_duration) + ", " + bytes(latest.state_size) : "-"]];
  $("stats").replaceChildren(...items.map(([k, v]) => { const s = document.createElement("span"); const b = document.createElement("b"); b.textContent = String(v); s.append(k + " ", b); return s; }));
  const badge = $("job-status"); badge.textContent = job.state; badge.className = "badge " + job.state;
  if (!state.busy) for (const id of ["trigger-checkpoint", "trigger-savepoint", "stop-with-savepoint", "cancel-job"]) $(id).disabled = job.state !== "RUNNING";
}

async function refreshJobs() {
  const { jobs } = await getJson("/jobs");
  const select = $("job-select");
  if (!state.jobId || !jobs.some((j) => j.id === state.jobId)) {
    const running = jobs.filter((j) => j.status === "RUNNING");
    state.jobId = (running[running.length - 1] || jobs[jobs.length - 1] || {}).id || null;
  }
  select.replaceChildren(...jobs.map((j) => { const o = document.createElement("option"); o.value = j.id; o.textContent = j.name + " · " + j.id.slice(0, 8) + " · " + j.status; o.selected = j.id === state.jobId; return o; }));
}

async function refresh() {
  try {
    await refreshJobs();
    if (!state.jobId) { $("error").textContent = "No jobs yet"; return; }
    const base = "/jobs/" + state.jobId;
    if (state.loadedJob !== state.jobId) showLoading();
    const [job, cps, exceptions] = await Promise.all([getJson(base), getJson(base + "/checkpoints"), getJson(base + "/exceptions")]);
    const bp = job.state === "RUNNING" ? await getJson(base + "/backpressure").catch(() => null) : null;
    if (state.loadedJob !== state.jobId) {
      state.config = await getJson(base + "/checkpoints/config").catch(() => null);
      state.loadedJob = state.jobId;
    }
    drawStats(job, cps);
    drawGraph(job, bp);
    drawChart(cps.history);
    drawFailures(cps.history, exceptions);
    state.vertexNames = new Map(job.vertices.map((v) => [v.id, v.name]));
    drawCheckpointTab(job, cps, state.config);
    await drawThroughput(job);
    $("error").textContent = "";
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  } catch (e) {
    $("error").textContent = "Cannot reach the REST API: " + e.message;
  }
}

// One refresh loop: refreshNow() runs the next refresh at once (a job switch, an action that
// ended) instead of starting a second loop. After a stop the server of an ended job stays up
// only about a second, so the final status must be read right away, not at the next tick.
const refreshLoop = { timer: null, running: null, again: false };
function refreshNow() {
  clearTimeout(refreshLoop.timer);
  if (refreshLoop.running) { refreshLoop.again = true; return refreshLoop.running; }
  refreshLoop.running = refresh().finally(() => {
    refreshLoop.running = null;
    if (refreshLoop.again) { refreshLoop.again = false; refreshNow(); } else refreshLoop.timer = setTimeout(refreshNow, 1000);
  });
  return refreshLoop.running;
}

// A job switch shows loading panels until its data arrived, never the previous job's.
function showLoading() {
  for (const id of ["stats", "failures", "cp-overview", "cp-history", "cp-summary", "cp-config"]) $(id).replaceChildren(loading());
  $("job-graph").replaceChildren();
  resetThroughput();
  resetCheckpointTab();
}

$("job-select").addEventListener("change", (e) => { state.jobId = e.target.value; location.hash = state.jobId; refreshNow(); });
`;

const INIT_JS = String.raw`
initCheckpointTabs();
initActions();
getJson("/config").then((c) => { if (c["auth-required"]) $("token-field").hidden = false; }).catch(() => {});
refreshNow();
`;

/** JavaScript of the dashboard page (runs in the browser). */
export const DASHBOARD_JS: string = CORE_JS + DASHBOARD_CHECKPOINTS_JS + DASHBOARD_THROUGHPUT_JS + DASHBOARD_ACTIONS_JS + INIT_JS;
