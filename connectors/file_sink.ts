import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, invalidOption, WeirError } from "../errors.ts";
import type { OperatorContext, Sink, SinkWriter } from "../dataflow/operator.ts";
import { parseCsv } from "./csv.ts";
import { FileSinkWriter } from "./file_sink_writer.ts";

/** When a part file is closed before the next checkpoint would close it. */
export interface RollingPolicy {
  /** Close a part once it holds this many bytes (default 128 MiB, Flink's part size). */
  maxBytes?: number;
  /** Close a part once it holds this many records (default: no limit). */
  maxRecords?: number;
  /**
   * Close a part this many ms after it was opened, checked on every write and at every
   * checkpoint (default 60 000, Flink's rollover interval). With `compaction` it bounds how
   * long records stay hidden.
   */
  rolloverInterval?: number;
}

/** Options of a {@link FileSink}. */
export interface FileSinkOptions {
  /** `"jsonl"` (default): one JSON value per line; `"csv"`: one RFC 4180 row per record. */
  format?: "jsonl" | "csv";
  rollingPolicy?: RollingPolicy;
  /**
   * Keep the part files of consecutive checkpoints together until they hold about
   * `targetBytes`, so they become visible as few large files rather than one small file
   * per subtask per checkpoint (Flink 1.15's `FileSink.enableCompact`).
   */
  compaction?: { targetBytes: number };
}

/** The settled options a writer works with. */
export interface FileSinkConfig {
  dir: string;
  format: "jsonl" | "csv";
  maxBytes: number;
  maxRecords: number;
  rolloverIntervalMs: number;
  /** 0: every checkpoint closes the open part (on-checkpoint rolling). */
  compactionTargetBytes: number;
}

const OPTION_KEYS = new Set(["format", "rollingPolicy", "compaction"]);
const ROLLING_KEYS = new Set(["maxBytes", "maxRecords", "rolloverInterval"]);

/**
 * An exactly-once sink to files, after Flink 1.12's `FileSink`: every subtask appends
 * records to a hidden part file (`.part-….inprogress`); a checkpoint closes it (on-checkpoint
 * rolling), makes it durable before the checkpoint is acknowledged, and renames it to its
 * visible name (`part-<transaction>-<n>.jsonl` or `.csv`) once the checkpoint completed —
 * the rename is the commit, so repeating it changes nothing. `rollingPolicy` closes parts
 * earlier; `compaction: { targetBytes }` keeps a part open across checkpoints (persisted
 * up to its length at each one, cut back to it after a failure) until it holds about
 * `targetBytes`, so small checkpoints do not make small files. No file is ever empty.
 * Hidden files of attempts that failed are removed when the run restarts; a job restored
 * from a savepoint copies the hidden part it restores and never changes the savepoint's files.
 *
 * @throws {WeirError} `invalid_option` for a bad directory or option (named);
 * `sink_transaction_lost` when a part a completed checkpoint relies on is gone;
 * `sink_record_invalid` for a record JSON cannot hold.
 * @example
 * ```ts
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { FileSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../mod.ts";
 * const dir = mkdtempSync(join(tmpdir(), "weir-doc-"));
 * const env = new StreamEnvironment({ jobName: "doc", storage: new MemoryStorage(), checkpoint: { interval: 20 } });
 * env.fromSource(new SequenceSource(0, 1000), { uid: "numbers" })
 *   .sinkTo(new FileSink<number>(dir, { compaction: { targetBytes: 1 << 20 } }), { uid: "out" });
 * await (await env.execute()).done;
 * console.assert((await FileSink.readCommitted(dir)).length === 1000);
 * ```
 */
export class FileSink<T = unknown> implements Sink<T> {
  declare readonly __type?: T;
  readonly dir: string;
  readonly config: Readonly<FileSinkConfig>;

  constructor(dir: string, options: FileSinkOptions = {}) {
    if (typeof dir !== "string" || dir.length === 0) throw new WeirError("invalid_option", `FileSink needs a directory, got ${describe(dir)}`);
    this.dir = resolve(dir);
    this.config = settle(this.dir, options);
  }

  createWriter(ctx: OperatorContext): SinkWriter {
    return new FileSinkWriter(this.config, ctx);
  }

  /**
   * Every committed record under `dir`, read back in file-name order (per subtask in the
   * order written): parsed values from `.jsonl` files, `string[]` rows from `.csv` files.
   * Hidden (in-progress, pending) files are skipped; a missing directory reads as empty.
   * @throws {WeirError} `bad_record` naming the file and line of a broken line.
   */
  static async readCommitted(dir: string): Promise<unknown[]> {
    const out: unknown[] = [];
    for (const name of await FileSink.committedFiles(dir)) {
      const path = join(dir, name);
      const text = await readFile(path, "utf8");
      if (name.endsWith(".csv")) {
        for (const row of parseCsv(text, path)) out.push(row);
        continue;
      }
      let line = 0;
      for (const l of text.split("\n")) {
        line++;
        if (!l) continue;
        try {
          out.push(JSON.parse(l));
        } catch {
          throw new WeirError("bad_record", `Broken JSON line in ${path} at line ${line}`);
        }
      }
    }
    return out;
  }

  /** Names of the committed (visible) part files under `dir`, sorted. */
  static async committedFiles(dir: string): Promise<string[]> {
    try {
      return (await readdir(dir)).filter((n) => !n.startsWith(".") && (n.endsWith(".jsonl") || n.endsWith(".csv"))).sort();
    } catch (e) {
      if ((e as { code?: string }).code === "ENOENT") return [];
      throw e;
    }
  }
}

function settle(dir: string, options: FileSinkOptions): FileSinkConfig {
  if (options === null || typeof options !== "object") throw invalidOption("FileSink options", options, "must be an object");
  for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw invalidOption(`FileSink.${k}`, (options as Record<string, unknown>)[k], "is not a FileSink option");
  const format = options.format ?? "jsonl";
  if (format !== "jsonl" && format !== "csv") throw invalidOption("FileSink.format", format, 'must be "jsonl" or "csv"');
  const rolling = options.rollingPolicy ?? {};
  if (rolling === null || typeof rolling !== "object") throw invalidOption("FileSink.rollingPolicy", rolling, "must be an object");
  for (const k of Object.keys(rolling)) if (!ROLLING_KEYS.has(k)) throw invalidOption(`FileSink.rollingPolicy.${k}`, (rolling as Record<string, unknown>)[k], "is not a rolling policy option");
  const compaction = options.compaction;
  if (compaction !== undefined) {
    if (compaction === null || typeof compaction !== "object") throw invalidOption("FileSink.compaction", compaction, "must be an object");
    for (const k of Object.keys(compaction)) if (k !== "targetBytes") throw invalidOption(`FileSink.compaction.${k}`, (compaction as Record<string, unknown>)[k], "is not a compaction option");
  }
  return {
    dir,
    format,
    maxBytes: positive("FileSink.rollingPolicy.maxBytes", rolling.maxBytes, 128 * 1024 * 1024),
    maxRecords: positive("FileSink.rollingPolicy.maxRecords", rolling.maxRecords, Infinity),
    rolloverIntervalMs: positive("FileSink.rollingPolicy.rolloverInterval", rolling.rolloverInterval, 60_000),
    compactionTargetBytes: compaction === undefined ? 0 : positive("FileSink.compaction.targetBytes", compaction.targetBytes, undefined),
  };
}

function positive(option: string, value: unknown, fallback: number | undefined): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || Number.isNaN(value)) throw invalidOption(option, value, "must be a number > 0");
  return value;
}
