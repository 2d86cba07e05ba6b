/**
 * How the job master reaches a remote host (Flink's `TaskExecutorGateway`) and how the
 * host's reports come back (Flink's `JobMasterGateway`): a connection per execution
 * attempt carrying the messages of messages.ts in order, in both directions. A
 * connection that breaks fails the attempt; the next attempt connects again, and a host
 * whose worker or object died is recreated there.
 * @module
 */
import type { ToHost, ToMaster } from "./messages.ts";

/** What the master hands a connection: where the host's messages go. */
export interface ControlHandlers {
  /** A message from the host, in the order the host sent it. */
  deliver(message: ToMaster): void;
  /** The host died, or a message could not be delivered either way: the attempt fails with `error`. */
  failed(error: unknown): void;
}

/** The master's end of one connection to a host, for one execution attempt. */
export interface TaskExecutorGateway {
  /**
   * Hands a message to the host; messages arrive in sending order.
   * @throws anything: the message could not be sent (the attempt fails).
   */
  send(message: ToHost): void;
  /** No more messages either way; idempotent. The host stops what the attempt ran there. */
  close(): void;
}

/** A host that runs subtasks the master does not hold in memory. */
export interface RemoteHost {
  /** The name `hostOf()` returns for the subtasks it runs. */
  readonly hostId: string;
  /** Opens a connection for one execution attempt (a host that failed before is recreated). */
  connect(handlers: ControlHandlers): TaskExecutorGateway;
  /**
   * The master gave up on this host (it did not answer a deploy in time): the host stops
   * what it runs, and the next connect starts it anew (a Worker is terminated and started
   * again). Optional: a host without it is connected again as it is.
   */
  abandon?(): void;
}
