/**
 * The one place that opens PostgreSQL connections for connectors (PostgresSink), through
 * `postgres` (postgres.js): pure JavaScript over node:net, so it runs unchanged on Bun and
 * Deno, with tagged-template queries that never splice values into SQL, transactions as
 * a callback (`sql.begin`) that roll back on any throw, and no native build step.
 * @module
 */
import postgres from "postgres";
import { invalidOption, WeirError } from "../../errors.ts";

/** An open postgres.js client (the library's own type, re-exported for connectors). */
export type PostgresClient = postgres.Sql;

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
 * Opens a client of at most `max` connections to the server at `url` and checks it with a
 * first query. The client does not retry by itself: a server that goes away fails the
 * query, the connector fails its subtask, and the job's restart strategy decides when to
 * try again.
 *
 * @throws {WeirError} `invalid_option` for a bad URL; `connector_unavailable` naming the
 *   server when it cannot be reached (or refuses the login) within `connectTimeoutMs`.
 * @example
 * ```ts ignore
 * import { connectPostgres } from "./postgres.ts";
 * const sql = await connectPostgres("postgres://postgres@127.0.0.1:5432/test");
 * await sql`select 1`;
 * await sql.end();
 * ```
 */
export async function connectPostgres(url: string, options: { option?: string; connectTimeoutMs?: number; max?: number } = {}): Promise<PostgresClient> {
  const parsed = checkPostgresUrl(url, options.option);
  const sql = postgres(url, {
    max: options.max ?? 1,
    connect_timeout: Math.ceil((options.connectTimeoutMs ?? 5000) / 1000),
    idle_timeout: 0,
    onnotice: () => {},
    // Prepared statements are per connection; the sink's statements vary with the columns.
    prepare: false,
  });
  const timeoutMs = options.connectTimeoutMs ?? 5000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // postgres.js keeps trying a server that accepts and then drops connections; the
    // deadline is ours, so such a server fails as one that refuses.
    await Promise.race([
      sql`select 1`,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    sql.end({ timeout: 0 }).catch(() => {});
    throw postgresUnavailable(parsed, e);
  } finally {
    clearTimeout(timer);
  }
  return sql;
}

/** The `connector_unavailable` error for a PostgreSQL server, naming it (without a password). */
export function postgresUnavailable(url: URL | string, cause: unknown): WeirError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new WeirError("connector_unavailable", `PostgreSQL server ${describePostgres(url)} is unavailable: ${why}`, { cause });
}

/** Whether an error from postgres.js means the connection (not the statement) failed. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === "string" && (code.startsWith("CONNECT") || code === "CONNECTION_CLOSED" || code === "CONNECTION_ENDED" || code === "CONNECTION_DESTROYED" || code === "ECONNREFUSED" || code === "ECONNRESET" || code.startsWith("08") || code === "57P01");
}
