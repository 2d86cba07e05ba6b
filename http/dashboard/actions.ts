/**
 * The dashboard's buttons: trigger a checkpoint, trigger a savepoint, stop with a savepoint
 * and cancel, each through the REST API with the bearer token when one is set, each
 * polled to its outcome and reported in the status line. Stop and cancel ask first.
 * Browser code, joined into the page's script by script.ts.
 * @module
 */

/** JavaScript of the action buttons (runs in the browser). */
export const DASHBOARD_ACTIONS_JS: string = String.raw`
const actionState = { savepoints: [] };

function initActions() {
  const token = $("token");
  token.value = state.token || "";
  token.addEventListener("input", () => {
    state.token = token.value || null;
    if (state.token) sessionStorage.setItem("weir-token", state.token); else sessionStorage.removeItem("weir-token");
  });
  $("trigger-checkpoint").addEventListener("click", () => act(triggerCheckpoint));
  $("trigger-savepoint").addEventListener("click", () => act(triggerSavepoint));
  $("stop-with-savepoint").addEventListener("click", () => act(stopWithSavepoint));
  $("cancel-job").addEventListener("click", () => act(cancelJob));
}

function say(text) { $("trigger-status").textContent = text; }

// One action at a time: the buttons stay disabled until it settled.
async function act(action) {
  const ids = ["trigger-checkpoint", "trigger-savepoint", "stop-with-savepoint", "cancel-job"];
  state.busy = true;
  for (const id of ids) $(id).disabled = true;
  try {
    await action();
  } catch (e) {
    say("Failed: " + e.message);
  } finally {
    state.busy = false;
    for (const id of ids) $(id).disabled = false;
    refreshNow();
  }
}

async function pollTrigger(path, what) {
  for (;;) {
    const t = await getJson(path);
    if (t.status.id === "COMPLETED") {
      if (t.operation["failure-cause"]) throw new Error(what + " failed: " + t.operation["failure-cause"].message);
      return t.operation;
    }
    say(what + " in progress…");
    await new Promise((r) => setTimeout(r, 200));
  }
}

function savepointDirectory() {
  const dir = $("savepoint-dir").value.trim();
  if (!dir) { $("savepoint-dir").focus(); throw new Error("enter a savepoint directory first"); }
  return dir;
}

async function triggerCheckpoint() {
  say("Triggering…");
  const base = "/jobs/" + state.jobId + "/checkpoints";
  const posted = await send("POST", base, {});
  const op = await pollTrigger(base + "/" + posted["request-id"], "Checkpoint");
  say("Checkpoint " + op.checkpointId + " completed");
}

async function triggerSavepoint() {
  const dir = savepointDirectory();
  say("Triggering a savepoint…");
  const base = "/jobs/" + state.jobId + "/savepoints";
  const posted = await send("POST", base, { "target-directory": dir });
  const op = await pollTrigger(base + "/" + posted["request-id"], "Savepoint");
  actionState.savepoints.push(op.location);
  say("Savepoint completed at " + op.location);
}

async function stopWithSavepoint() {
  const dir = savepointDirectory();
  if (!confirm("Stop job " + state.jobId + " with a savepoint into " + dir + "?")) return;
  say("Stopping with a savepoint…");
  const posted = await send("POST", "/jobs/" + state.jobId + "/stop", { targetDirectory: dir });
  const op = await pollTrigger("/jobs/" + state.jobId + "/savepoints/" + posted["request-id"], "Stop with savepoint");
  actionState.savepoints.push(op.location);
  say("Job stopped with a savepoint at " + op.location);
}

async function cancelJob() {
  if (!confirm("Cancel job " + state.jobId + "? Its state is kept only in its retained checkpoints.")) return;
  say("Cancelling…");
  const jobId = state.jobId;
  await send("PATCH", "/jobs/" + jobId + "?mode=cancel");
  for (;;) {
    const s = await getJson("/jobs/" + jobId + "/status");
    if (s.status === "CANCELED") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  say("Job canceled");
}
`;
