/**
 * The one place that opens NATS connections for connectors (NatsJetStreamSource,
 * NatsJetStreamSink), through the official NATS clients `@nats-io/transport-node` and
 * `@nats-io/jetstream` (v3, maintained by the NATS authors; the node transport uses
 * node:net, which Bun and Deno both provide).
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { WeirError, invalidOption } from "../../errors.ts";

export type { JetStreamClient, JetStreamManager, NatsConnection };

/** An open NATS connection with its JetStream views. */
export interface NatsClient {
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The servers, as given, for messages. */
  readonly servers: string[];
  close(): Promise<void>;
}

/**
 * Checks `servers`: a URL (`nats://host:port`) or `host:port` string, or a non-empty array
 * of them. Returns the list.
 *
 * @throws {WeirError} `invalid_option` naming the option and the value.
 * @example
 * ```ts
 * import { checkNatsServers } from "./nats.ts";
 * console.assert(checkNatsServers("127.0.0.1:4222").length === 1);
 * ```
 */
export function checkNatsServers(servers: unknown, option = "servers"): string[] {
  const list = typeof servers === "string" ? [servers] : servers;
  const ok = Array.isArray(list) && list.length > 0 && list.every((s) => {
    if (typeof s !== "string" || s.length === 0) return false;
    try {
      const u = new URL(s.includes("://") ? s : `nats://${s}`);
      return ["nats:", "tls:", "ws:", "wss:"].includes(u.protocol) && u.hostname.length > 0;
    } catch {
      return false;
    }
  });
  if (!ok) throw invalidOption(option, servers, 'must be a NATS server ("nats://127.0.0.1:4222" or "127.0.0.1:4222") or a non-empty array of them');
  return list as string[];
}

/**
 * Connects to NATS and opens JetStream. The connection does not reconnect by itself: a
 * server that goes away fails the connector's subtask and the job's restart strategy
 * retries with its own backoff (one retry policy, not two stacked).
 *
 * @throws {WeirError} `invalid_option` for bad servers; `connector_unavailable` naming the
 *   servers when none answers within `connectTimeoutMs` (default 5000) or JetStream is off.
 * @example
 * ```ts ignore
 * import { connectNats } from "./nats.ts";
 * const nats = await connectNats("127.0.0.1:4222");
 * await nats.jsm.streams.list().next();
 * await nats.close();
 * ```
 */
export async function connectNats(servers: string | string[], options: { option?: string; connectTimeoutMs?: number } = {}): Promise<NatsClient> {
  const list = checkNatsServers(servers, options.option);
  let connection: NatsConnection;
  try {
    connection = await connect({ servers: list, reconnect: false, timeout: options.connectTimeoutMs ?? 5000, name: "weir" });
  } catch (e) {
    throw natsUnavailable(list, e);
  }
  try {
    const jsm = await jetstreamManager(connection, { timeout: options.connectTimeoutMs ?? 5000 });
    const js = jetstream(connection);
    return { connection, js, jsm, servers: list, close: () => connection.close() };
  } catch (e) {
    await connection.close().catch(() => {});
    throw natsUnavailable(list, e, "has no JetStream");
  }
}

/** The `connector_unavailable` error for NATS servers, naming them. */
export function natsUnavailable(servers: string[], cause: unknown, what = "is unavailable"): WeirError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new WeirError("connector_unavailable", `NATS server ${servers.join(", ")} ${what}: ${why}`, { cause });
}

/**
 * Whether a JetStream stream exists.
 * @throws {WeirError} `connector_unavailable` when the server does not answer.
 */
export async function natsStreamExists(client: NatsClient, stream: string): Promise<boolean> {
  try {
    await client.jsm.streams.info(stream);
    return true;
  } catch (e) {
    if (/stream not found/i.test((e as Error).message ?? "") || (e as { code?: unknown }).code === 10059 || (e as { api_error?: { err_code?: number } }).api_error?.err_code === 10059) return false;
    throw natsUnavailable(client.servers, e);
  }
}
