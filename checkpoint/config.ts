import { invalidOption } from "../errors.ts";

/** Checkpointing options, with Flink's names in camelCase. */
export interface CheckpointOptions {
  /** Milliseconds between periodic checkpoints; 0 or absent: none (on-demand and final ones still run). */
  interval?: number;
  /** "exactly-once" (default) or "at-least-once". */
  mode?: "exactly-once" | "at-least-once";
  /** Barriers overtake in-flight data; the overtaken data is stored with the checkpoint. */
  unaligned?: boolean;
  /** With unaligned: start aligned and switch after this many ms (Flink's aligned-checkpoint-timeout). */
  alignedTimeout?: number;
  /** A checkpoint not complete after this many ms is aborted (checkpoint_expired). */
  timeout?: number;
  /** Minimum ms from the end of one checkpoint to the start of the next. */
  minPause?: number;
  /** Checkpoints in progress at once. */
  maxConcurrent?: number;
  /** Consecutive failed checkpoints tolerated before the job fails. */
  tolerableFailures?: number;
  /** Completed checkpoints kept in storage; older ones are deleted when subsumed. */
  retained?: number;
  /** Cap on the channel state one subtask records for one checkpoint, in bytes. */
  channelStateMaxBytes?: number;
}

/** CheckpointOptions with every default applied. */
export type CheckpointConfig = Required<CheckpointOptions>;

export const CHECKPOINT_DEFAULTS: CheckpointConfig = {
  interval: 0,
  mode: "exactly-once",
  unaligned: false,
  alignedTimeout: 0,
  timeout: 60_000,
  minPause: 0,
  maxConcurrent: 1,
  tolerableFailures: 0,
  retained: 1,
  channelStateMaxBytes: 64 * 1024 * 1024,
};

const NON_NEGATIVE: (keyof CheckpointOptions)[] = ["interval", "alignedTimeout", "minPause", "tolerableFailures"];
const POSITIVE: (keyof CheckpointOptions)[] = ["timeout", "maxConcurrent", "retained", "channelStateMaxBytes"];

/** Applies defaults and rejects bad values, naming the option and the value. */
export function checkpointConfig(options: CheckpointOptions | undefined): CheckpointConfig {
  if (options === undefined) return { ...CHECKPOINT_DEFAULTS };
  if (options === null || typeof options !== "object") throw invalidOption("checkpoint", options, "must be an object");
  const known = new Set(Object.keys(CHECKPOINT_DEFAULTS));
  for (const k of Object.keys(options)) {
    if (!known.has(k)) throw invalidOption(`checkpoint.${k}`, (options as Record<string, unknown>)[k], "is not a known option");
  }
  const c = { ...CHECKPOINT_DEFAULTS, ...stripUndefined(options) } as CheckpointConfig;
  for (const k of NON_NEGATIVE) {
    const v = c[k] as number;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw invalidOption(`checkpoint.${k}`, v, "must be a number >= 0");
  }
  for (const k of POSITIVE) {
    const v = c[k] as number;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw invalidOption(`checkpoint.${k}`, v, "must be a number > 0");
  }
  for (const k of ["maxConcurrent", "retained", "tolerableFailures"] as const) {
    if (!Number.isInteger(c[k])) throw invalidOption(`checkpoint.${k}`, c[k], "must be an integer");
  }
  if (c.mode !== "exactly-once" && c.mode !== "at-least-once") {
    throw invalidOption("checkpoint.mode", c.mode, 'must be "exactly-once" or "at-least-once"');
  }
  if (typeof c.unaligned !== "boolean") throw invalidOption("checkpoint.unaligned", c.unaligned, "must be a boolean");
  if (c.unaligned && c.mode === "at-least-once") {
    throw invalidOption("checkpoint.unaligned", c.unaligned, 'cannot be true with mode "at-least-once"');
  }
  return c;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
