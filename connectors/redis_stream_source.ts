import { FirstStartValue } from "./first_start.ts";
import type { Batch } from "../actors/messages.ts";
import type { OperatorContext, Source, SourceReader } from "../dataflow/operator.ts";
import { WeirError, invalidOption } from "../errors.ts";
import { checkRedisUrl, connectRedis, type RedisClient, redisUnavailable } from "./clients/redis.ts";
import { type FetchResult, Prefetch } from "./prefetch.ts";

/** Options of {@link RedisStreamSource}. */
export interface RedisStreamSourceOptions {
  /** `redis://[user:pass@]host[:port][/db]`. */
  url: string;
  /** The stream's key. */
  stream: string;
  /** Read the entries after this id (default "0": all); "$" means those added after the first start. */
  startId?: string;
  /** Read what the stream holds at the first start, then end (default false). */
  bounded?: boolean;
  /** Entries per XREAD (default 1000). */
  batchSize?: number;
}

/** A record of the source: the entry id and its fields. */
export interface RedisStreamEntry {
  id: string;
  fields: Record<string, string>;
}

/** The position: the id of the last entry emitted, and (bounded) the last id to read. */
interface StreamSplit {
  stream: string;
  last: string;
  end?: string;
}

const ID = /^\d+-\d+$/;
const OPTIONS = ["url", "stream", "startId", "bounded", "batchSize"];
const BLOCK_MS = 100;
const IDLE_WAIT_MS = 1000;

/**
 * Reads a Redis stream with XREAD by entry id; the id of the last emitted entry is the
 * position in every checkpoint, so a restore reads on after it. One stream is one split:
 * one subtask reads it (the others idle), so rebalance after the source to spread work.
 * `bounded` fixes the stream's last id at the first start (kept in the checkpoint) and ends
 * there. A server that goes away fails the subtask; the restart strategy reconnects and
 * the restored position loses nothing. Flink's Kafka source with a stopping offset is
 * the model (FLIP-27 splits).
 *
 * @throws {WeirError} `invalid_option` for bad options; at start `connector_unavailable`
 *   naming the server.
 * @example
 * ```ts
 * import { RedisStreamSource } from "./redis_stream_source.ts";
 * const orders = new RedisStreamSource({ url: "redis://127.0.0.1:6379", stream: "orders", bounded: true });
 * ```
 */
export class RedisStreamSource implements Source<RedisStreamEntry> {
  declare readonly __type?: RedisStreamEntry;
  /** The record type it declares: `union` refuses a stream of another declared type. */
  readonly recordType = "RedisStreamEntry";
  readonly url: string;
  readonly stream: string;
  readonly startId: string;
  readonly bounded: boolean;
  readonly batchSize: number;

  constructor(options: RedisStreamSourceOptions) {
    if (options === null || typeof options !== "object") throw invalidOption("RedisStreamSource options", options, "must be an object");
    const unknown = Object.keys(options).find((k) => !OPTIONS.includes(k));
    if (unknown) throw invalidOption(`RedisStreamSource ${unknown}`, (options as unknown as Record<string, unknown>)[unknown], `is not an option (known: ${OPTIONS.join(", ")})`);
    const { url, stream, startId = "0", bounded = false, batchSize = 1000 } = options;
    checkRedisUrl(url, "RedisStreamSource url");
    if (typeof stream !== "string" || stream.length === 0) throw invalidOption("RedisStreamSource stream", stream, "must be a non-empty string");
    if (typeof startId !== "string" || !(startId === "0" || startId === "$" || ID.test(startId) || /^\d+$/.test(startId))) {
      throw invalidOption("RedisStreamSource startId", startId, 'must be an entry id ("1700000000000-0"), "0" or "$"');
    }
    if (typeof bounded !== "boolean") throw invalidOption("RedisStreamSource bounded", bounded, "must be a boolean");
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw invalidOption("RedisStreamSource batchSize", batchSize, "must be an integer >= 1");
    this.url = url;
    this.stream = stream;
    this.startId = startId === "0" ? "0-0" : /^\d+$/.test(startId) ? `${startId}-0` : startId;
    this.bounded = bounded;
    this.batchSize = batchSize;
  }

  createReader(_ctx: OperatorContext): SourceReader {
    return new RedisStreamReader(this);
  }

  /** @internal The stream's newest id when the job run first started (see first_start.ts). */
  readonly newestAtFirstStart: FirstStartValue<string> = new FirstStartValue();
}

class RedisStreamReader implements SourceReader {
  readonly #source: RedisStreamSource;
  #redis: RedisClient | undefined;
  #split: StreamSplit | undefined;
  readonly #prefetch = new Prefetch<RedisStreamEntry>();

  constructor(source: RedisStreamSource) {
    this.#source = source;
  }

  async open(ctx: OperatorContext, restored: unknown[] | undefined): Promise<void> {
    const s = this.#source;
    if (restored) {
      if (restored.length > 1) throw new WeirError("checkpoint_corrupt", `RedisStreamSource "${ctx.uid}" restored ${restored.length} splits; a stream is one`);
      this.#split = restored.length === 1 ? checkSplit(restored[0]) : undefined;
    } else if (ctx.subtaskIndex === 0) {
      this.#split = { stream: s.stream, last: s.startId };
    }
    if (!this.#split) return;
    this.#redis = await connectRedis(s.url, { option: "RedisStreamSource url" });
    // Resolved once, at the first start of the job run (an attempt that starts over before a
    // checkpoint takes the same); a restore keeps what the checkpoint says.
    if (this.#split.last === "$" || (s.bounded && this.#split.end === undefined)) {
      const lastId = await s.newestAtFirstStart.get(ctx.jobId, async () => {
        const newest = await this.#call(() => this.#redis!.xrevrange(s.stream, "+", "-", "COUNT", 1));
        return newest.length > 0 ? newest[0][0] : "0-0";
      });
      if (this.#split.last === "$") this.#split.last = lastId;
      if (s.bounded) this.#split.end = lastId;
    }
  }

  poll(max: number): RedisStreamEntry[] | null {
    const split = this.#split;
    const out = this.#prefetch.take(max);
    if (!split) return this.#source.bounded ? null : [];
    if (out) {
      split.last = out[out.length - 1].id;
      (out as Batch).split = split.stream;
      return out;
    }
    if (this.#prefetch.ended || (split.end !== undefined && compareIds(split.last, split.end) >= 0)) return null;
    const after = split.last;
    this.#prefetch.fetch(() => this.#read(split, after), () => split === this.#split && split.last === after, (e) => redisUnavailable(this.#source.url, e));
    return [];
  }

  /** The stream is one split, held by one subtask; the others hold none (and are idle for event time). */
  splits(): string[] {
    return this.#split ? [this.#split.stream] : [];
  }

  waitMs(): number {
    return this.#split ? 1 : IDLE_WAIT_MS;
  }

  /** One XREAD after `after` (blocking up to BLOCK_MS when unbounded). */
  async #read(split: StreamSplit, after: string): Promise<FetchResult<RedisStreamEntry>> {
    const s = this.#source;
    const reply = split.end === undefined
      ? await this.#redis!.xread("COUNT", s.batchSize, "BLOCK", BLOCK_MS, "STREAMS", s.stream, after)
      : await this.#redis!.xread("COUNT", s.batchSize, "STREAMS", s.stream, after);
    const records: RedisStreamEntry[] = [];
    for (const [id, flat] of reply?.[0]?.[1] ?? []) {
      if (split.end !== undefined && compareIds(id, split.end) > 0) break;
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
      records.push({ id, fields });
    }
    // Bounded and nothing left before the end: entries up to it were trimmed away.
    return { records, end: split.end !== undefined && records.length === 0 };
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw redisUnavailable(this.#source.url, e);
    }
  }

  snapshotState(): unknown[] {
    return this.#split ? [{ ...this.#split }] : [];
  }

  close(): void {
    this.#prefetch.close();
    this.#redis?.disconnect();
    this.#redis = undefined;
  }
}

/** Orders stream ids ("ms-seq") numerically. */
export function compareIds(a: string, b: string): number {
  const [am, as = "0"] = a.split("-");
  const [bm, bs = "0"] = b.split("-");
  if (am.length !== bm.length) return am.length - bm.length;
  if (am !== bm) return am < bm ? -1 : 1;
  if (as.length !== bs.length) return as.length - bs.length;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

function checkSplit(s: unknown): StreamSplit {
  const o = s as StreamSplit;
  if (!o || typeof o !== "object" || typeof o.stream !== "string" || typeof o.last !== "string" || !ID.test(o.last) || (o.end !== undefined && !ID.test(o.end))) {
    throw new WeirError("checkpoint_corrupt", `RedisStreamSource cannot restore split ${JSON.stringify(s)}`);
  }
  return o.end === undefined ? { stream: o.stream, last: o.last } : { stream: o.stream, last: o.last, end: o.end };
}
