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
 * Appends one slice of a transaction atomically, once: the scope's committed checkpoint
 * lives in a hash beside the stream (field = scope), and the last slice appended of a
 * checkpoint not yet committed in field `<scope>:slice` as `<checkpoint>:<slice>`. The
 * script (atomic in Redis) adds the entries only if neither shows this slice as done; the
 * last slice records the checkpoint and drops the slice mark. KEYS: stream, progress hash.
 * ARGV: scope, checkpoint id, slice index, 1 on the last slice (else 0), then per entry its
 * field count and its field/value pairs.
 */
const COMMIT_SCRIPT = `
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local id = tonumber(ARGV[2])
if done >= id then return 0 end
local slice = tonumber(ARGV[3])
local sliceField = ARGV[1] .. ':slice'
local mark = redis.call('HGET', KEYS[2], sliceField)
if mark then
  local markId, markSlice = string.match(mark, '^(%d+):(%d+)$')
  if tonumber(markId) == id and tonumber(markSlice) >= slice then return 0 end
end
local i = 5
local n = 0
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + 2 * count))
  i = i + 1 + 2 * count
  n = n + 1
end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], id)
  redis.call('HDEL', KEYS[2], sliceField)
else
  redis.call('HSET', KEYS[2], sliceField, id .. ':' .. slice)
end
return n
`;

/**
 * Script arguments per call at most (entries' fields and counts): an argument list is
 * spread into one call, and a spread of a few hundred thousand overflows the stack (Deno
 * from ~120 K); a slice also keeps each script, which blocks the server while it runs,
 * short. A retried commit must cut the transaction as the first try did (the slice mark
 * counts slices), so this is fixed, not an option.
 */
export const ARGUMENTS_PER_SLICE = 30_000;

/** Fields of one entry at most: the script unpacks an entry's field/value pairs into one XADD, and Lua's unpack takes about 8000 values. */
export const FIELDS_MAX = 3000;

/**
 * A transaction's entries cut into slices of at most `perSlice` arguments (an entry with
 * more fields than that is a slice of its own), each `[field count, ...fields]` per entry.
 */
export function commitSlices(records: readonly string[][], perSlice = ARGUMENTS_PER_SLICE): (string | number)[][] {
  const slices: (string | number)[][] = [];
  let slice: (string | number)[] = [];
  for (const fields of records) {
    if (slice.length > 0 && slice.length + 1 + fields.length > perSlice) {
      slices.push(slice);
      slice = [];
    }
    slice.push(fields.length / 2);
    for (const f of fields) slice.push(f);
  }
  if (slice.length > 0 || slices.length === 0) slices.push(slice);
  return slices;
}

/**
 * An exactly-once sink that appends to a Redis stream. A record that is an object becomes
 * an entry whose fields are its properties (strings as they are, other values as JSON);
 * any other record becomes one field `value` (JSON). Each subtask keeps a checkpoint's
 * entries in the checkpoint and appends them when it completed, in one Lua script that
 * also records the checkpoint in the hash `<stream>:weir-commits` — so a repeated commit
 * adds nothing, and a transaction is either all in the stream or not at all. A transaction
 * of more than ~10 000 entries is appended in slices, each atomic and recorded in the same
 * hash, so a commit cut between two slices and repeated appends each slice once; a reader
 * may then see the transaction arrive slice by slice. Entry ids are
 * Redis's own (`*`). Flink has no Redis sink of its own; this follows its two-phase commit
 * sink with an idempotent commit.
 *
 * @throws {WeirError} `invalid_option` for a bad option (named); at start
 *   `connector_unavailable` naming the server; `sink_record_invalid` for an object with no
 *   properties (Redis entries need one field) or more than {@link FIELDS_MAX}.
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
      // Refused here, naming the record: at the commit it would fail every retry, after the entries before it in its slice were appended.
      if (fields.length / 2 > FIELDS_MAX) throw new WeirError("sink_record_invalid", `RedisStreamSink "${this.ctx.uid}" cannot append a record of ${fields.length / 2} fields to stream "${this.#sink.stream}": an entry holds at most ${FIELDS_MAX} (the commit script passes an entry's fields to XADD in one Lua call, which takes about 8000 values)`);
      return fields;
    }
    const json = JSON.stringify(record);
    if (json === undefined) throw new WeirError("sink_record_invalid", `RedisStreamSink "${this.ctx.uid}" cannot append ${describeValue(record)} to stream "${this.#sink.stream}"`);
    return ["value", json];
  }

  protected async commit(t: HeldTransaction<string[]>): Promise<void> {
    await appendTransaction(this.#redis!, this.#sink, t);
  }

  protected disconnect(): void {
    this.#redis?.disconnect();
    this.#redis = undefined;
  }
}

/**
 * Appends transaction `t` to the sink's stream slice by slice (commitSlices), each slice
 * atomically and once: a commit repeated after a failure between slices appends only the
 * slices not yet recorded. A reader may see a large transaction's slices arrive one after
 * another, never a slice in part or twice.
 * @throws {WeirError} `connector_unavailable` naming the server when a call fails
 */
export async function appendTransaction(redis: RedisClient, sink: RedisStreamSink, t: HeldTransaction<string[]>, perSlice = ARGUMENTS_PER_SLICE): Promise<void> {
  const slices = commitSlices(t.records, perSlice);
  for (let i = 0; i < slices.length; i++) {
    try {
      await redis.eval(COMMIT_SCRIPT, 2, sink.stream, sink.progressKey, t.scope, t.checkpointId, i, i === slices.length - 1 ? 1 : 0, ...slices[i]);
    } catch (e) {
      throw redisUnavailable(sink.url, e);
    }
  }
}
