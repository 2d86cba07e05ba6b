/**
 * The one place that opens PostgreSQL connections for connectors (PostgresSink), through
 * `pg` (node-postgres): pure JavaScript over node:net, so it runs unchanged on Bun and
 * Deno, the most used PostgreSQL client for Node, with parameters sent apart from the SQL
 * text and a dead connection reported as an error event rather than thrown from a timer
 * (postgres.js 3.4.9 did the latter under Bun, ending the process).
 * @module
 */
import pg from "pg";
import { invalidOption, WeirError } from "../../errors.ts";
import { answerWithin } from "./deadline.ts";

/** One open connection. */
export interface PostgresClient {
  /** Runs one statement with its parameters ($1, $2, …); resolves to its rows. */
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs fn inside BEGIN … COMMIT, rolling back if it throws. */
  begin<T>(fn: (tx: PostgresClient) => Promise<T>): Promise<T>;
  end(): Promise<void>;
}

/**
 * Checks a PostgreSQL URL (`postgres://[user[:password]@]host[:port]/database`) and returns it
 * parsed, so a typo fails before the job starts.
 *
 * @throws {WeirError} `invalid_option` naming the option and the value.
 * @example
 * ```ts
 * import { checkPostgresUrl } from "./postgres.ts";
 * console.assert(checkPostgresUrl("postgres://127.0.0.1:5432/test").pathname === "/test");
 * ```
 */
export function checkPostgresUrl(url: unknown, option = "url"): URL {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === "string" ? new URL(url) : undefined;
  } catch { /* reported below */ }
  if (!parsed || (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") || !parsed.hostname) {
    throw invalidOption(option, url, 'must be a PostgreSQL URL such as "postgres://127.0.0.1:5432/test"');
  }
  return parsed;
}

/** The server a URL names, for messages: `postgres://host:port/database`, never the password. */
export function describePostgres(url: URL | string): string {
  const u = typeof url === "string" ? new URL(url) : url;
  return `postgres://${u.hostname}:${u.port || "5432"}${u.pathname}`;
}

/**
 * Limits of every session, in ms, so that no wait is endless: a query the server does not
 * answer (a stalled server, a partition) fails on the client after `query_timeout`; a
 * statement, or a wait for a row lock, fails on the server after `statement_timeout` or
 * `lock_timeout` (a commit retried after a partition waits on the lock the cut session's
 * transaction still holds); and the server ends a session left idle inside a transaction
 * (the cut one) after `idle_in_transaction_session_timeout`, which frees those locks. The
 * sink's own statements take milliseconds (500 rows each).
 */
const SESSION_TIMEOUTS = { query_timeout: 30_000, statement_timeout: 30_000, lock_timeout: 10_000, idle_in_transaction_session_timeout: 20_000 } as const;

/**
 * Opens one connection to the server at `url` and checks it with a first query. The client
 * does not retry by itself: a server that goes away, or does not answer within the session
 * limits (SESSION_TIMEOUTS), fails the query, the connector fails its subtask, and the job's
 * restart strategy decides when to try again.
 *
 * @throws {WeirError} `invalid_option` for a bad URL; `connector_unavailable` naming the
 *   server when it cannot be reached (or refuses the login) within `connectTimeoutMs`.
 *   `queryTimeoutMs` replaces the query limit of SESSION_TIMEOUTS (30 000 ms).
 * @example
 * ```ts ignore
 * import { connectPostgres } from "./postgres.ts";
 * const pg = await connectPostgres("postgres://postgres@127.0.0.1:5432/test");
 * await pg.query("select 1");
 * await pg.end();
 * ```
 */
export async function connectPostgres(url: string, options: { option?: string; connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Promise<PostgresClient> {
  const parsed = checkPostgresUrl(url, options.option);
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, ...SESSION_TIMEOUTS, query_timeout: options.queryTimeoutMs ?? SESSION_TIMEOUTS.query_timeout });
  let broken: unknown;
  // A connection that dies later is reported here; the next query then fails with it.
  client.on("error", (e) => {
    broken ??= e;
  });
  try {
    await answerWithin(client.connect().then(() => client.query("select 1")), timeoutMs);
  } catch (e) {
    client.end().catch(() => {});
    throw postgresUnavailable(parsed, e);
  }
  const wrapped: PostgresClient = {
    async query(text, params) {
      if (broken !== undefined) throw broken;
      return (await client.query(text, params as unknown[])).rows;
    },
    async begin(fn) {
      await wrapped.query("begin");
      try {
        const r = await fn(wrapped);
        await wrapped.query("commit");
        return r;
      } catch (e) {
        await client.query("rollback").catch(() => {});
        throw e;
      }
    },
    end: () => client.end().catch(() => {}),
  };
  return wrapped;
}

/** The `connector_unavailable` error for a PostgreSQL server, naming it (without a password). */
export function postgresUnavailable(url: URL | string, cause: unknown): WeirError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new WeirError("connector_unavailable", `PostgreSQL server ${describePostgres(url)} is unavailable: ${why}`, { cause });
}

/** Whether an error from pg means the connection (not the statement) failed. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === "string") return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || code.startsWith("08") || code === "57P01";
  // "Query read timeout": no answer within query_timeout (a stalled server or a partition).
  return /Connection terminated|not queryable|Client has encountered a connection error|Query read timeout/i.test((e as Error)?.message ?? "");
}
