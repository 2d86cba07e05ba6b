/**
 * The REST API as the CLI sees it: JSON in and out, the bearer token on every request,
 * and failures turned into one readable sentence.
 * @module
 */
import { WeirError } from "../errors.ts";

/** Flink's default REST address, which weir's server also defaults to. */
export const URL_DEFAULT = "http://127.0.0.1:8081";
/** No single request may hang the CLI. */
const REQUEST_TIMEOUT_MS = 30_000;

/** One job as GET /jobs lists it. */
export interface JobRow {
  id: string;
  name: string;
  status: string;
  /** weir's own status (STOPPED where Flink's `status` says FINISHED; absent from older servers). */
  "weir-status"?: string;
  "start-time": number;
  "end-time": number;
  /** ms run so far (absent from servers before weir 0.1.1). */
  duration?: number;
}

/**
 * A client of one weir REST API.
 *
 * @example
 * ```ts
 * import { ApiClient } from "./client.ts";
 * const api = new ApiClient("http://127.0.0.1:8081", undefined);
 * // const { jobs } = await api.get("/jobs");
 * ```
 */
export class ApiClient {
  readonly url: string;
  readonly #token: string | undefined;

  constructor(url: string, token: string | undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new WeirError("usage", `Option --url must be an http(s) URL, got ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new WeirError("usage", `Option --url must be an http(s) URL, got ${JSON.stringify(url)}`);
    this.url = url.replace(/\/+$/, "");
    this.#token = token || undefined;
  }

  /** GET path; resolves to the parsed JSON body. */
  // deno-lint-ignore no-explicit-any -- callers name the shape of the JSON they expect
  get<T = any>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  /** Sends a request with an optional JSON body; throws `api_error` with the server's message on a 4xx/5xx. */
  // deno-lint-ignore no-explicit-any -- callers name the shape of the JSON they expect
  async request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      throw new WeirError("api_unreachable", `Cannot reach the weir REST API at ${this.url} (${reason(e)}); is a job running with http enabled? Use --url to point elsewhere`, { cause: e });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : {};
    } catch {
      throw new WeirError("api_error", `${method} ${path} answered ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      const errors = (json as { errors?: unknown })?.errors;
      const message = Array.isArray(errors) && errors.length > 0 ? errors.join("; ") : `HTTP ${res.status}`;
      const hint = res.status === 401 ? " (set WEIR_TOKEN or --token)" : "";
      throw new WeirError(res.status === 401 ? "unauthorized" : "api_error", `${message}${hint}`);
    }
    return json as T;
  }

  /**
   * Resolves a job given as id, id prefix or name; among jobs of one name the running
   * one (else the latest) wins.
   */
  async findJob(ref: string): Promise<JobRow> {
    const { jobs } = await this.get<{ jobs: JobRow[] }>("/jobs");
    const exact = jobs.find((j) => j.id === ref);
    if (exact) return exact;
    const byName = jobs.filter((j) => j.name === ref);
    if (byName.length > 0) return byName.find((j) => j.status === "RUNNING") ?? byName[byName.length - 1];
    const byPrefix = jobs.filter((j) => j.id.startsWith(ref));
    if (byPrefix.length === 1) return byPrefix[0];
    if (byPrefix.length > 1) throw new WeirError("usage", `Job id prefix "${ref}" matches ${byPrefix.length} jobs; give more digits`);
    throw new WeirError("job_not_found", `No job "${ref}" at ${this.url} (weir list shows the jobs)`);
  }
}

function reason(e: unknown): string {
  const cause = (e as { cause?: { code?: string } })?.cause?.code ?? (e as { code?: string })?.code;
  if (typeof cause === "string") return cause;
  return e instanceof Error ? e.message : String(e);
}
