/**
 * Where the REST server finds HttpIngestSource logs: a process-wide table from URL path
 * to log, and the handler for a POST to one. Framework-free (Request in, Response out),
 * so http/ mounts it with one line and any other server could too.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { IngestLog } from "./ingest_log.ts";

const endpoints = new Map<string, () => Promise<IngestLog>>();
/** Events per request, a bound beside the server's body limit. */
export const EVENTS_PER_REQUEST_MAX = 100_000;
/** What a client is told to wait before it retries a full or unavailable log, in seconds. */
export const RETRY_AFTER_S = 1;

/** Makes `path` lead to a log; a later source at the same path replaces an earlier one. */
export function registerIngestEndpoint(path: string, log: () => Promise<IngestLog>): void {
  endpoints.set(path, log);
}

/**
 * Answers a POST to a registered ingest path: 202 `{"accepted": n}` once the events are
 * stored; 400 for a body that is not JSON/NDJSON (nothing is stored); 503 with Retry-After
 * when the log is full or its storage fails. Returns undefined for any other request.
 *
 * @example
 * ```ts
 * import { ingestResponse } from "./ingest_endpoints.ts";
 * const res = await ingestResponse(new Request("http://x/nowhere", { method: "POST", body: "1" }));
 * console.assert(res === undefined);
 * ```
 */
export async function ingestResponse(request: Request, path = new URL(request.url).pathname): Promise<Response | undefined> {
  if (request.method !== "POST") return undefined;
  const open = endpoints.get(path);
  if (!open) return undefined;
  let json: string[];
  try {
    json = parseEvents(await request.text(), request.headers.get("content-type") ?? "");
  } catch (e) {
    return reply(400, e);
  }
  try {
    const log = await open();
    await log.append(json);
  } catch (e) {
    return reply(503, e);
  }
  return Response.json({ accepted: json.length }, { status: 202 });
}

function reply(status: number, e: unknown): Response {
  const error = e instanceof WeirError ? e : new WeirError("ingest_unavailable", e instanceof Error ? e.message : String(e));
  const headers: Record<string, string> = status === 503 ? { "Retry-After": String(RETRY_AFTER_S) } : {};
  return Response.json({ errors: [error.message], code: error.code }, { status, headers });
}

/**
 * The events of a body, each re-serialized as JSON text: NDJSON (content type
 * `application/x-ndjson`, `application/jsonl` or `…ndjson`) is one value per non-empty line;
 * anything else is JSON, one value or an array of values.
 */
export function parseEvents(text: string, contentType: string): string[] {
  const ndjson = /ndjson|jsonl|json-seq|jsonlines/i.test(contentType);
  const values: unknown[] = [];
  if (ndjson) {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (line.length === 0) continue;
      try {
        values.push(JSON.parse(line));
      } catch (e) {
        throw new WeirError("invalid_json", `NDJSON line ${i + 1} is not valid JSON: ${(e as Error).message}`);
      }
    }
  } else {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new WeirError("invalid_json", `Request body is not valid JSON (send NDJSON with Content-Type application/x-ndjson): ${(e as Error).message}`);
    }
    if (Array.isArray(body)) for (const v of body) values.push(v);
    else values.push(body);
  }
  if (values.length > EVENTS_PER_REQUEST_MAX) throw new WeirError("invalid_request", `A request may carry at most ${EVENTS_PER_REQUEST_MAX} events, got ${values.length}`);
  return values.map((v) => JSON.stringify(v));
}
