import { describe as describeValue, invalidOption, WeirError } from "../errors.ts";
import { jsonUnfaithfulPart } from "../codec/json_values.ts";
import type { OperatorContext, Sink, SinkWriter } from "../dataflow/operator.ts";
import { checkRedisUrl, connectRedis, type RedisClient, redisUnavailable } from "./clients/redis.ts";
import { type HeldTransaction, HeldTransactionsWriter } from "./held_transactions.ts";

/** Options of a {@link RedisStreamSink}. */
export interface RedisStreamSinkOptions {
  /** `redis://[user:pass@]host[:port][/db]`. */
  url: string;
  /** The stream's key (created by the first XADD if missing). */
  stream: string;
}

const OPTIONS = new Set(["url", "stream"]);

/**
 * Appends one transaction atomically, once: the scope's committed checkpoint lives in a
 * hash beside the stream, and the script (atomic in Redis) adds the entries only if this
 * transaction's checkpoint is above it. KEYS: stream, progress hash. ARGV: scope,
 * checkpoint id, then per entry its field count and its field/value pairs.
 */
const COMMIT_SCRIPT = `
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local id = tonumber(ARGV[2])
if done >= id then return 0 end
local i = 3
local n = 0
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + 2 * count))
  i = i + 1 + 2 * count
  n = n + 1
end
redis.call('HSET', KEYS[2], ARGV[1], id)
return n
`;

/**
 * An exactly-once sink that appends to a Redis stream. A record that is an object becomes
 * an entry whose fields are its properties (strings as they are, other values as JSON);
 * any other record becomes one field `value` (JSON). Each subtask keeps a checkpoint's
 * entries in the checkpoint and appends them when it completed, in one Lua script that
 * also records the checkpoint in the hash `<stream>:weir-commits` — so a repeated commit
 * adds nothing, and a transaction is either all in the stream or not at all. Entry ids are
 * Redis's own (`*`). Flink has no Redis sink of its own; this follows its two-phase commit
 * sink with an idempotent commit.
 *
 * @throws {WeirError} `invalid_option` for a bad option (named); at start
 *   `connector_unavailable` naming the server; `sink_record_invalid` for an object with no
 *   properties (Redis entries need one field).
 * @example
 * ```ts
 * import { RedisStreamSink } from "./redis_stream_sink.ts";
 * const sink = new RedisStreamSink({ url: "redis://127.0.0.1:6379", stream: "counts" });
 * console.assert(sink.stream === "counts");
 * ```
 */
export class RedisStreamSink<T = unknown> implements Sink<T> {
  declare readonly __type?: T;
  readonly url: string;
  readonly stream: string;
  /** The hash that records each writer's committed checkpoint. */
  readonly progressKey: string;

  constructor(options: RedisStreamSinkOptions) {
    if (options === null || typeof options !== "object") throw invalidOption("RedisStreamSink options", options, "must be an object");
    for (const k of Object.keys(options)) if (!OPTIONS.has(k)) throw invalidOption(`RedisStreamSink.${k}`, (options as unknown as Record<string, unknown>)[k], "is not a RedisStreamSink option");
    checkRedisUrl(options.url, "RedisStreamSink.url");
    if (typeof options.stream !== "string" || options.stream.length === 0) throw invalidOption("RedisStreamSink.stream", options.stream, "must be a non-empty stream key");
    this.url = options.url;
    this.stream = options.stream;
    this.progressKey = `${options.stream}:weir-commits`;
  }

  createWriter(ctx: OperatorContext): SinkWriter {
    return new RedisStreamSinkWriter(this as RedisStreamSink, ctx);
  }
}

class RedisStreamSinkWriter extends HeldTransactionsWriter<string[]> {
  readonly #sink: RedisStreamSink;
  #redis: RedisClient | undefined;

  constructor(sink: RedisStreamSink, ctx: OperatorContext) {
    super(ctx);
    this.#sink = sink;
  }

  protected async connect(): Promise<void> {
    this.#redis = await connectRedis(this.#sink.url, { option: "RedisStreamSink.url" });
  }

  protected convert(record: unknown): string[] {
    const unfaithful = typeof record === "string" ? undefined : jsonUnfaithfulPart(record);
    if (unfaithful) throw new WeirError("sink_record_invalid", `RedisStreamSink "${this.ctx.uid}" cannot append ${describeValue(record)} to stream "${this.#sink.stream}" as JSON: ${unfaithful}`);
    const fields: string[] = [];
    if (record !== null && typeof record === "object" && !Array.isArray(record)) {
      for (const [k, v] of Object.entries(record)) {
        if (v === undefined) continue;
        fields.push(k, typeof v === "string" ? v : JSON.stringify(v));
      }
      if (fields.length === 0) throw new WeirError("sink_record_invalid", `RedisStreamSink "${this.ctx.uid}" cannot append ${describeValue(record)} to stream "${this.#sink.stream}": an entry needs at least one field`);
      return fields;
    }
    const json = JSON.stringify(record);
    if (json === undefined) throw new WeirError("sink_record_invalid", `RedisStreamSink "${this.ctx.uid}" cannot append ${describeValue(record)} to stream "${this.#sink.stream}"`);
    return ["value", json];
  }

  protected async commit(t: HeldTransaction<string[]>): Promise<void> {
    const args: (string | number)[] = [t.scope, t.checkpointId];
    for (const fields of t.records) args.push(fields.length / 2, ...fields);
    try {
      await this.#redis!.eval(COMMIT_SCRIPT, 2, this.#sink.stream, this.#sink.progressKey, ...args);
    } catch (e) {
      throw redisUnavailable(this.#sink.url, e);
    }
  }

  protected disconnect(): void {
    this.#redis?.disconnect();
    this.#redis = undefined;
  }
}
