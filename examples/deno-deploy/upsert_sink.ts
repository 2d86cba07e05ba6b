/**
 * An exactly-once upsert sink into a storage adapter, for the Deno Deploy example: the
 * latest record per key is pre-committed at the snapshot and written when the checkpoint
 * completes. Upserts are idempotent, so the commit that recovery repeats (the restored
 * checkpoint's pre-commit) writes the same values again and the result stays exactly-once.
 * @module
 */
import type { OperatorContext, OperatorSnapshot, RestoredState, Sink, SinkWriter, StorageAdapter } from "../../mod.ts";
import { WeirError } from "../../mod.ts";

/** A pre-committed upsert batch: the latest value per key, as of one checkpoint. */
interface Transaction {
  checkpointId: number;
  entries: [key: string, value: unknown][];
}

/**
 * Writes `keyOf(record) → record` as JSON under `<prefix><key>` in `storage`, once the
 * checkpoint that saw the record completes (Flink's two-phase commit sink, with an
 * idempotent upsert as the commit).
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../../mod.ts";
 * import { UpsertSink } from "./upsert_sink.ts";
 * const sink = new UpsertSink(new MemoryStorage(), "job/results/", (r: { user: string }) => r.user);
 * console.assert(sink.prefix === "job/results/");
 * ```
 */
export class UpsertSink<T> implements Sink<T> {
  declare readonly __type?: T;
  constructor(readonly storage: StorageAdapter, readonly prefix: string, readonly keyOf: (record: T) => string) {
    if (!prefix.endsWith("/")) throw new WeirError("invalid_option", `UpsertSink prefix must end with "/", got ${JSON.stringify(prefix)}`);
  }

  createWriter(ctx: OperatorContext): SinkWriter {
    return new UpsertWriter(this as UpsertSink<unknown>, ctx);
  }

  /** Every committed value, by key. */
  async read(): Promise<Record<string, T>> {
    const out: Record<string, T> = {};
    for (const key of await this.storage.list(this.prefix)) {
      const bytes = await this.storage.get(key);
      if (bytes) out[decodeURIComponent(key.slice(this.prefix.length))] = JSON.parse(new TextDecoder().decode(bytes));
    }
    return out;
  }
}

/** A key as one storage path segment: "/" and "." escaped, so no key can escape the prefix. */
function storageName(key: string): string {
  return encodeURIComponent(key).replace(/\./g, "%2E");
}

class UpsertWriter implements SinkWriter {
  readonly #sink: UpsertSink<unknown>;
  readonly #ctx: OperatorContext;
  #current = new Map<string, unknown>();
  #pending: Transaction[] = [];

  constructor(sink: UpsertSink<unknown>, ctx: OperatorContext) {
    this.#sink = sink;
    this.#ctx = ctx;
  }

  async open(_ctx: OperatorContext, restored: RestoredState | undefined): Promise<void> {
    // What the restored checkpoint pre-committed belongs to a completed checkpoint.
    const txns = (restored?.operator ?? []) as Transaction[];
    for (const t of txns.sort((a, b) => a.checkpointId - b.checkpointId)) {
      if (!t || !Number.isSafeInteger(t.checkpointId) || !Array.isArray(t.entries)) {
        throw new WeirError("checkpoint_corrupt", `UpsertSink "${this.#ctx.uid}" cannot restore transaction ${JSON.stringify(t)?.slice(0, 80)}`);
      }
      await this.#commit(t);
    }
  }

  write(values: unknown[]): void {
    for (const v of values) this.#current.set(this.#sink.keyOf(v), v);
  }

  snapshotState(checkpointId: number): OperatorSnapshot {
    if (this.#current.size > 0) {
      this.#pending.push({ checkpointId, entries: [...this.#current] });
      this.#current = new Map();
    }
    return { operator: this.#pending.map((t) => ({ checkpointId: t.checkpointId, entries: t.entries })) };
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    // In checkpoint order, so that a key's later value lands last.
    while (this.#pending.length > 0 && this.#pending[0].checkpointId <= checkpointId) {
      await this.#commit(this.#pending[0]);
      this.#pending.shift();
    }
  }

  async #commit(t: Transaction): Promise<void> {
    const encoder = new TextEncoder();
    await Promise.all(t.entries.map(([key, value]) => this.#sink.storage.put(`${this.#sink.prefix}${storageName(key)}`, encoder.encode(JSON.stringify(value)))));
  }
}
