/**
 * The control plane of runtime/remote/ between Durable Objects: the job master in `WeirJob`
 * reaches each `WeirSubtask` object by `POST /_weir/control`, and the object's reports
 * come back by `POST /_weir/callback` to `WeirJob`. Each direction carries CBOR frames of
 * control messages, in order, one call in flight per direction and host.
 * @module
 */
import { decode, encode } from "../../codec/cbor.ts";
import { WeirError } from "../../errors.ts";
import { decodeToMaster, encodeControl } from "../../runtime/remote/control_wire.ts";
import type { ControlHandlers, RemoteHost, TaskExecutorGateway } from "../../runtime/remote/gateway.ts";
import type { ToHost, ToMaster } from "../../runtime/remote/messages.ts";
import type { DurableObjectStubLike } from "./bindings.ts";

/** Where a `WeirSubtask` object takes control messages from the job master. */
export const CONTROL_PATH = "/_weir/control";
/** Where the `WeirJob` object takes the reports of its subtask objects. */
export const CALLBACK_PATH = "/_weir/callback";
/** Names the host a callback comes from. */
export const HOST_HEADER = "x-weir-host";
/**
 * Names the master's incarnation (one per `WeirJob` instance in memory). Attempt numbers
 * start at 0 again when the master object restarts, so a host tells the master it serves
 * by this, not by the attempt: a control call of another incarnation replaces what runs.
 */
export const MASTER_HEADER = "x-weir-master";

/** Figures of the control plane, for the bench. */
export interface ControlStats {
  /** Calls made (one frame of messages each) and messages they carried. */
  calls: number;
  messages: number;
  /** Bytes of the largest frame sent (a deploy carries where state is, never the state). */
  largestFrame: number;
}

/**
 * Sends frames of encoded messages to one object, in order: everything queued while a
 * call travels goes in the next call, and a call only starts when the previous one
 * answered. `failed` hears the first failure; nothing is sent afterwards.
 *
 * @example
 * ```ts
 * import { FrameOutbox } from "./object_host.ts";
 * const frames: number[] = [];
 * const out = new FrameOutbox(async (frame) => void frames.push(frame.length), () => {});
 * out.push(new Uint8Array([1]));
 * out.push(new Uint8Array([2]));
 * await out.idle();
 * console.assert(frames.length === 1);
 * ```
 */
export class FrameOutbox {
  readonly stats: ControlStats = { calls: 0, messages: 0, largestFrame: 0 };
  readonly #call: (frame: Uint8Array) => Promise<void>;
  readonly #failed: (error: unknown) => void;
  #queue: Uint8Array[] = [];
  #running: Promise<void> | undefined;
  #dead = false;

  constructor(call: (frame: Uint8Array) => Promise<void>, failed: (error: unknown) => void) {
    this.#call = call;
    this.#failed = failed;
  }

  push(message: Uint8Array): void {
    if (this.#dead) return;
    this.#queue.push(message);
    this.#running ??= Promise.resolve().then(() => this.#drain()).finally(() => (this.#running = undefined));
  }

  /** Nothing more is sent (what is queued is dropped). */
  stop(): void {
    this.#dead = true;
    this.#queue = [];
  }

  /** Resolves when nothing is queued or travelling. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#dead) {
      const messages = this.#queue;
      this.#queue = [];
      this.stats.calls++;
      this.stats.messages += messages.length;
      const frame = encode(messages, "a control frame");
      this.stats.largestFrame = Math.max(this.stats.largestFrame, frame.length);
      try {
        await this.#call(frame);
      } catch (e) {
        if (this.#dead) return;
        this.stop();
        this.#failed(e);
        return;
      }
    }
  }
}

/**
 * The messages of a control frame.
 * @throws {WeirError} `transport_failed` for bytes that are not a frame.
 */
export function decodeFrame(bytes: Uint8Array): Uint8Array[] {
  let list: unknown;
  try {
    list = decode<unknown>(bytes, "a control frame");
  } catch (e) {
    throw new WeirError("transport_failed", `A control frame of ${bytes.length} bytes does not decode: ${(e as Error).message}`, { cause: e });
  }
  if (!Array.isArray(list) || !list.every((m) => m instanceof Uint8Array)) {
    throw new WeirError("transport_failed", `A control frame of ${bytes.length} bytes holds no list of messages`);
  }
  return list as Uint8Array[];
}

/** Options of {@link DurableObjectHost}. */
export interface DurableObjectHostOptions {
  /** The object's name: what `hostOf()` returns for its subtasks. */
  hostId: string;
  /** A stub of the object (called again after a call failed: a stub that threw may be broken). */
  stub: () => DurableObjectStubLike;
  /** The master's incarnation ({@link MASTER_HEADER}). */
  incarnation: string;
}

/**
 * A `WeirSubtask` object as the job master sees it: a {@link RemoteHost} whose connection
 * POSTs control frames to the object's `/_weir/control` and hears its reports through
 * {@link DurableObjectHost.fromHost} (which `WeirJob` calls for `/_weir/callback`). A call
 * that throws or is answered with an error (the object was restarted and lost its
 * subtasks, or refused the deploy) fails the connection, and with it the execution
 * attempt; the master then connects again and redeploys every object from the latest
 * completed checkpoint. Flink's counterpart: `RpcTaskManagerGateway` over Pekko RPC.
 *
 * @example
 * ```ts
 * import { DurableObjectHost } from "./object_host.ts";
 * const calls: string[] = [];
 * const host = new DurableObjectHost({ hostId: "clicks/v2/0", incarnation: "m1", stub: () => ({ fetch: (r: Request) => { calls.push(new URL(r.url).pathname); return Promise.resolve(new Response(null, { status: 204 })); } }) });
 * const gateway = host.connect({ deliver() {}, failed() {} });
 * gateway.send({ kind: "start", attempt: 0 });
 * await new Promise((r) => setTimeout(r, 0));
 * console.assert(calls[0] === "/_weir/control");
 * ```
 */
export class DurableObjectHost implements RemoteHost {
  readonly hostId: string;
  /** Master → host and host → master, over every connection so far. */
  readonly stats = { toHost: { calls: 0, messages: 0, largestFrame: 0 }, toMaster: { calls: 0, messages: 0 } };
  readonly #options: DurableObjectHostOptions;
  #stub: DurableObjectStubLike | undefined;
  #connection: ObjectConnection | undefined;

  constructor(options: DurableObjectHostOptions) {
    this.hostId = options.hostId;
    this.#options = options;
  }

  connect(handlers: ControlHandlers): TaskExecutorGateway {
    this.#connection?.close();
    const c = new ObjectConnection(this, handlers);
    this.#connection = c;
    return c;
  }

  /** A frame of reports from the object (`POST /_weir/callback`): delivered to the open connection, in order. */
  fromHost(frame: Uint8Array): void {
    const messages = decodeFrame(frame);
    this.stats.toMaster.calls++;
    this.stats.toMaster.messages += messages.length;
    this.#connection?.deliver(messages);
  }

  /** One control call to the object; rejects when it throws or answers with an error. */
  async call(frame: Uint8Array): Promise<void> {
    const stub = (this.#stub ??= this.#options.stub());
    this.stats.toHost.calls++;
    this.stats.toHost.largestFrame = Math.max(this.stats.toHost.largestFrame, frame.length);
    let res: Response;
    try {
      res = await stub.fetch(new Request(`https://weir-subtask${CONTROL_PATH}`, {
        method: "POST",
        body: frame as BodyInit,
        headers: { [HOST_HEADER]: this.hostId, [MASTER_HEADER]: this.#options.incarnation },
      }));
    } catch (e) {
      this.#stub = undefined;
      throw new WeirError("host_failed", `Subtask object ${this.hostId} did not take a control call: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (res.status !== 204) {
      const text = await res.text();
      throw new WeirError("host_failed", `Subtask object ${this.hostId} refused a control call (${res.status}): ${text.slice(0, 300)}`);
    }
  }

  forget(c: ObjectConnection): void {
    if (this.#connection === c) this.#connection = undefined;
  }
}

/** One execution attempt's connection to one object. */
class ObjectConnection implements TaskExecutorGateway {
  readonly #host: DurableObjectHost;
  readonly #handlers: ControlHandlers;
  readonly #out: FrameOutbox;
  #closed = false;
  #attempt: number | undefined;

  constructor(host: DurableObjectHost, handlers: ControlHandlers) {
    this.#host = host;
    this.#handlers = handlers;
    this.#out = new FrameOutbox((frame) => host.call(frame), (e) => this.#fail(e));
  }

  send(message: ToHost): void {
    if (this.#closed) return;
    this.#attempt = message.attempt;
    this.#out.push(encodeControl(message));
    this.#host.stats.toHost.messages++;
  }

  deliver(messages: Uint8Array[]): void {
    if (this.#closed) return;
    let decoded: ToMaster[];
    try {
      decoded = messages.map(decodeToMaster);
    } catch (e) {
      return this.#fail(e);
    }
    for (const m of decoded) {
      if (this.#closed) return;
      this.#handlers.deliver(m);
    }
  }

  /** The object stops this attempt's subtasks: a `cancel` after what is queued, best effort. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#host.forget(this);
    if (this.#attempt !== undefined) {
      const cancel = encodeControl({ kind: "cancel", attempt: this.#attempt });
      const out = new FrameOutbox((frame) => this.#host.call(frame), () => {/* the object is gone: nothing to cancel */});
      void this.#out.idle().then(() => out.push(cancel));
    }
  }

  #fail(error: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#out.stop();
    this.#host.forget(this);
    this.#handlers.failed(error);
  }
}
