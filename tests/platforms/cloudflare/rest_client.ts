/**
 * The REST calls the workerd job tests make against a Worker: JSON bodies, Flink's trigger
 * polling and the one job's id.
 * @module
 */
import assert from "node:assert/strict";
import { sleep } from "../../helpers.ts";
import type { WorkerdHost } from "./workerd.ts";

/** The response's body as JSON; an error quoting the body when it is not JSON. */
export async function json<T = Record<string, unknown>>(res: Response | Promise<Response>): Promise<T> {
  const r = await res;
  const text = await r.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`Not JSON (status ${r.status}): ${text.slice(0, 300)}`);
  }
}

/** Polls a Flink trigger until it is no longer IN_PROGRESS. */
export async function awaitTrigger(host: WorkerdHost, path: string): Promise<{ status: { id: string }; operation: Record<string, unknown> }> {
  for (let i = 0; i < 6000; i++) {
    const t = await json<{ status: { id: string }; operation: Record<string, unknown> }>(host.fetch(path));
    if (t.status.id !== "IN_PROGRESS") return t;
    await sleep(10);
  }
  throw new Error(`Trigger ${path} still in progress`);
}

/** The id of the Worker's one job. */
export async function jobId(host: WorkerdHost): Promise<string> {
  const { jobs } = await json<{ jobs: { id: string }[] }>(host.fetch("/jobs"));
  assert.equal(jobs.length, 1);
  return jobs[0].id;
}
