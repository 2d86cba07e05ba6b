/**
 * The dashboard's checkpoint tab, as Flink's web UI has it: Overview (counts, latest
 * completed, savepoint, failure and restore, savepoint paths), History (one row per
 * checkpoint with a drill-down per operator and, below that, per subtask: sync and async
 * duration, alignment, start delay, unaligned), Summary (min/avg/max) and Configuration.
 * Browser code, joined into the page's script by script.ts; it uses the core's helpers.
 * @module
 */

/** JavaScript of the checkpoint tab (runs in the browser). */
export const DASHBOARD_CHECKPOINTS_JS: string = String.raw`
const TYPE_LABEL = { CHECKPOINT: "Checkpoint", UNALIGNED_CHECKPOINT: "Unaligned checkpoint", SAVEPOINT: "Savepoint", SYNC_SAVEPOINT: "Savepoint (stop)" };
const cpState = { open: new Map(), signature: "", rendering: false, again: false, history: [] };

function initCheckpointTabs() {
  for (const tab of document.querySelectorAll("#checkpoints [role=tab]")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll("#checkpoints [role=tab]")) {
        t.setAttribute("aria-selected", String(t === tab));
        $(t.dataset.panel).hidden = t !== tab;
      }
    });
  }
}

function resetCheckpointTab() {
  cpState.open = new Map();
  cpState.signature = "";
  cpState.history = [];
}

function table(headers, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, ...headers.map(([label, num]) => h("th", { class: num ? "num" : undefined }, label)))), h("tbody", {}, ...rows));
}
function cell(col, text, num) { return h("td", { "data-col": col, class: num ? "num" : undefined }, String(text)); }
function kv(pairs) {
  const dl = h("dl", { class: "kv" });
  for (const [k, v, id] of pairs) dl.append(h("dt", {}, k), h("dd", { id }, v));
  return dl;
}

function drawCheckpointTab(job, cps, config) {
  drawOverview(cps);
  drawSummary(cps.summary);
  drawConfig(config);
  cpState.history = cps.history;
  renderHistory();
}

function drawOverview(cps) {
  const c = cps.counts, l = cps.latest;
  const describeCp = (d) => d ? "#" + d.id + " at " + clock(d.trigger_timestamp) + ", " + ms(d.end_to_end_duration) + ", " + bytes(d.checkpointed_size) + (d.external_path ? " → " + d.external_path : "") : "None";
  const restore = l.restored ? "#" + l.restored.id + (l.restored.is_savepoint ? " (savepoint)" : " (checkpoint)") + " at " + clock(l.restored.restore_timestamp) + " from " + l.restored.external_path : "None";
  const failed = l.failed ? "#" + l.failed.id + " at " + clock(l.failed.failure_timestamp) + ": " + (l.failed.failure_message || l.failed.failure_reason || "unknown") : "None";
  const paths = new Set();
  for (const d of [l.savepoint, ...cps.history]) if (d && d.is_savepoint && d.status === "COMPLETED" && d.external_path) paths.add(d.external_path);
  for (const p of actionState.savepoints) paths.add(p);
  const list = paths.size ? h("ul", { class: "paths", id: "savepoint-paths" }, ...[...paths].map((p) => h("li", {}, p))) : h("p", { class: "empty", id: "savepoint-paths" }, "No savepoints yet");
  $("cp-overview").replaceChildren(
    kv([
      ["Checkpoint counts", "Triggered: " + c.total + " · In progress: " + c.in_progress + " · Completed: " + c.completed + " · Failed: " + c.failed + " · Restored: " + c.restored, "cp-counts"],
      ["Latest completed checkpoint", describeCp(l.completed), "cp-latest-completed"],
      ["Latest savepoint", describeCp(l.savepoint), "cp-latest-savepoint"],
      ["Latest failure", failed, "cp-latest-failed"],
      ["Latest restore", restore, "cp-latest-restore"],
    ]),
    h("h3", {}, "Savepoint paths"),
    list,
  );
}

function drawSummary(s) {
  const rows = [["End to end duration", "end_to_end_duration", ms], ["Checkpointed data size", "checkpointed_size", bytes], ["Full checkpoint data size", "state_size", bytes],
    ["Processed in-flight data", "processed_data", bytes], ["Persisted in-flight data", "persisted_data", bytes]];
  $("cp-summary").replaceChildren(table([["", false], ["Minimum", true], ["Average", true], ["Maximum", true]], rows.map(([label, key, fmt]) => {
    const x = s[key] || { min: 0, avg: 0, max: 0 };
    return h("tr", { "data-stat": key }, h("th", {}, label), cell("min", fmt(x.min), true), cell("avg", fmt(x.avg), true), cell("max", fmt(x.max), true));
  }), { id: "cp-summary-table" }));
}

function drawConfig(c) {
  if (!c) { $("cp-config").replaceChildren(h("p", { class: "empty" }, "No configuration")); return; }
  const yes = (b) => (b ? "Enabled" : "Disabled");
  const rows = [["Checkpointing mode", c.mode === "exactly_once" ? "Exactly once" : "At least once"], ["Interval", c.interval > 0 ? ms(c.interval) : "Periodic checkpoints disabled"],
    ["Timeout", ms(c.timeout)], ["Minimum pause between checkpoints", ms(c.min_pause)], ["Maximum concurrent checkpoints", c.max_concurrent],
    ["Unaligned checkpoints", yes(c.unaligned_checkpoints)], ["Aligned checkpoint timeout", ms(c.aligned_checkpoint_timeout)],
    ["Tolerable failed checkpoints", c.tolerable_failed_checkpoints], ["Retained checkpoints", c.retained_checkpoints],
    ["Persist checkpoints externally", c.externalization && c.externalization.enabled ? "Enabled (retained on cancellation)" : "Disabled"],
    ["Checkpoint storage", c.checkpoint_storage], ["State backend", c.state_backend]];
  $("cp-config").replaceChildren(table([["Option", false], ["Value", false]], rows.map(([k, v]) => h("tr", {}, h("th", {}, k), cell("value", v === undefined ? "-" : v))), { id: "cp-config-table" }));
}

function toggle(id, vertexId) {
  if (vertexId === undefined) { if (cpState.open.has(id)) cpState.open.delete(id); else cpState.open.set(id, new Set()); }
  else { const s = cpState.open.get(id); if (s.has(vertexId)) s.delete(vertexId); else s.add(vertexId); }
  cpState.signature = "";
  renderHistory();
}

// Rebuilt only when a checkpoint or an open drill-down changed, so a reader's place holds.
async function renderHistory() {
  const history = cpState.history;
  const signature = JSON.stringify([history.map((d) => [d.id, d.status, d.num_acknowledged_subtasks]), [...cpState.open].map(([k, v]) => [k, [...v]])]);
  if (signature === cpState.signature) return;
  if (cpState.rendering) { cpState.again = true; return; }
  cpState.rendering = true;
  try {
    const base = "/jobs/" + state.jobId + "/checkpoints/details/";
    const rows = [];
    for (const d of history) {
      const open = cpState.open.has(d.id);
      rows.push(h("tr", { class: "checkpoint-row", "data-checkpoint-id": d.id, "data-status": d.status, "data-type": d.checkpoint_type },
        h("td", {}, h("button", { type: "button", class: "expand", "aria-expanded": String(open), "aria-label": "Details of checkpoint " + d.id, onclick: () => toggle(d.id) }, open ? "▾" : "▸")),
        cell("id", d.id, true), cell("status", d.status), cell("type", TYPE_LABEL[d.checkpoint_type] || d.checkpoint_type), cell("trigger", clock(d.trigger_timestamp)),
        cell("acknowledged", d.num_acknowledged_subtasks + "/" + d.num_subtasks, true), cell("latest-ack", clock(d.latest_ack_timestamp)),
        cell("duration", ms(d.end_to_end_duration), true), cell("checkpointed", bytes(d.checkpointed_size), true), cell("full", bytes(d.state_size), true),
        cell("in-flight", bytes(d.processed_data) + " / " + bytes(d.persisted_data), true)));
      if (open) rows.push(h("tr", { class: "drill" }, h("td", { colspan: 11 }, await operatorTable(base, d))));
    }
    const headers = [["", false], ["ID", true], ["Status", false], ["Type", false], ["Trigger time", false], ["Acknowledged", true], ["Latest acknowledgement", false],
      ["End to end duration", true], ["Checkpointed data size", true], ["Full checkpoint data size", true], ["Processed / persisted in-flight data", true]];
    $("cp-history").replaceChildren(history.length ? table(headers, rows, { id: "cp-history-table" }) : h("p", { class: "empty" }, "No checkpoints yet"));
    cpState.signature = signature;
  } catch (e) {
    $("cp-history").replaceChildren(h("p", { class: "empty" }, "Cannot load checkpoint details: " + e.message));
  } finally {
    cpState.rendering = false;
    if (cpState.again) { cpState.again = false; renderHistory(); }
  }
}

async function operatorTable(base, summary) {
  const d = await getJson(base + summary.id);
  const rows = [];
  for (const [vertexId, t] of Object.entries(d.tasks)) {
    const open = cpState.open.get(summary.id).has(vertexId);
    const name = (state.vertexNames && state.vertexNames.get(vertexId)) || vertexId;
    rows.push(h("tr", { class: "task-row", "data-vertex-id": vertexId },
      h("td", {}, h("button", { type: "button", class: "expand", "aria-expanded": String(open), "aria-label": "Subtasks of " + name, onclick: () => toggle(summary.id, vertexId) }, open ? "▾" : "▸")),
      cell("name", name), cell("status", t.status), cell("acknowledged", t.num_acknowledged_subtasks + "/" + t.num_subtasks, true), cell("latest-ack", clock(t.latest_ack_timestamp)),
      cell("duration", ms(t.end_to_end_duration), true), cell("checkpointed", bytes(t.checkpointed_size), true), cell("full", bytes(t.state_size), true),
      cell("in-flight", bytes(t.persisted_data), true), cell("alignment", ms(t.alignment_duration_max), true), cell("start-delay", ms(t.start_delay_max), true),
      cell("unaligned", t.unaligned_subtasks + "/" + t.num_subtasks, true)));
    if (open) rows.push(h("tr", { class: "drill" }, h("td", { colspan: 12 }, await subtaskTable(base, summary.id, vertexId))));
  }
  return table([["", false], ["Operator", false], ["Status", false], ["Acknowledged", true], ["Latest acknowledgement", false], ["End to end duration", true],
    ["Checkpointed data size", true], ["Full checkpoint data size", true], ["Persisted in-flight data", true], ["Max alignment", true], ["Max start delay", true], ["Unaligned", true]],
    rows, { class: "operators", "data-checkpoint-id": summary.id });
}

async function subtaskTable(base, id, vertexId) {
  const t = await getJson(base + id + "/subtasks/" + vertexId);
  const rows = t.subtasks.map((s) => {
    const done = s.className === "completed";
    const v = (f) => (done ? f() : "-");
    return h("tr", { class: "subtask-row", "data-subtask": s.index, "data-status": s.status },
      cell("index", s.index, true), cell("status", done ? "Completed" : "Pending"), cell("ack", v(() => clock(s.ack_timestamp))), cell("duration", v(() => ms(s.end_to_end_duration)), true),
      cell("checkpointed", v(() => bytes(s.checkpointed_size)), true), cell("full", v(() => bytes(s.state_size)), true),
      cell("sync", v(() => ms(s.checkpoint.sync)), true), cell("async", v(() => ms(s.checkpoint.async)), true),
      cell("alignment", v(() => ms(s.alignment.duration)), true), cell("alignment-persisted", v(() => bytes(s.alignment.persisted)), true),
      cell("start-delay", v(() => ms(s.start_delay)), true), cell("unaligned", v(() => (s.unaligned_checkpoint ? "Yes" : "No"))));
  });
  return table([["Subtask", true], ["Status", false], ["Acknowledged at", false], ["End to end duration", true], ["Checkpointed data size", true], ["Full checkpoint data size", true],
    ["Sync duration", true], ["Async duration", true], ["Alignment duration", true], ["Persisted in-flight data", true], ["Start delay", true], ["Unaligned", false]],
    rows, { class: "subtasks", "data-vertex-id": vertexId });
}
`;
