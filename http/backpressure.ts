/**
 * Backpressure as Flink reports it, computed from the cumulative busy and backpressured
 * milliseconds of every subtask: the ratios are the share of a sampling window spent
 * running, spent waiting for output credit, and the rest (idle).
 * @module
 */
import type { JobHandle, VertexOverview } from "../runtime/job_handle.ts";

/** Flink's levels: ok up to 10% backpressured, low up to 50%, high above. */
export type BackpressureLevel = "ok" | "low" | "high";

/** One subtask's ratios over the window. */
export interface SubtaskBackpressure {
  subtask: number;
  "backpressure-level": BackpressureLevel;
  ratio: number;
  busyRatio: number;
  idleRatio: number;
}

/** One vertex, shaped like Flink's JobVertexBackPressureInfo. */
export interface VertexBackpressure {
  id: string;
  name: string;
  parallelism: number;
  status: "ok";
  "backpressure-level": BackpressureLevel;
  "end-timestamp": number;
  subtasks: SubtaskBackpressure[];
}

/** What GET /jobs/:jobid/backpressure answers. */
export interface JobBackpressure {
  status: "ok";
  "backpressure-level": BackpressureLevel;
  timestamp: number;
  "window-ms": number;
  vertices: VertexBackpressure[];
}

interface Sample {
  at: number;
  vertices: VertexOverview[];
}

/** Tuning of the sampler. */
export interface SamplerOptions {
  /** How long to wait between two samples when no recent one exists. */
  windowMs?: number;
  /** A previous sample older than this is too coarse to reuse. */
  maxAgeMs?: number;
  /** Waits `ms`; injectable so tests need not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

/** Level for a backpressured ratio, with Flink's thresholds. */
export function levelOf(ratio: number): BackpressureLevel {
  return ratio > 0.5 ? "high" : ratio > 0.1 ? "low" : "ok";
}

// The HTTP layer is allowed a real timer: it waits for wall time, not for the job's clock.
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Samples jobs' counters. Each call compares with the previous sample of the same job when
 * that one is recent enough (so a dashboard polling every second gets one-second windows
 * without waiting); otherwise it takes two samples `windowMs` apart.
 *
 * @example
 * ```ts
 * import { BackpressureSampler } from "./backpressure.ts";
 * const sampler = new BackpressureSampler({ windowMs: 100 });
 * ```
 */
export class BackpressureSampler {
  readonly #windowMs: number;
  readonly #maxAgeMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #last = new Map<string, Sample>();

  constructor(options: SamplerOptions = {}) {
    this.#windowMs = options.windowMs ?? 200;
    this.#maxAgeMs = options.maxAgeMs ?? 60_000;
    this.#sleep = options.sleep ?? realSleep;
  }

  /** Backpressure of `job` over the window that ends now. */
  async sample(job: JobHandle): Promise<JobBackpressure> {
    let before = this.#last.get(job.id);
    let after: Sample = { at: job.now(), vertices: job.vertices() };
    const minWindowMs = this.#windowMs / 2;
    if (!before || !comparable(before, after) || after.at - before.at < minWindowMs || after.at - before.at > this.#maxAgeMs) {
      before = after;
      await this.#sleep(this.#windowMs);
      after = { at: job.now(), vertices: job.vertices() };
    }
    this.#last.set(job.id, after);
    return ratios(before, after);
  }
}

/** Same subtasks and no counter went backwards (a restart resets them). */
function comparable(a: Sample, b: Sample): boolean {
  if (a.vertices.length !== b.vertices.length) return false;
  return a.vertices.every((va, i) => {
    const vb = b.vertices[i];
    if (va.id !== vb.id || va.subtasks.length !== vb.subtasks.length) return false;
    return va.subtasks.every((s, k) => s.busyMs <= vb.subtasks[k].busyMs && s.backpressuredMs <= vb.subtasks[k].backpressuredMs);
  });
}

function ratios(before: Sample, after: Sample): JobBackpressure {
  const windowMs = Math.max(0, after.at - before.at);
  const vertices = after.vertices.map((v): VertexBackpressure => {
    const previous = before.vertices.find((p) => p.id === v.id);
    const subtasks = v.subtasks.map((s): SubtaskBackpressure => {
      const p = previous?.subtasks.find((q) => q.index === s.index);
      const busy = share(s.busyMs - (p?.busyMs ?? s.busyMs), windowMs);
      let backpressured = share(s.backpressuredMs - (p?.backpressuredMs ?? s.backpressuredMs), windowMs);
      // The core adds backpressured time only when the wait ends, so a subtask blocked for the
      // whole window shows none. Output waiting for credit at both ends of a window in which
      // the subtask did nothing at all is that case: it spent the window backpressured.
      if (p && busy === 0 && backpressured === 0 && p.outputBuffered > 0 && s.outputBuffered > 0 && p.recordsOut === s.recordsOut) backpressured = 1;
      // Busy and backpressured time are disjoint by construction of the counters; rounding may still overshoot 1.
      const idle = Math.max(0, 1 - busy - backpressured);
      return { subtask: s.index, "backpressure-level": levelOf(backpressured), ratio: backpressured, busyRatio: busy, idleRatio: round(idle) };
    });
    return {
      id: v.id,
      name: v.name,
      parallelism: v.parallelism,
      status: "ok",
      "backpressure-level": levelOf(Math.max(0, ...subtasks.map((s) => s.ratio))),
      "end-timestamp": Math.round(after.at),
      subtasks,
    };
  });
  const worst = Math.max(0, ...vertices.flatMap((v) => v.subtasks.map((s) => s.ratio)));
  return { status: "ok", "backpressure-level": levelOf(worst), timestamp: Math.round(after.at), "window-ms": round(windowMs), vertices };
}

function share(deltaMs: number, windowMs: number): number {
  if (windowMs <= 0) return 0;
  return round(Math.min(1, Math.max(0, deltaMs / windowMs)));
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
