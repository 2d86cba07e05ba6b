import { subjectWithin } from "./nats_subjects.ts";
import { FirstStartValue } from "./first_start.ts";
import type { Batch } from "../actors/messages.ts";
import type { OperatorContext, Source, SourceReader } from "../dataflow/operator.ts";
import { WeirError, invalidOption } from "../errors.ts";
import { checkNatsServers, connectNats, type NatsClient, natsStreamExists, natsUnavailable } from "./clients/nats.ts";
import { type FetchResult, Prefetch } from "./prefetch.ts";

/** Options of {@link NatsJetStreamSource}. */
export interface NatsJetStreamSourceOptions {
  /** A URL or host:port, or an array of them. */
  servers: string | string[];
  /** The JetStream stream; it must exist. */
  stream: string;
  /** Only messages on this subject (wildcards allowed). */
  subject?: string;
  /** Read what the stream holds at the first start, then end (default false). */
  bounded?: boolean;
  /** Messages per fetch (default 1000). */
  batchSize?: number;
}

/** A record of the source. */
export interface NatsJetStreamMessage {
  seq: number;
  subject: string;
  data: string;
}

/** The position: the next stream sequence to read, and (bounded) the last one. */
interface SeqSplit {
  stream: string;
  next: number;
  end?: number;
}

const OPTIONS = ["servers", "stream", "subject", "bounded", "batchSize"];
const FETCH_EXPIRES_MS = 1000;
const IDLE_WAIT_MS = 1000;

/**
 * Reads a NATS JetStream stream by stream sequence through an ephemeral ordered consumer;
 * the next sequence is the position in every checkpoint. One stream is one split: one
 * subtask reads it. `bounded` fixes the stream's last sequence at the first start (kept in
 * the checkpoint) and ends there. A server that goes away fails the subtask; the restart
 * strategy reconnects and reads on from the restored sequence. The model is Flink's
 * Kafka source with a stopping offset (FLIP-27).
 *
 * @throws {WeirError} `invalid_option` for bad options; at start `connector_unavailable`
 *   naming the servers, or `stream_not_found` naming the stream.
 * @example
 * ```ts
 * import { NatsJetStreamSource } from "./nats_jetstream_source.ts";
 * const events = new NatsJetStreamSource({ servers: "127.0.0.1:4222", stream: "EVENTS", subject: "events.>" });
 * ```
 */
export class NatsJetStreamSource implements Source<NatsJetStreamMessage> {
  declare readonly __type?: NatsJetStreamMessage;
  /** The record type it declares: `union` refuses a stream of another declared type. */
  readonly recordType = "NatsJetStreamMessage";
  readonly servers: string[];
  readonly stream: string;
  readonly subject: string | undefined;
  readonly bounded: boolean;
  readonly batchSize: number;

  constructor(options: NatsJetStreamSourceOptions) {
    if (options === null || typeof options !== "object") throw invalidOption("NatsJetStreamSource options", options, "must be an object");
    const unknown = Object.keys(options).find((k) => !OPTIONS.includes(k));
    if (unknown) throw invalidOption(`NatsJetStreamSource ${unknown}`, (options as unknown as Record<string, unknown>)[unknown], `is not an option (known: ${OPTIONS.join(", ")})`);
    const { servers, stream, subject, bounded = false, batchSize = 1000 } = options;
    this.servers = checkNatsServers(servers, "NatsJetStreamSource servers");
    if (typeof stream !== "string" || !/^[^\s.*>]+$/.test(stream)) throw invalidOption("NatsJetStreamSource stream", stream, "must be a stream name (no spaces, '.', '*' or '>')");
    // Dot-separated tokens, none empty; a token may be "*", and the last one ">".
    if (subject !== undefined && (typeof subject !== "string" || !/^([^\s.*>]+|\*)(\.([^\s.*>]+|\*))*(\.>)?$|^>$/.test(subject))) {
      throw invalidOption("NatsJetStreamSource subject", subject, "must be a subject such as \"orders.>\"");
    }
    if (typeof bounded !== "boolean") throw invalidOption("NatsJetStreamSource bounded", bounded, "must be a boolean");
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw invalidOption("NatsJetStreamSource batchSize", batchSize, "must be an integer >= 1");
    this.stream = stream;
    this.subject = subject;
    this.bounded = bounded;
    this.batchSize = batchSize;
  }

  createReader(_ctx: OperatorContext): SourceReader {
    return new NatsReader(this);
  }

  /** @internal The stream's last sequence when the job run first started (see first_start.ts). */
  readonly lastSeqAtFirstStart: FirstStartValue<number> = new FirstStartValue();
}

class NatsReader implements SourceReader {
  readonly #source: NatsJetStreamSource;
  #nats: NatsClient | undefined;
  #split: SeqSplit | undefined;
  readonly #prefetch = new Prefetch<NatsJetStreamMessage>();
  readonly #decoder = new TextDecoder();

  constructor(source: NatsJetStreamSource) {
    this.#source = source;
  }

  async open(ctx: OperatorContext, restored: unknown[] | undefined): Promise<void> {
    const s = this.#source;
    if (restored) {
      if (restored.length > 1) throw new WeirError("checkpoint_corrupt", `NatsJetStreamSource "${ctx.uid}" restored ${restored.length} splits; a stream is one`);
      this.#split = restored.length === 1 ? checkSplit(restored[0]) : undefined;
    } else if (ctx.subtaskIndex === 0) {
      this.#split = { stream: s.stream, next: 1 };
    }
    if (!this.#split) return;
    this.#nats = await connectNats(s.servers, { option: "NatsJetStreamSource servers" });
    if (!(await natsStreamExists(this.#nats, s.stream))) {
      await this.#nats.close();
      throw new WeirError("stream_not_found", `NATS JetStream stream "${s.stream}" does not exist on ${s.servers.join(", ")}; create it first`);
    }
    if (s.subject !== undefined) {
      const subjects = (await this.#nats.jsm.streams.info(s.stream).catch((e) => {
        throw natsUnavailable(s.servers, e);
      })).config.subjects ?? [];
      if (subjects.length > 0 && !subjects.some((p) => subjectWithin(s.subject!, p))) {
        await this.#nats.close();
        throw new WeirError("invalid_option", `NatsJetStreamSource subject "${s.subject}" is not within the subjects of stream "${s.stream}" (${subjects.join(", ")}): it would never match`);
      }
    }
    // A server that goes away closes the connection (no reconnects): fail the subtask.
    void this.#nats.connection.closed().then((e) => this.#prefetch.fail(natsUnavailable(s.servers, e ?? new Error("connection closed"))));
    if (s.bounded && this.#split.end === undefined) {
      // Fixed at the first start of the job run: an attempt that starts over before a checkpoint takes the same.
      this.#split.end = await s.lastSeqAtFirstStart.get(ctx.jobId, async () => {
        const info = await this.#nats!.jsm.streams.info(s.stream).catch((e) => {
          throw natsUnavailable(s.servers, e);
        });
        return info.state.last_seq;
      });
    }
  }

  poll(max: number): NatsJetStreamMessage[] | null {
    const split = this.#split;
    const out = this.#prefetch.take(max);
    if (!split) return this.#source.bounded ? null : [];
    if (out) {
      split.next = out[out.length - 1].seq + 1;
      (out as Batch).split = split.stream;
      return out;
    }
    if (this.#prefetch.ended || (split.end !== undefined && split.next > split.end)) return null;
    const from = split.next;
    const servers = this.#source.servers;
    this.#prefetch.fetch(() => this.#read(split, from), () => split === this.#split && split.next === from, (e) => e instanceof WeirError ? e : natsUnavailable(servers, e));
    return [];
  }

  /** The stream is one split, held by one subtask; the others hold none (and are idle for event time). */
  splits(): string[] {
    return this.#split ? [this.#split.stream] : [];
  }

  waitMs(): number {
    return this.#split ? 1 : IDLE_WAIT_MS;
  }

  /** One fetch from sequence `from`. */
  async #read(split: SeqSplit, from: number): Promise<FetchResult<NatsJetStreamMessage>> {
    const s = this.#source;
    // A fresh ordered consumer per fetch: it starts exactly at the position, whatever
    // happened before (a restore, a skipped message), and the server drops it when idle.
    const consumer = await this.#nats!.js.consumers.get(s.stream, {
      deliver_policy: "by_start_sequence" as never,
      opt_start_seq: from,
      ...(s.subject ? { filter_subjects: s.subject } : {}),
      inactive_threshold: 5_000_000_000,
    });
    const records: NatsJetStreamMessage[] = [];
    let caughtUp = false;
    const max = split.end !== undefined ? Math.min(s.batchSize, split.end - from + 1) : s.batchSize;
    const messages = await consumer.fetch({ max_messages: max, expires: FETCH_EXPIRES_MS });
    for await (const m of messages) {
      if (split.end !== undefined && m.seq > split.end) {
        caughtUp = true;
        break;
      }
      records.push({ seq: m.seq, subject: m.subject, data: this.#decoder.decode(m.data) });
      // Caught up: what was read goes out now, rather than when the fetch expires (up to
      // FETCH_EXPIRES_MS later while the stream is quiet).
      if (m.info.pending === 0) {
        caughtUp = true;
        break;
      }
    }
    await consumer.delete().catch(() => {});
    // Bounded: nothing pending (or nothing fetched) means nothing up to the end remains.
    return { records, end: split.end !== undefined && (caughtUp || records.length === 0) };
  }

  snapshotState(): unknown[] {
    return this.#split ? [{ ...this.#split }] : [];
  }

  close(): void {
    this.#prefetch.close();
    void this.#nats?.close().catch(() => {});
    this.#nats = undefined;
  }
}

function checkSplit(s: unknown): SeqSplit {
  const o = s as SeqSplit;
  if (!o || typeof o !== "object" || typeof o.stream !== "string" || !Number.isSafeInteger(o.next) || o.next < 1 || (o.end !== undefined && !Number.isSafeInteger(o.end))) {
    throw new WeirError("checkpoint_corrupt", `NatsJetStreamSource cannot restore split ${JSON.stringify(s)}`);
  }
  return o.end === undefined ? { stream: o.stream, next: o.next } : { stream: o.stream, next: o.next, end: o.end };
}
