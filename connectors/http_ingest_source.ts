import type { Batch } from "../actors/messages.ts";
import { WeirError, invalidOption } from "../errors.ts";
import type { OperatorContext, Source, SourceReader } from "../dataflow/operator.ts";
import { IngestLog } from "./ingest_log.ts";
import { registerIngestEndpoint } from "./ingest_endpoints.ts";

/** The id of the ingest log as a split (SourceReader.splits): one per source. */
const INGEST_SPLIT = "ingest-log";

/** Options of {@link HttpIngestSource}. */
export interface HttpIngestSourceOptions {
  /** Where to POST, on the job's REST server; default `/ingest/<uid>`. */
  path?: string;
  /**
   * Bytes the log may hold that no completed checkpoint has consumed yet (default 32 MiB);
   * beyond, a POST is answered 503 with Retry-After.
   */
  maxLogBytes?: number;
}

/** The read position: the next segment of the log and the next event in it. */
interface IngestSplit {
  segment: number;
  offset: number;
}

const RESERVED = /^\/(jobs|metrics|config|overview|taskmanagers|jobmanager)(\/|$)/;
const POLL_WAIT_MS = 5;
const IDLE_WAIT_MS = 50;

/**
 * Events POSTed to the job's REST server (JSON: one value, or an array of values; NDJSON:
 * one value per line), answered 202 only once they are stored in the job's storage
 * adapter; they replay after a failure, and a checkpoint's completion trims what it
 * consumed. The log is one split, read by one subtask (the others idle); put a
 * `rebalance()` after the source to spread the work. Needs the job's `http` option.
 * After Flink's idea of a replayable source with its position in the checkpoint (FLIP-27);
 * the log plays the part Kafka plays for Flink.
 *
 * @throws {WeirError} `invalid_option` for a bad path or limit.
 * @example
 * ```ts
 * import { HttpIngestSource } from "./http_ingest_source.ts";
 * const source = new HttpIngestSource({ path: "/ingest/clicks" });
 * // env.fromSource(source, { uid: "clicks" }) … then: curl -X POST --data '{"page":1}' http://127.0.0.1:8081/ingest/clicks
 * ```
 */
export class HttpIngestSource<T = unknown> implements Source<T> {
  declare readonly __type?: T;
  readonly path: string | undefined;
  readonly maxLogBytes: number;
  #log: Promise<IngestLog> | undefined;
  #logKey = "";

  constructor(options: HttpIngestSourceOptions = {}) {
    if (options === null || typeof options !== "object") throw invalidOption("HttpIngestSource options", options, "must be an object");
    const unknown = Object.keys(options).filter((k) => k !== "path" && k !== "maxLogBytes");
    if (unknown.length > 0) throw invalidOption(`HttpIngestSource ${unknown[0]}`, (options as Record<string, unknown>)[unknown[0]], "is not an option (known: path, maxLogBytes)");
    const { path, maxLogBytes = 32 << 20 } = options;
    if (path !== undefined && (typeof path !== "string" || !/^\/[A-Za-z0-9._~\-/]+$/.test(path) || RESERVED.test(path) || path.includes("//"))) {
      throw invalidOption("HttpIngestSource path", path, "must be a URL path such as \"/ingest/clicks\", outside the REST API's own paths");
    }
    if (!Number.isSafeInteger(maxLogBytes) || maxLogBytes < 1024) throw invalidOption("HttpIngestSource maxLogBytes", maxLogBytes, "must be an integer >= 1024");
    this.path = path;
    this.maxLogBytes = maxLogBytes;
  }

  createReader(ctx: OperatorContext): SourceReader {
    return new IngestReader(this, ctx);
  }

  /** The log of this source in the job's storage, opened once per job and storage. */
  log(ctx: OperatorContext): Promise<IngestLog> {
    const storage = ctx.storage;
    if (!storage) throw new WeirError("invalid_job", `HttpIngestSource "${ctx.uid}" needs the job's storage adapter, which this runtime does not hand to sources`);
    const key = `${storage.description}\u0000${ctx.jobName}\u0000${ctx.uid}`;
    if (!this.#log || this.#logKey !== key) {
      this.#logKey = key;
      this.#log = IngestLog.open(storage, ctx.jobName, ctx.uid, this.maxLogBytes);
      const path = this.path ?? `/ingest/${encodeURIComponent(ctx.uid)}`;
      const log = this.#log;
      // A failed open is reported by the reader that awaits it; the endpoint answers 503.
      log.catch(() => {});
      registerIngestEndpoint(path, () => log);
    }
    return this.#log;
  }
}

class IngestReader implements SourceReader {
  readonly #source: HttpIngestSource;
  readonly #ctx: OperatorContext;
  #log: IngestLog | undefined;
  #split: IngestSplit | undefined;
  #events: unknown[] | undefined;
  #fetching = false;
  #error: unknown;
  /** Position at each snapshot, to trim the log when that checkpoint completes. */
  readonly #snapshots = new Map<number, number>();

  constructor(source: HttpIngestSource, ctx: OperatorContext) {
    this.#source = source;
    this.#ctx = ctx;
  }

  async open(ctx: OperatorContext, restored: unknown[] | undefined): Promise<void> {
    this.#log = await this.#source.log(ctx);
    if (restored) {
      const splits = restored.map(checkSplit);
      if (splits.length > 1) throw new WeirError("checkpoint_corrupt", `HttpIngestSource "${ctx.uid}" restored ${splits.length} splits; its log has one`);
      this.#split = splits[0];
      if (this.#split && this.#split.segment < this.#log.trimmedBelow) {
        throw new WeirError(
          "checkpoint_corrupt",
          `HttpIngestSource "${ctx.uid}" restores its position at log segment ${this.#split.segment}, but a later checkpoint consumed the log below segment ${this.#log.trimmedBelow} (log ${this.#log.prefix} in ${this.#log.storage.description}): the events accepted in between are gone; restore a later checkpoint or savepoint`,
        );
      }
      // Synchronously after the log opened, so before any POST waiting on it appends.
      if (this.#split) this.#log.skipTo(this.#split.segment);
    } else if (ctx.subtaskIndex === 0) {
      this.#split = { segment: this.#log.first, offset: 0 };
    }
  }

  poll(max: number): unknown[] | null {
    if (this.#error) throw this.#error;
    const split = this.#split;
    if (!split || !this.#log) return [];
    if (this.#events) {
      const out: Batch = this.#events.slice(split.offset, split.offset + max);
      out.split = INGEST_SPLIT;
      split.offset += out.length;
      if (split.offset >= this.#events.length) {
        this.#events = undefined;
        split.segment++;
        split.offset = 0;
      }
      if (out.length > 0) return out;
    }
    // Reads happen off the poll, so a slow storage never holds up a barrier behind it.
    if (!this.#fetching && split.segment <= this.#log.resolvedThrough) this.#fetch(split.segment);
    return [];
  }

  /** The ingest log is one split, held by one subtask; the others hold none (and are idle for event time). */
  splits(): string[] {
    return this.#split ? [INGEST_SPLIT] : [];
  }

  #fetch(segment: number): void {
    this.#fetching = true;
    this.#log!.read(segment).then((events) => {
      this.#fetching = false;
      const split = this.#split;
      if (!split || split.segment !== segment) return;
      if (events === undefined || split.offset >= events.length) {
        // A put that failed (its POST got an error) or a segment a checkpoint consumed.
        split.segment++;
        split.offset = 0;
      } else {
        this.#events = events;
      }
    }, (e) => {
      this.#fetching = false;
      this.#error = e;
    });
  }

  waitMs(): number {
    return this.#split ? POLL_WAIT_MS : IDLE_WAIT_MS;
  }

  snapshotState(checkpointId: number): unknown[] {
    if (!this.#split) return [];
    this.#snapshots.set(checkpointId, this.#split.segment);
    return [{ ...this.#split }];
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    const segment = this.#snapshots.get(checkpointId);
    for (const id of this.#snapshots.keys()) if (id <= checkpointId) this.#snapshots.delete(id);
    if (segment !== undefined) await this.#log?.trimBelow(segment);
  }

  close(): void {
    this.#events = undefined;
  }
}

function checkSplit(s: unknown): IngestSplit {
  const o = s as IngestSplit;
  if (!o || typeof o !== "object" || !Number.isSafeInteger(o.segment) || !Number.isSafeInteger(o.offset) || o.segment < 0 || o.offset < 0) {
    throw new WeirError("checkpoint_corrupt", `HttpIngestSource cannot restore split ${JSON.stringify(s)}`);
  }
  return { segment: o.segment, offset: o.offset };
}
