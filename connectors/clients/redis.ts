/**
 * The one place that opens Redis connections for connectors (RedisStreamSource,
 * RedisStreamSink), through ioredis: it runs unchanged on Bun and Deno (node:net), speaks
 * RESP2/3 with pipelining, and is among the most used Redis clients for Node.
 * @module
 */
import { Redis } from "ioredis";
import { WeirError, invalidOption } from "../../errors.ts";
import { answerWithin } from "./deadline.ts";

/** An open ioredis connection (the library's own type, re-exported for connectors). */
export type RedisClient = Redis;

/** Options of {@link connectRedis}. */
export interface RedisConnectOptions {
  /** Names the option that carried the URL in errors, e.g. "RedisStreamSource url". */
  option?: string;
  /** How long to wait for the connection, ready check included, in ms (default 5000). */
  connectTimeoutMs?: number;
  /**
   * How long a command may go unanswered, in ms (default 15 000): a stalled server (a
   * partition, a server that accepts and never answers) fails the command instead of
   * holding the subtask forever. Longer than any blocking read weir issues (100 ms).
   */
  commandTimeoutMs?: number;
}

/**
 * Checks a Redis URL (`redis://[user:pass@]host[:port][/db]` or `rediss://…`) and returns
 * it parsed; weir checks before connecting so a typo fails before the job starts.
 *
 * @throws {WeirError} `invalid_option` naming the option and the value.
 * @example
 * ```ts
 * import { checkRedisUrl } from "./redis.ts";
 * console.assert(checkRedisUrl("redis://127.0.0.1:6379").port === "6379");
 * ```
 */
export function checkRedisUrl(url: unknown, option = "url"): URL {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === "string" ? new URL(url) : undefined;
  } catch { /* reported below */ }
  if (!parsed || (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") || !parsed.hostname) {
    throw invalidOption(option, url, 'must be a Redis URL such as "redis://127.0.0.1:6379"');
  }
  return parsed;
}

/**
 * Opens one connection to the Redis server at `url` and waits until it is ready. The
 * connection does not queue commands while disconnected and does not reconnect by itself:
 * a server that goes away fails the command, the connector fails its subtask, and the
 * job's restart strategy decides when to try again (with its own backoff), so nothing
 * is retried twice by two layers.
 *
 * @throws {WeirError} `invalid_option` for a bad URL; `connector_unavailable` naming the
 *   server when it cannot be reached, or does not answer, within `connectTimeoutMs`.
 * @example
 * ```ts ignore
 * import { connectRedis } from "./redis.ts";
 * const redis = await connectRedis("redis://127.0.0.1:6379");
 * await redis.ping();
 * redis.disconnect();
 * ```
 */
export async function connectRedis(url: string, options: RedisConnectOptions = {}): Promise<RedisClient> {
  const parsed = checkRedisUrl(url, options.option);
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    commandTimeout: options.commandTimeoutMs ?? 15_000,
  });
  let lastError: unknown;
  // Without a listener ioredis prints every socket error as "Unhandled error event".
  client.on("error", (e) => {
    lastError = e;
  });
  try {
    // connectTimeout covers the TCP connect only, not the ready check after it.
    await answerWithin(client.connect(), options.connectTimeoutMs ?? 5000);
  } catch (e) {
    client.disconnect();
    throw redisUnavailable(parsed, lastError ?? e);
  }
  return client;
}

/** The `connector_unavailable` error for a Redis server, naming it (without a password); `stream_not_found` when it answered that the key is not a stream. */
export function redisUnavailable(url: URL | string, cause: unknown): WeirError {
  const u = typeof url === "string" ? new URL(url) : new URL(url.href);
  u.password = "";
  const why = cause instanceof Error ? cause.message : String(cause);
  // The server answered, and refused: the key is not a stream (WRONGTYPE), not a server down.
  if (/^WRONGTYPE\b/.test(why)) return new WeirError("stream_not_found", `The key on Redis server ${u.protocol}//${u.host} is not a stream: ${why}`, { cause });
  return new WeirError("connector_unavailable", `Redis server ${u.protocol}//${u.host} is unavailable: ${why}`, { cause });
}
