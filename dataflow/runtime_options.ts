import { invalidOption } from "../errors.ts";

/** Every key of `RuntimeOptions` (environment.ts): anything else is a typo. */
const KNOWN_RUNTIME = new Set([
  "clock", "scheduler", "pick", "faults", "sliceSteps", "beforeStep", "jobId", "transport", "hostOf", "remoteHosts", "masterHost", "snapshotSliceMax", "deployTimeoutMs", "metricsIntervalMs", "heartbeatTimeoutMs",
]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/**
 * Checks `options.runtime` (tests, the simulator, remote hosts): unknown keys, hooks that
 * are not functions, and remote hosts that could not take part (runtime/remote/).
 *
 * @throws {WeirError} `invalid_option` naming the key: an unknown one; `hostOf`, `pick` or
 * `beforeStep` not a function; `transport` without openSender/openReceiver; `remoteHosts`
 * without `hostOf` (no subtask would be placed on them) or without `transport`, or an entry
 * that is not a RemoteHost, whose `hostId` differs from its key (channels are addressed by
 * the key), or that was built with another transport than `transport`.
 */
export function checkRuntimeOptions(runtime: unknown): void {
  if (runtime === undefined) return;
  if (!isObject(runtime)) throw invalidOption("runtime", runtime, "must be an object");
  for (const k of Object.keys(runtime)) if (!KNOWN_RUNTIME.has(k)) throw invalidOption(`runtime.${k}`, runtime[k], "is not a known runtime option");
  for (const k of ["hostOf", "pick", "beforeStep"]) {
    if (runtime[k] !== undefined && typeof runtime[k] !== "function") throw invalidOption(`runtime.${k}`, runtime[k], "must be a function");
  }
  const transport = runtime.transport;
  if (transport !== undefined && (!isObject(transport) || typeof transport.openSender !== "function" || typeof transport.openReceiver !== "function")) {
    throw invalidOption("runtime.transport", transport, "must be a Transport (openSender, openReceiver)");
  }
  for (const k of ["deployTimeoutMs", "metricsIntervalMs", "heartbeatTimeoutMs"]) {
    const ms = runtime[k];
    if (ms !== undefined && !(typeof ms === "number" && ms > 0 && Number.isFinite(ms))) throw invalidOption(`runtime.${k}`, ms, "must be a positive number of milliseconds");
  }
  const { metricsIntervalMs: every, heartbeatTimeoutMs: silence } = runtime as { metricsIntervalMs?: number; heartbeatTimeoutMs?: number };
  if (silence !== undefined && silence <= (every ?? 1_000)) {
    throw invalidOption("runtime.heartbeatTimeoutMs", silence, `must be longer than the metrics interval (${every ?? 1_000} ms): the metrics reports are the heartbeat`);
  }
  const hosts = runtime.remoteHosts;
  if (hosts === undefined) return;
  if (!isObject(hosts)) throw invalidOption("runtime.remoteHosts", hosts, "must be an object of RemoteHost by host id");
  if (runtime.hostOf === undefined) {
    throw invalidOption("runtime.remoteHosts", Object.keys(hosts), "needs runtime.hostOf: without it every subtask runs in this process and no remote host is used");
  }
  if (runtime.transport === undefined) {
    throw invalidOption("runtime.remoteHosts", Object.keys(hosts), "needs runtime.transport: the channels to and from remote hosts travel over it (for Worker threads, the WorkerThreadTransport the hosts were built with)");
  }
  for (const [id, host] of Object.entries(hosts)) {
    if (!isObject(host) || typeof host.connect !== "function") throw invalidOption(`runtime.remoteHosts.${id}`, host, "must be a RemoteHost (hostId, connect)");
    if (host.hostId !== id) throw invalidOption(`runtime.remoteHosts.${id}`, host.hostId, "must be keyed by its hostId");
    // A host that names its transport (a WorkerHost) reaches no subtask over another one.
    if ("transport" in host && host.transport !== runtime.transport) {
      throw invalidOption(`runtime.remoteHosts.${id}`, id, "was built with another transport than runtime.transport: give both the same one");
    }
  }
}
