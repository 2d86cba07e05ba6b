/**
 * An exactly-once sink into a storage adapter: one JSON-lines object per committed
 * transaction, readable afterwards with any tool that reads the storage (an R2 bucket, a
 * Durable Object's table, a local directory).
 * @module
 */
import { WeirError, invalidOption } from "../errors.ts";
import { type OperatorContext, type OperatorSnapshot, type RestoredState, type Sink, type SinkWriter, sinkTransactionId } from "../dataflow/operator.ts";
import { type StorageAdapter, checkKey } from "../storage/adapter.ts";

/** A pre-committed transaction: the records of one subtask between two checkpoints. */
interface Transaction {
  txn: string;
  checkpointId: number;
  records: unknown[];
}

/** Options of {@link StorageSink}. */
export interface StorageSinkOptions {
  /** Where to commit; default the job's own storage adapter (on Cloudflare, the job object's storage). */
  storage?: StorageAdapter;
  /** The key prefix ("directory") of the committed objects; default `sinks/<uid>`. */
  prefix?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Commits each subtask's records of a completed checkpoint as one object
 * `<prefix>/<transaction id>.jsonl` (one JSON value per line). The transaction id names
 * the job run, uid, subtask and checkpoint (Flink's two-phase commit sink, FLIP-143), so a
 * commit repeated after a restore writes the same object again and changes nothing:
 * exactly-once on any storage whose put is atomic. Records must be JSON values.
 * Without `storage` it writes to the job's storage adapter, so the same job code commits
 * to a local directory under Bun and to the job object's storage on Cloudflare.
 *
 * @throws {WeirError} `invalid_option` for a bad prefix; `sink_record_invalid` at the
 *   commit for a record JSON cannot carry.
 * @example
 * ```ts
 * import { MemoryStorage, SequenceSource, StreamEnvironment } from "../mod.ts";
 * import { StorageSink } from "./storage_sink.ts";
 * const storage = new MemoryStorage();
 * const env = new StreamEnvironment({ jobName: "doc", storage });
 * env.fromSource(new SequenceSource(0, 5), { uid: "n" }).sinkTo(new StorageSink<number>(), { uid: "out" });
 * await (await env.execute()).done;
 * console.assert((await StorageSink.readCommitted<number>(storage, "sinks/out")).length === 5);
 * ```
 */
export class StorageSink<T = unknown> implements Sink<T> {
  declare readonly __type?: T;
  readonly storage: StorageAdapter | undefined;
  readonly prefix: string | undefined;

  constructor(options: StorageSinkOptions = {}) {
    if (options === null || typeof options !== "object") throw invalidOption("StorageSink options", options, "must be an object");
    if (options.storage !== undefined && typeof options.storage?.put !== "function") throw invalidOption("StorageSink storage", options.storage, "must be a StorageAdapter");
    if (options.prefix !== undefined) {
      try {
        checkKey(options.prefix);
      } catch {
        throw invalidOption("StorageSink prefix", options.prefix, "must be a storage key such as \"sinks/counts\"");
      }
    }
    this.storage = options.storage;
    this.prefix = options.prefix;
  }

  createWriter(ctx: OperatorContext): SinkWriter {
    const storage = this.storage ?? ctx.storage;
    if (!storage) throw new WeirError("invalid_job", `StorageSink "${ctx.uid}" has no storage: pass { storage } (this runtime hands no job storage to sinks)`);
    return new StorageSinkWriter(storage, this.prefix ?? `sinks/${ctx.uid}`, ctx);
  }

  /** Every record committed under `prefix`, object by object in key order. */
  static async readCommitted<T = unknown>(storage: StorageAdapter, prefix: string): Promise<T[]> {
    const out: T[] = [];
    for (const key of await storage.list(`${prefix}/`)) {
      if (!key.endsWith(".jsonl")) continue;
      const bytes = await storage.get(key);
      if (!bytes) continue;
      for (const line of decoder.decode(bytes).split("\n")) if (line !== "") out.push(JSON.parse(line) as T);
    }
    return out;
  }
}

class StorageSinkWriter implements SinkWriter {
  #current: unknown[] = [];
  #pending: Transaction[] = [];

  constructor(readonly storage: StorageAdapter, readonly prefix: string, readonly ctx: OperatorContext) {}

  async open(_ctx: OperatorContext, restored: RestoredState | undefined): Promise<void> {
    // The restored checkpoint completed, but its commit may not have happened: commit its
    // transactions again (idempotent), unless a completed stop-with-savepoint committed them.
    for (const t of (restored?.operator ?? []) as Transaction[]) {
      if (!t || typeof t.txn !== "string" || !Array.isArray(t.records)) {
        throw new WeirError("checkpoint_corrupt", `StorageSink "${this.ctx.uid}" cannot restore transaction ${JSON.stringify(t)?.slice(0, 80)}`);
      }
      if (!restored!.transactionsCommitted) await this.#commit(t);
    }
  }

  write(values: unknown[]): void {
    const cur = this.#current;
    for (let i = 0; i < values.length; i++) cur.push(values[i]);
  }

  snapshotState(checkpointId: number): OperatorSnapshot {
    if (this.#current.length > 0) {
      this.#pending.push({ txn: sinkTransactionId(this.ctx, checkpointId), checkpointId, records: this.#current });
      this.#current = [];
    }
    return { operator: this.#pending.map((t) => ({ ...t })) };
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    const rest: Transaction[] = [];
    for (const t of this.#pending) {
      if (t.checkpointId <= checkpointId) await this.#commit(t);
      else rest.push(t);
    }
    this.#pending = rest;
  }

  #commit(t: Transaction): Promise<void> {
    let text = "";
    for (const r of t.records) {
      const line = JSON.stringify(r);
      if (line === undefined) throw new WeirError("sink_record_invalid", `StorageSink "${this.ctx.uid}" cannot write ${String(r)}: not a JSON value`);
      text += line + "\n";
    }
    return this.storage.put(`${this.prefix}/${t.txn}.jsonl`, encoder.encode(text));
  }
}
