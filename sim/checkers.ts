/**
 * The invariants every seed is held to. Each checker returns the violations it found
 * as sentences (empty: none), so that the driver can report them all with the seed.
 * @module
 */
import type { InputChannel } from "../actors/input_channel.ts";
import type { CheckpointDetails } from "../checkpoint/stats.ts";
import { type CheckpointMetadata, decodeMetadata } from "../checkpoint/metadata.ts";
import { WeirError } from "../errors.ts";

/** What the job under test emits: [key, running count]. */
export type Pair = [key: number, count: number];

/** What the windowed job emits: [key, window start, records of the key in the window]. */
export type WindowCount = [key: number, start: number, count: number];

/**
 * The windowed job's output: each key and window (record n at time n) exactly once with
 * its count. With `atLeastOnce`, a window may fire more than once (a replay after a
 * restore); none may be missing. With `drained`, a stop-with-drain fired every open window
 * early (event time jumped to +Infinity, as in Flink) and the job was restored after it:
 * a window may then fire in parts, whose counts add up to its records.
 */
export function checkWindows(committed: readonly WindowCount[], records: number, keys: number, size: number, atLeastOnce: boolean, drained = false): string[] {
  const want = new Map<string, number>();
  for (let n = 0; n < records; n++) {
    const id = `${n % keys}@${Math.floor(n / size) * size}`;
    want.set(id, (want.get(id) ?? 0) + 1);
  }
  const out: string[] = [];
  const seen = new Map<string, number>();
  const sums = new Map<string, number>();
  for (const w of committed) {
    const id = Array.isArray(w) ? `${w[0]}@${w[1]}` : String(w);
    const expected = want.get(id);
    sums.set(id, (sums.get(id) ?? 0) + (Array.isArray(w) ? w[2] : 0));
    seen.set(id, (seen.get(id) ?? 0) + 1);
    if (expected === undefined) out.push(`Window output ${JSON.stringify(w)} names no window of the input`);
    else if (drained) continue;
    else if (!atLeastOnce && w[2] !== expected) out.push(`Window ${id} counted ${w[2]}, expected ${expected}`);
    else if (atLeastOnce && w[2] < expected) out.push(`Window ${id} counted ${w[2]}, fewer than its ${expected} records (at-least-once)`);
  }
  const missing = [...want.keys()].filter((id) => !seen.has(id));
  if (missing.length > 0) out.push(`Windows never fired: ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? `, … (${missing.length})` : ""}`);
  if (drained) {
    for (const [id, n] of want) {
      const got = sums.get(id) ?? 0;
      if (atLeastOnce ? got < n : got !== n) out.push(`Window ${id} fired in parts (after a drain) counting ${got} in all, expected ${n}`);
    }
  } else if (!atLeastOnce) {
    const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    if (twice.length > 0) out.push(`Windows fired more than once (exactly-once): ${twice.slice(0, 8).join(", ")}`);
  }
  return out.slice(0, 20);
}

/** How many records of SequenceSource(0, records) have key k = n % keys. */
export function expectedCount(records: number, keys: number, k: number): number {
  return Math.floor(records / keys) + (k < records % keys ? 1 : 0);
}

function valuesByKey(committed: readonly Pair[], keys: number): { by: number[][]; bad: string[] } {
  const by: number[][] = Array.from({ length: keys }, () => []);
  const bad: string[] = [];
  for (const p of committed) {
    if (!Array.isArray(p) || !Number.isInteger(p[0]) || p[0] < 0 || p[0] >= keys || !Number.isInteger(p[1])) {
      bad.push(`Output holds a malformed record ${JSON.stringify(p)}`);
      continue;
    }
    by[p[0]].push(p[1]);
  }
  return { by, bad };
}

/** Describes how a multiset of counts differs from `from..to`, each exactly once. */
function diffRange(values: number[], from: number, to: number): string | undefined {
  const seen = new Map<number, number>();
  for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
  const dup: number[] = [];
  const missing: number[] = [];
  const extra: number[] = [];
  for (const [v, n] of seen) {
    if (v < from || v > to) extra.push(v);
    else if (n > 1) dup.push(v);
  }
  for (let v = from; v <= to; v++) if (!seen.has(v)) missing.push(v);
  if (dup.length + missing.length + extra.length === 0) return undefined;
  const show = (a: number[]) => a.sort((x, y) => x - y).slice(0, 8).join(",") + (a.length > 8 ? `,… (${a.length})` : "");
  const parts: string[] = [];
  if (missing.length) parts.push(`missing ${show(missing)}`);
  if (dup.length) parts.push(`duplicated ${show(dup)}`);
  if (extra.length) parts.push(`out of range ${show(extra)}`);
  return parts.join("; ");
}

/**
 * Exactly-once: for each key exactly the running counts 1..n_k, once each. With
 * `atLeastOnce`, duplicates and over-counts (replayed records counted again) are
 * allowed but nothing may be lost: every count 1..n_k is there and no count is skipped.
 */
export function checkOutput(committed: readonly Pair[], records: number, keys: number, atLeastOnce: boolean): string[] {
  const { by, bad } = valuesByKey(committed, keys);
  const out = [...bad];
  for (let k = 0; k < keys; k++) {
    const n = expectedCount(records, keys, k);
    if (atLeastOnce) {
      const max = by[k].reduce((a, b) => Math.max(a, b), 0);
      const d = diffRange([...new Set(by[k])], 1, Math.max(n, max));
      if (d) out.push(`At-least-once output of key ${k} (expected counts 1..${n}, duplicates allowed): ${d}`);
    } else {
      const d = diffRange(by[k], 1, n);
      if (d) out.push(`Exactly-once output of key ${k} (expected counts 1..${n} once each): ${d}`);
    }
  }
  return out;
}

/**
 * The output of a fault-free run restored from a checkpoint: for each key a run of
 * counts that ends at n_k, once each (a consistent cut neither loses nor double-counts
 * what was in flight), or, at-least-once, covers up to n_k without a gap.
 */
export function checkRestoredOutput(committed: readonly Pair[], records: number, keys: number, atLeastOnce: boolean): string[] {
  const { by, bad } = valuesByKey(committed, keys);
  const out = [...bad];
  for (let k = 0; k < keys; k++) {
    const n = expectedCount(records, keys, k);
    if (by[k].length === 0) continue; // Every count of this key was committed before the cut.
    const min = by[k].reduce((a, b) => Math.min(a, b), Infinity);
    const max = by[k].reduce((a, b) => Math.max(a, b), 0);
    const d = atLeastOnce ? diffRange([...new Set(by[k])], min, Math.max(n, max)) : diffRange(by[k], min, n);
    if (d) out.push(`Key ${k} after restore (expected counts ${min}..${n}${atLeastOnce ? "" : " once each"}): ${d}`);
  }
  return out;
}

/** A checkpoint may only complete once every subtask acknowledged it. */
export function checkCompletedDetails(d: CheckpointDetails | undefined, id: number): string | undefined {
  if (!d) return `Checkpoint ${id} completed but has no details`;
  if (d.status !== "COMPLETED") return `Checkpoint ${id} was reported completed but its details say ${d.status}`;
  if (d.num_acknowledged_subtasks !== d.num_subtasks) {
    return `Checkpoint ${id} completed with ${d.num_acknowledged_subtasks} of ${d.num_subtasks} subtasks acknowledged`;
  }
  for (const t of Object.values(d.tasks)) {
    if (t.num_acknowledged_subtasks !== t.num_subtasks) return `Checkpoint ${id} completed with vertex ${t.id} at ${t.num_acknowledged_subtasks}/${t.num_subtasks} acks`;
  }
  return undefined;
}

/**
 * At the commit point (the metadata becoming visible) the metadata names one state file
 * per subtask of every vertex, and each of those files is already durable.
 */
export function checkMetadataAtCommit(key: string, bytes: Uint8Array, present: ReadonlySet<string>): string | undefined {
  let m: CheckpointMetadata;
  try {
    m = decodeMetadata(bytes, key).metadata;
  } catch (e) {
    return `Metadata ${key} does not decode: ${(e as Error).message}`;
  }
  const dir = key.slice(0, key.lastIndexOf("/"));
  const expected = m.vertices.reduce((n, v) => n + v.parallelism, 0);
  if (m.subtasks.length !== expected) return `Metadata ${key} commits ${m.subtasks.length} of ${expected} subtask states`;
  for (const s of m.subtasks) {
    if (!present.has(`${dir}/${s.file}`)) return `Metadata ${key} committed before state file ${s.file} of subtask ${s.vertexId}-${s.subtaskIndex} was durable`;
    const missing = (s.shared ?? []).find((k) => !present.has(k));
    if (missing) return `Metadata ${key} committed while shared file ${missing} of subtask ${s.vertexId}-${s.subtaskIndex} is not in storage (never written, or deleted)`;
  }
  return undefined;
}

/** A channel never holds more credited batches than its capacity (checked independently of the InputChannel's own assert). */
export function checkChannels(channels: readonly InputChannel[], where: string): string | undefined {
  for (const c of channels) {
    if (c.creditedBatches > c.capacity) return `Channel into ${where} holds ${c.creditedBatches} batches, over its capacity ${c.capacity}`;
  }
  return undefined;
}

/** Error codes a run may see while faults are injected; anything else is a finding. */
const EXPECTED_ERRORS = new Set(["sim_crash", "coordinator_crash", "transport_failed", "checkpoint_tolerance_exceeded", "final_checkpoint_failed"]);

/** Why a job restart is a finding, or undefined when its cause was injected. */
export function unexpectedError(error: unknown): string | undefined {
  if (error instanceof WeirError && EXPECTED_ERRORS.has(error.code)) return undefined;
  const code = error instanceof WeirError ? error.code : (error as Error)?.name ?? typeof error;
  const msg = error instanceof Error ? error.message : String(error);
  return `Unexpected job failure (${code}): ${msg}`;
}
