import { Kvm, type KV } from "@nats-io/kv";
import type { JetStreamClient } from "@nats-io/jetstream";
import { jsonUnfaithfulPart } from "../codec/json_values.ts";
import { describe as describeValue, invalidOption, WeirError } from "../errors.ts";
import type { OperatorContext, Sink, SinkWriter } from "../dataflow/operator.ts";
import { checkNatsServers, connectNats, type NatsClient, natsUnavailable } from "./clients/nats.ts";
import { type HeldTransaction, HeldTransactionsWriter } from "./held_transactions.ts";

/** Options of a {@link NatsJetStreamSink}. */
export interface NatsJetStreamSinkOptions {
  /** `nats://host:port` or `host:port`, or an array of them. */
  servers: string | string[];
  /** The subject to publish to; a JetStream stream must capture it. */
  subject: string;
}

const OPTIONS = new Set(["servers", "subject"]);
/**
 * Bytes a message's header takes besides its uid (three bytes a UTF-16 unit at most): the
 * NATS/1.0 line, "Nats-Msg-Id: ", a transaction id's run, subtask and checkpoint, an index.
 */
const HEADER_RESERVE = 160;
/** Publishes in flight at once within one commit. */
const PUBLISH_WINDOW = 1000;
/** The KV bucket that records each writer's committed checkpoint. */
export const NATS_COMMITS_BUCKET = "weir_sink_commits";

/**
 * An exactly-once sink that publishes to a JetStream stream. A record is published as its
 * text (strings as they are, other values as JSON), with the message id
 * `<transaction id>-<index>`: JetStream drops a message whose id it saw within the
 * stream's duplicate window (2 minutes by default), so a commit repeated soon after a
 * failure adds nothing. Beyond that window, the KV bucket `weir_sink_commits` holds each
 * writer's last committed checkpoint and a commit already recorded there is skipped, and
 * how far a cut commit got, a window of 1000 messages at a time (publishTransaction). The
 * stream must exist (an error names it). Flink's Kafka sink with idempotent producers is
 * the model.
 *
 * @throws {WeirError} `invalid_option` for a bad option (named); at start
 *   `connector_unavailable` naming the servers; `stream_not_found` when no stream
 *   captures the subject; `sink_record_invalid` for a record JSON cannot hold, or larger
 *   than the server's `max_payload`.
 * @example
 * ```ts
 * import { NatsJetStreamSink } from "./nats_jetstream_sink.ts";
 * const sink = new NatsJetStreamSink({ servers: "127.0.0.1:4222", subject: "counts.out" });
 * console.assert(sink.subject === "counts.out");
 * ```
 */
export class NatsJetStreamSink<T = unknown> implements Sink<T> {
  declare readonly __type?: T;
  readonly servers: string[];
  readonly subject: string;

  constructor(options: NatsJetStreamSinkOptions) {
    if (options === null || typeof options !== "object") throw invalidOption("NatsJetStreamSink options", options, "must be an object");
    for (const k of Object.keys(options)) if (!OPTIONS.has(k)) throw invalidOption(`NatsJetStreamSink.${k}`, (options as unknown as Record<string, unknown>)[k], "is not a NatsJetStreamSink option");
    this.servers = checkNatsServers(options.servers, "NatsJetStreamSink.servers");
    // Dot-separated tokens, none empty ("a..b", ".a" and "a." are no subjects), no wildcard.
    if (typeof options.subject !== "string" || !/^[^\s*>.]+(\.[^\s*>.]+)*$/.test(options.subject)) throw invalidOption("NatsJetStreamSink.subject", options.subject, "must be a subject without wildcards, of dot-separated tokens none of which is empty");
    this.subject = options.subject;
  }

  createWriter(ctx: OperatorContext): SinkWriter {
    return new NatsJetStreamSinkWriter(this as NatsJetStreamSink, ctx);
  }
}

class NatsJetStreamSinkWriter extends HeldTransactionsWriter<string> {
  readonly #sink: NatsJetStreamSink;
  #nats: NatsClient | undefined;
  #kv: KV | undefined;

  constructor(sink: NatsJetStreamSink, ctx: OperatorContext) {
    super(ctx);
    this.#sink = sink;
  }

  protected async connect(): Promise<void> {
    const s = this.#sink;
    this.#nats = await connectNats(s.servers, { option: "NatsJetStreamSink.servers" });
    try {
      await this.#nats.jsm.streams.find(s.subject);
    } catch (e) {
      const why = (e as Error)?.message ?? String(e);
      if (/no stream matches subject/i.test(why)) {
        throw new WeirError("stream_not_found", `NatsJetStreamSink: no JetStream stream captures subject "${s.subject}" on ${s.servers.join(", ")} (create the stream first)`);
      }
      throw natsUnavailable(s.servers, e);
    }
    try {
      this.#kv = await new Kvm(this.#nats.js).create(NATS_COMMITS_BUCKET);
    } catch (e) {
      throw natsUnavailable(s.servers, e, `cannot open KV bucket ${NATS_COMMITS_BUCKET}`);
    }
  }

  protected convert(record: unknown): string {
    if (typeof record === "string") return this.#fits(record);
    const unfaithful = jsonUnfaithfulPart(record);
    if (unfaithful) throw new WeirError("sink_record_invalid", `NatsJetStreamSink "${this.ctx.uid}" cannot publish ${describeValue(record)} to "${this.#sink.subject}" as JSON: ${unfaithful}`);
    const json = JSON.stringify(record);
    if (json === undefined) throw new WeirError("sink_record_invalid", `NatsJetStreamSink "${this.ctx.uid}" cannot publish ${describeValue(record)} to "${this.#sink.subject}"`);
    return this.#fits(json);
  }

  /**
   * `text`, unless it exceeds the server's `max_payload`: refused here, naming the limit,
   * rather than at the commit, which the server would refuse on every retry.
   */
  #fits(text: string): string {
    const limit = this.#nats?.connection.info?.max_payload;
    if (limit === undefined) return text;
    // The server counts the Nats-Msg-Id header in (NATS/1.0 line, the id: transaction id and index).
    const max = limit - HEADER_RESERVE - 3 * this.ctx.uid.length;
    // A UTF-8 byte is at most 3 per UTF-16 unit: only a text that may be over is measured.
    if (text.length * 3 <= max) return text;
    const bytes = new TextEncoder().encode(text).length;
    if (bytes <= max) return text;
    throw new WeirError("sink_record_invalid", `NatsJetStreamSink "${this.ctx.uid}" cannot publish a record of ${bytes} bytes to "${this.#sink.subject}": the server takes messages of at most ${limit} bytes (its max_payload), ${limit - max} of them for the message id header`);
  }

  protected async commit(t: HeldTransaction<string>): Promise<void> {
    try {
      await publishTransaction(this.#nats!.js, this.#kv!, this.#sink.subject, t);
    } catch (e) {
      throw natsUnavailable(this.#sink.servers, e, `did not take transaction ${t.id}`);
    }
  }

  protected disconnect(): void {
    this.#nats?.close().catch(() => {});
    this.#nats = undefined;
  }
}

/**
 * Publishes transaction `t` to `subject` a window of messages at a time, each with the id
 * `<transaction id>-<index>`, and records it in `kv` under its writer's key: the committed
 * checkpoint once every message is acknowledged, and after each window but the last how far
 * it got (`<key>.progress` = `<checkpoint>:<next index>`). A commit repeated after a cut
 * starts at that mark: within the stream's duplicate window JetStream drops the repeats
 * anyway, and beyond it at most the one window in flight when the commit was cut (its
 * messages acknowledged, the mark not yet written) is published twice.
 */
export async function publishTransaction(js: JetStreamClient, kv: KV, subject: string, t: HeldTransaction<string>, window = PUBLISH_WINDOW): Promise<void> {
  const key = t.scope.replace(/[^-_=/.a-zA-Z0-9]/g, "_");
  const done = await kv.get(key);
  if (done && Number(done.string()) >= t.checkpointId) return; // Committed before.
  const progressKey = `${key}.progress`;
  const mark = /^(\d+):(\d+)$/.exec((await kv.get(progressKey))?.string() ?? "");
  const from = mark && Number(mark[1]) === t.checkpointId ? Number(mark[2]) : 0;
  for (let i = from; i < t.records.length; i += window) {
    const end = Math.min(i + window, t.records.length);
    const acks: Promise<unknown>[] = [];
    for (let j = i; j < end; j++) acks.push(js.publish(subject, t.records[j], { msgID: `${t.id}-${j}` }));
    await Promise.all(acks);
    if (end < t.records.length) await kv.put(progressKey, `${t.checkpointId}:${end}`);
  }
  await kv.put(key, String(t.checkpointId));
}

