import { open, readdir, stat } from "node:fs/promises";
import { FirstStartValue } from "./first_start.ts";
import { join, resolve } from "node:path";
import type { Batch } from "../actors/messages.ts";
import type { OperatorContext, Source, SourceReader } from "../dataflow/operator.ts";
import { WeirError, invalidOption } from "../errors.ts";
import { type FileFormat, type ParsedChunk, parseChunk } from "./file_formats.ts";
import { countSkippedRecords } from "./source_metrics.ts";

export type { FileFormat } from "./file_formats.ts";

/** Options of {@link FileSource}. */
export interface FileSourceOptions {
  format?: FileFormat;
  /**
   * Watch, in ms: look this often for new files in the directories and for lines appended
   * to known files, and never end. Without it the source reads what exists and ends.
   */
  monitorInterval?: number;
  /**
   * Skip records that are not valid for the format instead of failing the job; they are
   * counted in `skippedRecords` and in GET /metrics as `weir_source_records_skipped_total`.
   */
  skipBadRecords?: boolean;
  /** Bytes read at once (default 64 KiB); a file is never read whole. */
  chunkBytes?: number;
}

/** One file and how far it was read. `line` counts the lines before `offset`. */
interface FileSplit {
  path: string;
  offset: number;
  line: number;
  columns?: number;
  done?: boolean;
  /** The file's inode when it was first read (0 where the platform has none): another one at the path is another file. */
  ino?: number;
}
/** The split-discovery role: whoever holds it looks for new files; `known` are all files ever assigned. */
interface Enumerator {
  enumerator: true;
  known: string[];
}

const LINE_BYTES_MAX = 64 << 20;
const OPTIONS = ["format", "monitorInterval", "skipBadRecords", "chunkBytes"];

/**
 * Reads files and directories (the regular files directly inside, names starting with "."
 * skipped), one split per file whose position is a byte offset, in chunks. Records are a
 * string per line (`lines`), a parsed value per line (`jsonl`, blank lines skipped) or a
 * `string[]` per row (`csv`, RFC 4180 quoting, every row with the first row's column count).
 * Bounded by default; with `monitorInterval` it watches for new files and appended lines and
 * emits a line only once its newline arrived (bounded mode also emits a last line without one).
 * Splits are dealt over the subtasks at the first start; new files go to the subtask that
 * holds the discovery role, which travels with the checkpoint on rescale. Watermarks are
 * generated per file (SourceReader.splits): a file that lags holds the subtask's watermark
 * back, a finished one no longer does. After Flink's `FileSource` (FLIP-27) with
 * `monitorContinuously`.
 *
 * @throws {WeirError} `invalid_option` for bad options; at start `file_not_found` naming a
 *   path that does not exist; while reading `bad_record` naming file and line.
 * @example
 * ```ts
 * import { FileSource } from "./file_source.ts";
 * const logs = new FileSource(["./logs", "./extra.jsonl"], { format: "jsonl", monitorInterval: 1000 });
 * ```
 */
export class FileSource<T = unknown> implements Source<T> {
  declare readonly __type?: T;
  readonly paths: readonly string[];
  readonly format: FileFormat;
  readonly monitorInterval: number | undefined;
  readonly skipBadRecords: boolean;
  readonly chunkBytes: number;
  /** The record type it declares (`union` refuses a stream of another): "string" per line, "string[]" per CSV row; JSON lines are any value. */
  readonly recordType: string | undefined;
  #skipped = 0;
  readonly #listing = new FirstStartValue<string[]>();

  constructor(paths: string | readonly string[], options: FileSourceOptions = {}) {
    const list = typeof paths === "string" ? [paths] : paths;
    if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === "string" && p.length > 0)) {
      throw invalidOption("FileSource path", paths, "must be a path or a non-empty array of paths");
    }
    if (options === null || typeof options !== "object") throw invalidOption("FileSource options", options, "must be an object");
    const unknown = Object.keys(options).find((k) => !OPTIONS.includes(k));
    if (unknown) throw invalidOption(`FileSource ${unknown}`, (options as Record<string, unknown>)[unknown], `is not an option (known: ${OPTIONS.join(", ")})`);
    const { format = "lines", monitorInterval, skipBadRecords = false, chunkBytes = 64 * 1024 } = options;
    if (!["lines", "jsonl", "csv"].includes(format)) throw invalidOption("FileSource format", format, 'must be "lines", "jsonl" or "csv"');
    if (monitorInterval !== undefined && (!Number.isFinite(monitorInterval) || monitorInterval <= 0)) {
      throw invalidOption("FileSource monitorInterval", monitorInterval, "must be a number of ms > 0");
    }
    if (typeof skipBadRecords !== "boolean") throw invalidOption("FileSource skipBadRecords", skipBadRecords, "must be a boolean");
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 16 || chunkBytes > LINE_BYTES_MAX) {
      throw invalidOption("FileSource chunkBytes", chunkBytes, `must be an integer from 16 to ${LINE_BYTES_MAX}`);
    }
    this.paths = list.map((p) => resolve(p));
    this.recordType = format === "lines" ? "string" : format === "csv" ? "string[]" : undefined;
    this.format = format;
    this.monitorInterval = monitorInterval;
    this.skipBadRecords = skipBadRecords;
    this.chunkBytes = chunkBytes;
  }

  /** Bad records skipped so far in this process (with `skipBadRecords`). */
  get skippedRecords(): number {
    return this.#skipped;
  }

  createReader(ctx: OperatorContext): SourceReader {
    return new FileSourceReader(this, ctx);
  }

  /** @internal Counts skipped records. */
  countSkipped(n: number): void {
    this.#skipped += n;
  }

  /**
   * @internal The files under the paths, listed once per job run: every subtask deals from
   * one list, and an attempt that starts over before a checkpoint (a restart) reads what the
   * first one listed, not files added since (DESIGN: a bounded source's end is fixed when
   * the job first started).
   */
  initialFiles(jobId: string): Promise<string[]> {
    return this.#listing.get(jobId, () => this.listFiles());
  }

  /** @internal Every regular file under the paths, sorted. */
  async listFiles(): Promise<string[]> {
    const files: string[] = [];
    for (const path of this.paths) {
      let s;
      try {
        s = await stat(path);
      } catch (e) {
        throw new WeirError("file_not_found", `FileSource path ${path} cannot be read: ${(e as Error).message}`, { cause: e });
      }
      if (s.isDirectory()) {
        for (const entry of (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          if (entry.isFile() && !entry.name.startsWith(".")) files.push(join(path, entry.name));
        }
      } else if (s.isFile()) files.push(path);
    }
    return files;
  }
}

class FileSourceReader implements SourceReader {
  readonly #source: FileSource;
  readonly #ctx: OperatorContext;
  #splits: FileSplit[] = [];
  #enumerator: Enumerator | undefined;
  #known = new Set<string>();
  /** Index of the split being read. */
  #current = 0;
  /** Parsed, not yet emitted records of the current split. */
  #buffer: ParsedChunk | undefined;
  #next = 0;
  #fetching = false;
  #error: unknown;
  /** Monitoring: splits found at their end in a row; a full round of them means wait. */
  #idleInRow = 0;
  #sleepUntil = 0;
  #lastDiscovery = 0;

  constructor(source: FileSource, ctx: OperatorContext) {
    this.#source = source;
    this.#ctx = ctx;
  }

  async open(ctx: OperatorContext, restored: unknown[] | undefined): Promise<void> {
    if (restored) {
      for (const s of restored) {
        if ((s as Enumerator)?.enumerator === true) this.#enumerator = checkEnumerator(s);
        else this.#splits.push(checkSplit(s));
      }
    } else {
      const files = await this.#source.initialFiles(ctx.jobId);
      this.#splits = files.filter((_, i) => i % ctx.parallelism === ctx.subtaskIndex).map((path) => ({ path, offset: 0, line: 0 }));
      if (ctx.subtaskIndex === 0) this.#enumerator = { enumerator: true, known: files };
    }
    if (this.#enumerator) this.#known = new Set(this.#enumerator.known);
    this.#lastDiscovery = ctx.clock.now();
  }

  poll(max: number): unknown[] | null | Promise<unknown[] | null> {
    if (this.#error) throw this.#error;
    const b = this.#buffer;
    if (b) {
      const split = this.#splits[this.#current];
      const end = Math.min(b.values.length, this.#next + max);
      const out: Batch = b.values.slice(this.#next, end);
      out.split = split.path;
      if (end > 0) {
        split.offset = b.ends[end - 1];
        split.line = b.lineEnds[end - 1];
      }
      this.#next = end;
      if (end >= b.values.length) {
        split.offset = b.consumed;
        split.line = b.lines;
        if (b.columns !== undefined) split.columns = b.columns;
        this.#buffer = undefined;
      }
      if (out.length > 0) return out;
    }
    if (this.#fetching) return [];
    const monitoring = this.#source.monitorInterval !== undefined;
    if (monitoring && this.#ctx.clock.now() < this.#sleepUntil) return [];
    const open = this.#splits.findIndex((s, k) => !s.done && k >= this.#current);
    const next = open >= 0 ? open : this.#splits.findIndex((s) => !s.done);
    if (next < 0) {
      if (!monitoring) return null;
      this.#discover();
      return [];
    }
    this.#current = next;
    // Pending until the chunk is read (the poll contract allows it: positions move only as
    // records are handed over, below), rather than [] and a timer's wait per chunk: with
    // thousands of small files those waits were most of the time (2.5 ms a file).
    return this.#fetch(next).then(() => this.poll(max));
  }

  /** The files this subtask reads and has not finished (each file is a split; its id is its path). */
  splits(): string[] {
    const ids: string[] = [];
    for (const s of this.#splits) if (!s.done) ids.push(s.path);
    return ids;
  }

  waitMs(): number {
    const wait = this.#sleepUntil - this.#ctx.clock.now();
    return wait > 0 ? wait : 1;
  }

  /** Reads one chunk of split k in the background, so that a slow disk never holds up a barrier. */
  #fetch(k: number): Promise<void> {
    this.#fetching = true;
    const split = this.#splits[k];
    return readChunk(split, this.#source).then((chunk) => {
      this.#fetching = false;
      if (this.#splits[k] !== split) return;
      const skipped = chunk.parsed?.skipped ?? 0;
      this.#source.countSkipped(skipped);
      countSkippedRecords(this.#ctx.jobName, this.#ctx.uid, skipped);
      const parsed = chunk.parsed;
      if (parsed && (parsed.values.length > 0 || parsed.consumed > split.offset)) {
        this.#buffer = parsed;
        this.#next = 0;
        this.#idleInRow = 0;
        return;
      }
      // At the end of this file for now.
      if (this.#source.monitorInterval === undefined) {
        split.done = true;
        return;
      }
      this.#current = k + 1;
      const active = this.#splits.filter((s) => !s.done).length;
      if (++this.#idleInRow >= active) {
        this.#idleInRow = 0;
        this.#current = 0;
        this.#sleepUntil = this.#ctx.clock.now() + this.#source.monitorInterval;
        this.#discover();
      }
    }, (e) => {
      this.#fetching = false;
      // A watched folder's file that was deleted is done; in bounded mode it is an error.
      if (this.#source.monitorInterval !== undefined && (e as WeirError).code === "file_not_found" && (e as { cause?: { code?: string } }).cause?.code === "ENOENT") {
        split.done = true;
        return;
      }
      this.#error = e;
    });
  }

  /** The discovery role: new files under the paths become splits of this subtask. */
  #discover(): void {
    const interval = this.#source.monitorInterval;
    if (interval === undefined || this.#fetching) return;
    const now = this.#ctx.clock.now();
    if (!this.#enumerator) {
      this.#sleepUntil = Math.max(this.#sleepUntil, now + interval);
      return;
    }
    if (now - this.#lastDiscovery < interval) {
      this.#sleepUntil = Math.max(this.#sleepUntil, this.#lastDiscovery + interval);
      return;
    }
    this.#lastDiscovery = now;
    this.#fetching = true;
    this.#source.listFiles().then((files) => {
      this.#fetching = false;
      for (const path of files) {
        if (this.#known.has(path)) continue;
        this.#known.add(path);
        this.#enumerator!.known.push(path);
        this.#splits.push({ path, offset: 0, line: 0 });
        this.#sleepUntil = 0;
      }
    }, (e) => {
      this.#fetching = false;
      this.#error = e;
    });
  }

  snapshotState(): unknown[] {
    const state: unknown[] = this.#splits.map((s) => ({ ...s }));
    if (this.#enumerator) state.push({ enumerator: true, known: [...this.#enumerator.known] });
    return state;
  }

  close(): void {
    this.#buffer = undefined;
  }
}

/** Reads from the split's offset until at least one complete record (or the end of the file). */
async function readChunk(split: FileSplit, source: FileSource): Promise<{ parsed: ParsedChunk | undefined }> {
  let handle;
  try {
    handle = await open(split.path, "r");
  } catch (e) {
    throw new WeirError("file_not_found", `FileSource file ${split.path} cannot be opened: ${(e as Error).message}`, { cause: e });
  }
  try {
    startOver(split, await handle.stat());
    const bounded = source.monitorInterval === undefined;
    let size = source.chunkBytes;
    for (;;) {
      const buffer = new Uint8Array(size);
      const { bytesRead } = await handle.read(buffer, 0, size, split.offset);
      if (bytesRead === 0) return { parsed: undefined };
      const atEnd = bounded && bytesRead < size;
      const parsed = parseChunk(buffer.subarray(0, bytesRead), {
        file: split.path, format: source.format, offset: split.offset, line: split.line, columns: split.columns, skipBad: source.skipBadRecords, atEnd,
      });
      if (parsed.consumed > split.offset || bytesRead < size) return { parsed };
      // One record longer than the chunk: read more at once, up to a bound.
      if (size >= LINE_BYTES_MAX) throw new WeirError("bad_record", `File ${split.path} line ${split.line + 1} is longer than ${LINE_BYTES_MAX} bytes`);
      size = Math.min(size * 4, LINE_BYTES_MAX);
    }
  } finally {
    await handle.close();
  }
}

/**
 * A file replaced at the split's path (another inode: a log rotated by renaming it and
 * creating a new one) or cut shorter than the split's offset (truncated and written again)
 * is read from its start, as a new file; reading on at the old offset lost what the new
 * content held before it, or started in the middle of a line.
 */
function startOver(split: FileSplit, st: { ino: number; size: number }): void {
  const replaced = split.ino !== undefined && split.ino !== 0 && st.ino !== 0 && st.ino !== split.ino;
  if (replaced || st.size < split.offset) {
    split.offset = 0;
    split.line = 0;
    delete split.columns;
  }
  split.ino = st.ino;
}

function checkSplit(s: unknown): FileSplit {
  const o = s as FileSplit;
  if (!o || typeof o !== "object" || typeof o.path !== "string" || !Number.isSafeInteger(o.offset) || !Number.isSafeInteger(o.line) || o.offset < 0) {
    throw new WeirError("checkpoint_corrupt", `FileSource cannot restore split ${JSON.stringify(s)}`);
  }
  return { path: o.path, offset: o.offset, line: o.line, ...(o.columns !== undefined ? { columns: o.columns } : {}), ...(o.done ? { done: true } : {}), ...(Number.isSafeInteger(o.ino) ? { ino: o.ino } : {}) };
}

function checkEnumerator(s: unknown): Enumerator {
  const o = s as Enumerator;
  if (!Array.isArray(o.known) || !o.known.every((p) => typeof p === "string")) {
    throw new WeirError("checkpoint_corrupt", `FileSource cannot restore its file list ${JSON.stringify(s).slice(0, 200)}`);
  }
  return { enumerator: true, known: [...o.known] };
}
