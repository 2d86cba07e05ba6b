/**
 * The off-thread encoder of heap snapshots' number pairs (state/number_pairs.ts) on Bun,
 * Deno and Node: one worker thread (pair_encoder_worker.ts) for the process, started on
 * the first batch, unreferenced so that it never keeps the process alive. Batches go over
 * a MessageChannel with their arrays transferred (no copy); results are read with
 * receiveMessageOnPort when the snapshot polls, so a busy subtask needs no turn of its
 * event loop to get them. mod.ts imports this module, which makes it the process's encoder.
 * @module
 */
import { fileURLToPath } from "node:url";
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import { WeirError } from "../errors.ts";
import { type EncodedNumberPairs, type NumberPairBatch, type NumberPairsLayout, type PairEncoder, type PairEncoding, giveBackBatch, usePairEncoder } from "../state/number_pairs.ts";

/** A batch sent to the thread (its arrays' buffers transferred). */
export interface EncodeRequest {
  id: number;
  layout: NumberPairsLayout;
  keys: ArrayBuffer;
  values: ArrayBuffer;
  groups: ArrayBuffer;
  length: number;
}

/** The thread's answer: the batch's buffers back, and the encoded pairs or the error. */
export interface EncodeReply {
  id: number;
  keys: ArrayBuffer;
  values: ArrayBuffer;
  groups: ArrayBuffer;
  bytes?: ArrayBuffer;
  layout?: ArrayBuffer;
  error?: string;
}

// A path, not a URL: Bun's and Node's URL types disagree in a type check of both.
const workerPath = fileURLToPath(new URL(`./pair_encoder_worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url).href);

/** Threads that end before their first answer, in a row, after which the encoder gives up (available: false). */
const FAILED_STARTS_MAX = 2;

/** How often ready() looks for an answer, ms: a turn of the event loop, which a busy subtask still gives timers. */
const READY_POLL_MS = 1;

/** What became of one batch: pending, encoded, failed, or not wanted any more. */
interface Slot {
  result?: EncodedNumberPairs;
  error?: WeirError;
  abandoned: boolean;
  /** ready()'s one promise. */
  ready?: Promise<void>;
}

/**
 * An encoder on a thread of its own.
 *
 * @example
 * ```ts
 * import { WorkerPairEncoder } from "./pair_encoder.ts";
 * import { numberPairBatch } from "../state/number_pairs.ts";
 * const encoder = new WorkerPairEncoder();
 * const b = numberPairBatch(2);
 * b.keys[0] = 1; b.values[0] = 2; b.groups[0] = 3; b.length = 1;
 * const encoding = encoder.encode(b);
 * let r;
 * while (!(r = encoding.poll())) await new Promise((ok) => setTimeout(ok, 1));
 * console.assert(r.groups[0] === 3 && r.bytes.length === 3);
 * encoder.close();
 * ```
 */
export class WorkerPairEncoder implements PairEncoder {
  readonly #workerPath: string;
  #worker: Worker | undefined;
  #port: MessagePort | undefined;
  #next = 1;
  readonly #slots = new Map<number, Slot>();
  /** close() was called: batches pending and to come fail. */
  #closed = false;
  /** The current thread answered a batch. */
  #answered = false;
  /** Threads in a row that ended before their first answer. */
  #failedStarts = 0;
  /** Why no thread could be started here, once that happened. */
  #unavailable: string | undefined;

  /** `workerPath`: the thread's module (tests); pair_encoder_worker's by default. */
  constructor(options: { workerPath?: string } = {}) {
    this.#workerPath = options.workerPath ?? workerPath;
  }

  /** False once a thread could not be started (a runtime without threads): snapshots encode in place. */
  get available(): boolean {
    return this.#unavailable === undefined;
  }

  #start(): MessagePort {
    if (this.#port) return this.#port;
    const { port1, port2 } = new MessageChannel();
    let worker: Worker;
    try {
      worker = new Worker(this.#workerPath, { workerData: { port: port2 }, transferList: [port2] });
    } catch (e) {
      this.#unavailable = String((e as Error)?.message ?? e);
      port1.close();
      throw new WeirError("storage_failed", `The heap snapshot encoder's thread could not start: ${this.#unavailable}`);
    }
    // Neither keeps the process alive: a job that ended leaves no work for them.
    worker.unref();
    (port1 as { unref?: () => void }).unref?.();
    worker.on("error", (e) => this.#end(`failed: ${(e as Error)?.message ?? e}`, worker));
    worker.on("exit", (code) => this.#end(`exited (code ${code})`, worker));
    this.#worker = worker;
    this.#port = port1;
    this.#answered = false;
    return port1;
  }

  /**
   * The thread is gone: batches pending fail (their checkpoints are declined), and the next
   * batch starts a new thread, unless the encoder was closed.
   */
  #end(why: string, worker: Worker | undefined): void {
    if (worker !== this.#worker || this.#closed) return;
    // Answers sent before the end are still good.
    this.#receive();
    // A thread that ends before its first answer did not start (its module could not load):
    // after two of those in a row there are no threads to be had here.
    if (!this.#answered && ++this.#failedStarts >= FAILED_STARTS_MAX) this.#unavailable = why;
    for (const [id, slot] of this.#slots) {
      if (slot.abandoned) this.#slots.delete(id);
      else if (!slot.result && !slot.error) slot.error = new WeirError("storage_failed", `The heap snapshot encoder's thread ${why} before it encoded the snapshot`);
    }
    this.#port?.close();
    this.#port = undefined;
    this.#worker = undefined;
  }

  /** Takes every answer that arrived. */
  #receive(): void {
    const port = this.#port;
    if (!port) return;
    for (let m; (m = receiveMessageOnPort(port)); ) {
      const r = m.message as EncodeReply;
      this.#answered = true;
      this.#failedStarts = 0;
      const batch: NumberPairBatch = { keys: new Float64Array(r.keys), values: new Float64Array(r.values), groups: new Int32Array(r.groups), length: 0 };
      giveBackBatch(batch);
      const slot = this.#slots.get(r.id);
      if (!slot) continue;
      if (slot.abandoned) this.#slots.delete(r.id);
      else if (r.error !== undefined) slot.error = new WeirError("storage_failed", `The heap snapshot encoder failed: ${r.error}`);
      else slot.result = { bytes: new Uint8Array(r.bytes!), groups: new Int32Array(r.layout!) };
    }
  }

  prepare(): void {
    if (this.#closed || this.#unavailable !== undefined) return;
    try {
      this.#start();
    } catch {
      // No threads here: available turns false and snapshots encode on their own thread.
    }
  }

  encode(batch: NumberPairBatch, layout: NumberPairsLayout = "pairs"): PairEncoding {
    const id = this.#next++;
    const slot: Slot = { abandoned: false };
    this.#slots.set(id, slot);
    if (this.#closed) slot.error = new WeirError("storage_failed", "The heap snapshot encoder's thread was closed");
    else {
      const request: EncodeRequest = { id, layout, keys: batch.keys.buffer as ArrayBuffer, values: batch.values.buffer as ArrayBuffer, groups: batch.groups.buffer as ArrayBuffer, length: batch.length };
      try {
        this.#start().postMessage(request, [request.keys, request.values, request.groups]);
      } catch (e) {
        slot.error = e instanceof WeirError ? e : new WeirError("storage_failed", `The heap snapshot encoder could not be sent a snapshot: ${(e as Error)?.message ?? e}`);
      }
    }
    return {
      poll: () => {
        this.#receive();
        if (slot.error) {
          this.#slots.delete(id);
          throw slot.error;
        }
        if (slot.result) this.#slots.delete(id);
        return slot.result;
      },
      ready: () =>
        (slot.ready ??= new Promise<void>((settle) => {
          const look = () => {
            this.#receive();
            if (slot.result || slot.error || slot.abandoned) settle();
            else setTimeout(look, READY_POLL_MS);
          };
          look();
        })),
      abandon: () => {
        slot.abandoned = true;
        if (slot.result || slot.error) this.#slots.delete(id);
      },
    };
  }

  /**
   * Ends the current thread as a crash would: the batches it holds fail, and the next batch
   * starts a new thread (tests, and an operator who wants the thread's memory back).
   */
  stopThread(): Promise<void> {
    const worker = this.#worker;
    if (!worker) return Promise.resolve();
    return new Promise((ended) => {
      worker.once("exit", () => ended());
      void worker.terminate();
    });
  }

  /** Ends the thread for good (tests); batches pending and to come fail. */
  close(): void {
    const worker = this.#worker;
    this.#end("was closed", worker);
    this.#closed = true;
    void worker?.terminate();
  }
}

usePairEncoder(new WorkerPairEncoder());
