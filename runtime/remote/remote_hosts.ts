/**
 * The job master's side of the remote hosts of one execution attempt: deploys each
 * host's subtasks with what they restore, forwards the coordinator's calls to every host,
 * and turns the hosts' reports back into SubtaskHost calls on the execution (Flink's
 * `Execution.deploy` → `TaskExecutorGateway.submitTask`, and the `JobMasterGateway`
 * calls coming back).
 * @module
 */
import type { Timer } from "../../actors/time.ts";
import type { SubtaskAddress } from "../../actors/transport.ts";
import type { LoadedCheckpoint } from "../../checkpoint/restore.ts";
import type { JobGraph } from "../../dataflow/job_graph.ts";
import { WeirError, type WeirErrorCode } from "../../errors.ts";
import type { PlainTuning } from "../subtask_builder.ts";
import { type SubtaskMetrics, zeroMetrics } from "../subtask_metrics.ts";
import type { SubtaskHost } from "../subtask_host.ts";
import type { RemoteHost, TaskExecutorGateway } from "./gateway.ts";
import type { DeployedRestore, GraphFingerprint, ToHost, ToMaster, WireError } from "./messages.ts";

/** The execution as the remote hosts' reports reach it. */
export interface RemoteHostsOwner extends SubtaskHost {
  readonly attempt: number;
  readonly running: boolean;
}

/** What the master deploys from. */
export interface RemoteHostsInit {
  graph: JobGraph;
  jobName: string;
  jobId: string;
  tuning: PlainTuning;
  /** The `description` of the job's storage, sent with each deploy (TaskExecutorInit.sameStorage). */
  storage: string;
  /** The remote host that runs a subtask; undefined: it runs in the master's process. */
  remoteOf(subtask: SubtaskAddress): RemoteHost | undefined;
  /**
   * Milliseconds of the owner's clock a deploying host may stay silent (its reports start
   * with the deploy, before its restore); one that neither answered `deploy` nor reported
   * for that long fails the attempt with `deploy_timeout` and is abandoned (default 60 000).
   */
  deployTimeoutMs?: number;
  /** How often each host reports its subtasks' figures, in ms of its clock (default 1000). */
  metricsIntervalMs?: number;
  /**
   * Milliseconds of the owner's clock a running host may stay silent (its metrics reports
   * are the heartbeat) before the attempt fails with `host_failed` and the host is
   * abandoned (default: 50 000 or 10 metrics intervals, whichever is longer; Flink's
   * `heartbeat.timeout` is 50 s).
   */
  heartbeatTimeoutMs?: number;
}

/** The heartbeat timeout unless set, at the default metrics interval (Flink's `heartbeat.timeout`). */
export const HEARTBEAT_TIMEOUT_MS_DEFAULT = 50_000;

/** How long a host may take to build and restore its subtasks unless set: restored state travels in the deploy. */
export const DEPLOY_TIMEOUT_MS_DEFAULT = 60_000;

/** One host's connection for this attempt and what it runs. */
interface Connected {
  host: RemoteHost;
  gateway: TaskExecutorGateway | undefined;
  subtasks: SubtaskAddress[];
  deployed: boolean;
  /** When the host's latest message arrived (the owner's clock). */
  lastHeard: number;
}

/** The remote hosts of one execution attempt; see the module documentation. */
export class RemoteHosts {
  readonly #owner: RemoteHostsOwner;
  readonly #init: RemoteHostsInit;
  readonly #hosts = new Map<string, Connected>();
  #closed = false;
  #deployedCount = 0;
  #allDeployed: (() => void) | undefined;
  #deployTimer: Timer | undefined;
  #heartbeatTimer: Timer | undefined;
  /** The latest figures of every remote subtask, by vertex id and subtask index (0 until its host reports). */
  readonly #metrics = new Map<string, Map<number, SubtaskMetrics>>();

  constructor(owner: RemoteHostsOwner, init: RemoteHostsInit) {
    this.#owner = owner;
    this.#init = init;
    for (const v of init.graph.vertices) {
      for (let i = 0; i < v.parallelism; i++) {
        const address = { vertexId: v.id, subtaskIndex: i };
        const host = init.remoteOf(address);
        if (!host) continue;
        let c = this.#hosts.get(host.hostId);
        if (!c) this.#hosts.set(host.hostId, (c = { host, gateway: undefined, subtasks: [], deployed: false, lastHeard: 0 }));
        if (c.host !== host) throw new WeirError("invalid_option", `Two remote hosts are named "${host.hostId}"`);
        c.subtasks.push(address);
        let byIndex = this.#metrics.get(v.id);
        if (!byIndex) this.#metrics.set(v.id, (byIndex = new Map()));
        byIndex.set(i, zeroMetrics(i));
      }
    }
  }

  /** Hosts that run subtasks of this attempt. */
  get size(): number {
    return this.#hosts.size;
  }

  /**
   * Connects every host and deploys its subtasks with where `restore` lives (each host
   * reads its own part there); resolves once every host answered `deployed`, or once the
   * attempt stopped (a host failed, or one did not answer within `deployTimeoutMs`: the
   * attempt fails with `deploy_timeout`).
   * @throws {WeirError} `invariant_broken` for a restore that does not say where it lives.
   */
  deploy(restore: LoadedCheckpoint | undefined, restoredCheckpointId: number): Promise<void> {
    const g = this.#init.graph;
    let where: DeployedRestore | undefined;
    if (restore) {
      if (!restore.home) throw new WeirError("invariant_broken", `Checkpoint ${restore.metadata.checkpointId} at ${restore.location} was loaded without its home: remote hosts cannot read it`);
      where = { home: restore.home, checkpointId: restore.metadata.checkpointId, transactionsCommitted: restore.transactionsCommitted };
    }
    const fingerprint: GraphFingerprint = { maxParallelism: g.maxParallelism, vertices: g.vertices.map((v) => ({ id: v.id, parallelism: v.parallelism, uids: [...v.uids] })) };
    const done = new Promise<void>((resolve) => (this.#allDeployed = resolve));
    const timeoutMs = this.#init.deployTimeoutMs ?? DEPLOY_TIMEOUT_MS_DEFAULT;
    if (this.#hosts.size > 0) this.#deployTimer = this.#owner.scheduler.after(timeoutMs, () => this.#deployTimedOut(timeoutMs));
    for (const c of this.#hosts.values()) {
      if (this.#closed) break;
      c.lastHeard = this.#owner.clock.now();
      c.gateway = c.host.connect({
        deliver: (m) => this.#received(c, m),
        failed: (e) => this.#hostFailed(c, e),
      });
      const subtasks = c.subtasks.map((s) => ({ vertexId: s.vertexId, subtaskIndex: s.subtaskIndex }));
      this.#sendTo(c, {
        kind: "deploy",
        attempt: this.#owner.attempt,
        jobId: this.#init.jobId,
        jobName: this.#init.jobName,
        graph: fingerprint,
        subtasks,
        tuning: this.#init.tuning,
        restoredCheckpointId,
        storage: this.#init.storage,
        ...(this.#init.metricsIntervalMs !== undefined ? { metricsIntervalMs: this.#init.metricsIntervalMs } : {}),
        ...(where ? { restore: where } : {}),
      });
    }
    if (this.#hosts.size === 0 || this.#closed) this.#allDeployed?.();
    return done;
  }

  /**
   * Hosts still deploying that sent nothing for `timeoutMs` are abandoned (a hung Worker is
   * terminated) and the attempt fails; one that reports while it restores is waited for.
   */
  #deployTimedOut(timeoutMs: number): void {
    this.#deployTimer = undefined;
    if (this.#closed) return;
    const now = this.#owner.clock.now();
    const deploying = [...this.#hosts.values()].filter((c) => !c.deployed);
    const silent = deploying.filter((c) => now - c.lastHeard >= timeoutMs);
    if (silent.length === 0) {
      if (deploying.length === 0) return;
      const next = Math.min(...deploying.map((c) => c.lastHeard)) + timeoutMs - now;
      this.#deployTimer = this.#owner.scheduler.after(Math.max(1, next), () => this.#deployTimedOut(timeoutMs));
      return;
    }
    for (const c of silent) c.host.abandon?.();
    const names = silent.map((c) => c.host.hostId).join(", ");
    this.#owner.failed(
      `remote host ${silent[0].host.hostId}`,
      new WeirError("deploy_timeout", `Remote host${silent.length > 1 ? "s" : ""} ${names} did not answer the deploy of attempt ${this.#owner.attempt} and sent nothing for ${timeoutMs} ms (runtime.deployTimeoutMs): dead or hung`),
    );
  }

  /** The remote subtasks of a vertex with their hosts' latest figures. */
  metricsOf(vertexId: string): SubtaskMetrics[] {
    return [...(this.#metrics.get(vertexId)?.values() ?? [])];
  }

  /** Every host deployed: their subtasks run, and each must be heard from within the heartbeat timeout. */
  start(): void {
    this.send({ kind: "start", attempt: this.#owner.attempt });
    if (this.#hosts.size === 0 || this.#closed) return;
    const timeoutMs = this.#init.heartbeatTimeoutMs ?? Math.max(HEARTBEAT_TIMEOUT_MS_DEFAULT, 10 * (this.#init.metricsIntervalMs ?? 1_000));
    const now = this.#owner.clock.now();
    for (const c of this.#hosts.values()) c.lastHeard = now;
    this.#checkHeartbeats(timeoutMs);
  }

  /** Checks twice per timeout: a silent host is found at most 1.5 timeouts after its last message. */
  #checkHeartbeats(timeoutMs: number): void {
    this.#heartbeatTimer = this.#owner.scheduler.after(timeoutMs / 2, () => {
      if (this.#closed) return;
      const now = this.#owner.clock.now();
      // Every silent host goes, not the first found: a hung one left alive would be sent the
      // next attempt's deploy and hold it up for the whole deploy timeout.
      const silent = [...this.#hosts.values()].filter((c) => now - c.lastHeard > timeoutMs);
      if (silent.length === 0) return this.#checkHeartbeats(timeoutMs);
      for (const c of silent) c.host.abandon?.();
      const named = silent.map((c) => `${c.host.hostId} sent nothing for ${Math.round(now - c.lastHeard)} ms`).join(", ");
      this.#owner.failed(
        `remote host ${silent[0].host.hostId}`,
        new WeirError("host_failed", `Remote host${silent.length > 1 ? "s" : ""} ${named} (runtime.heartbeatTimeoutMs ${timeoutMs}): dead or hung`),
      );
    });
  }

  /** Sends a message to every host of the attempt. */
  send(message: ToHost): void {
    for (const c of this.#hosts.values()) this.#sendTo(c, message);
  }

  /** The attempt stopped: every host cancels its subtasks; the connections close. */
  cancel(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deployTimer?.cancel();
    this.#heartbeatTimer?.cancel();
    for (const c of this.#hosts.values()) {
      if (!c.gateway) continue;
      try {
        c.gateway.send({ kind: "cancel", attempt: this.#owner.attempt });
      } catch { /* a host that cannot hear the cancel is gone anyway */ }
      c.gateway.close();
    }
    this.#allDeployed?.();
  }

  #sendTo(c: Connected, message: ToHost): void {
    if (this.#closed || !c.gateway) return;
    try {
      c.gateway.send(message);
    } catch (e) {
      this.#hostFailed(c, e);
    }
  }

  #hostFailed(c: Connected, e: unknown): void {
    if (this.#closed) return;
    const message = e instanceof Error ? e.message : String(e);
    this.#owner.failed(`remote host ${c.host.hostId}`, new WeirError("host_failed", `Remote host ${c.host.hostId} failed: ${message}`, { cause: e }));
  }

  #received(c: Connected, m: ToMaster): void {
    const owner = this.#owner;
    if (this.#closed || m.attempt !== owner.attempt || !owner.running) return;
    c.lastHeard = owner.clock.now();
    switch (m.kind) {
      case "deployed":
        if (c.deployed) return;
        c.deployed = true;
        if (++this.#deployedCount === this.#hosts.size) {
          this.#deployTimer?.cancel();
          this.#allDeployed?.();
        }
        return;
      case "acknowledge":
        return owner.acknowledge(m.ack);
      case "decline":
        return owner.decline(m.checkpointId, m.reason, m.message);
      case "failed":
        return owner.failed(m.subtaskName, errorFromWire(m.error));
      case "sourceFinished":
        return owner.sourceFinished(m.subtask.vertexId, m.subtask.subtaskIndex);
      case "inputEnded":
        return owner.inputEnded(m.subtask.vertexId, m.subtask.subtaskIndex);
      case "finalCommitted":
        return owner.finalCommitted(m.subtask.vertexId, m.subtask.subtaskIndex);
      case "metrics":
        for (const { vertexId, ...figures } of m.subtasks) {
          // Only a subtask this host runs: a report cannot add subtasks to the overview.
          const byIndex = this.#metrics.get(vertexId);
          if (byIndex?.has(figures.index) && c.subtasks.some((s) => s.vertexId === vertexId && s.subtaskIndex === figures.index)) byIndex.set(figures.index, figures);
        }
        return;
      case "writeState": {
        const { requestId, attempt } = m;
        owner.writeState(m.vertexId, m.subtaskIndex, m.checkpointId, [m.bytes]).then(
          (key) => this.#sendTo(c, { kind: "stateWritten", attempt, requestId, key }),
          (e) => this.#sendTo(c, { kind: "stateWriteFailed", attempt, requestId, message: e instanceof Error ? e.message : String(e) }),
        );
        return;
      }
      default:
        throw new WeirError("invariant_broken", `Unknown host message kind ${JSON.stringify((m as { kind?: unknown }).kind)}`);
    }
  }
}

/** The error a host reported, as the attempt fails with it. */
export function errorFromWire(w: WireError): Error {
  if (w.code !== undefined) return new WeirError(w.code as WeirErrorCode, w.message);
  const e = new Error(w.message);
  e.name = w.name;
  return e;
}
