import { mkdir, readdir, readFile, rename, unlink } from "node:fs/promises";
import { jsonUnfaithfulPart } from "../codec/json_values.ts";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { describe, WeirError } from "../errors.ts";
import type { OperatorContext, OperatorSnapshot, RestoredState, SinkWriter } from "../dataflow/operator.ts";
import { csvRow } from "./csv.ts";
import type { FileSinkConfig } from "./file_sink.ts";
import { PartFile, sizeOf } from "./part_file.ts";
import { runOf, transactionId } from "./transaction_id.ts";

/** A closed part waiting for its checkpoint to complete; names are relative to the sink's directory. */
interface PendingPart {
  kind: "pending";
  checkpointId: number;
  hidden: string;
  visible: string;
}

/** A part kept open across a checkpoint (compaction), valid up to `bytes`. */
interface InProgressPart {
  kind: "inprogress";
  hidden: string;
  visible: string;
  bytes: number;
  records: number;
  run: string;
  subtask: number;
}

type PartState = PendingPart | InProgressPart;

/** One subtask of a FileSink: see FileSink for the protocol. */
export class FileSinkWriter implements SinkWriter {
  readonly #cfg: FileSinkConfig;
  readonly #ctx: OperatorContext;
  readonly #run: string;
  readonly #ext: string;
  #part: PartFile | undefined;
  /** Parts closed since the last snapshot, and their closing (persist + close). */
  #closed: PartFile[] = [];
  #closing: Promise<void>[] = [];
  #pending: PendingPart[] = [];
  /** Per checkpoint: resolves once everything it pre-committed is durable. */
  readonly #durable = new Map<number, Promise<void>>();
  /** Checkpoint id the parts opened now will most likely belong to; with #seq it names them. */
  #tag = 1;
  #seq = 0;
  #finishing = false;

  constructor(cfg: FileSinkConfig, ctx: OperatorContext) {
    this.#cfg = cfg;
    this.#ctx = ctx;
    this.#run = runOf(ctx);
    this.#ext = cfg.format === "csv" ? "csv" : "jsonl";
  }

  async open(_ctx: OperatorContext, restored: RestoredState | undefined): Promise<void> {
    await mkdir(this.#cfg.dir, { recursive: true });
    const entries = (restored?.operator ?? []).map((e) => this.#checkEntry(e));
    this.#tag = (restored?.checkpointId ?? 0) + 1;
    await this.#removeAbandoned(restored?.checkpointId ?? 0, new Set(entries.map((e) => e.hidden)));
    for (const e of entries) {
      // A completed stop-with-savepoint restored by a new run: its commits happened.
      if (e.kind === "pending" && !restored?.transactionsCommitted) await commitPart(this.#cfg.dir, e);
    }
    for (const e of entries) if (e.kind === "inprogress") await this.#adopt(e);
  }

  write(values: unknown[]): Promise<void> | undefined {
    let wait: Promise<void> | undefined;
    const { maxBytes, maxRecords } = this.#cfg;
    for (let i = 0; i < values.length; i++) {
      const line = this.#format(values[i]);
      const part = (this.#part ??= this.#newPart());
      wait = part.append(line, Buffer.byteLength(line)) ?? wait;
      if (part.bytes >= maxBytes || part.records >= maxRecords) this.#roll();
    }
    if (this.#part && this.#ctx.clock.now() - this.#part.openedAt >= this.#cfg.rolloverIntervalMs) this.#roll();
    return wait;
  }

  snapshotState(checkpointId: number): OperatorSnapshot {
    let inProgress: InProgressPart | undefined;
    const part = this.#part;
    if (part) {
      const target = this.#cfg.compactionTargetBytes;
      const old = this.#ctx.clock.now() - part.openedAt >= this.#cfg.rolloverIntervalMs;
      if (target === 0 || part.bytes >= target || old || this.#finishing) {
        this.#roll();
      } else {
        this.#closing.push(part.persist());
        inProgress = { kind: "inprogress", hidden: base(part.hidden), visible: base(part.visible), bytes: part.bytes, records: part.records, run: this.#run, subtask: this.#ctx.subtaskIndex };
      }
    }
    for (const p of this.#closed) this.#pending.push({ kind: "pending", checkpointId, hidden: base(p.hidden), visible: base(p.visible) });
    const durable = Promise.all(this.#closing).then(() => {});
    durable.catch(() => {});
    this.#durable.set(checkpointId, durable);
    this.#closed = [];
    this.#closing = [];
    this.#tag = checkpointId + 1;
    this.#seq = 0;
    const operator: PartState[] = this.#pending.map((p) => ({ ...p }));
    if (inProgress) operator.push(inProgress);
    return { operator };
  }

  /** The checkpoint is acknowledged only once the parts it closed or persisted are durable. */
  preCommitted(checkpointId: number): Promise<void> | undefined {
    return this.#durable.get(checkpointId);
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    for (const [id, durable] of this.#durable) {
      if (id > checkpointId) continue;
      await durable;
      this.#durable.delete(id);
    }
    const due = this.#pending.filter((p) => p.checkpointId <= checkpointId);
    this.#pending = this.#pending.filter((p) => p.checkpointId > checkpointId);
    for (const p of due) await commitPart(this.#cfg.dir, p);
  }

  /** An aborted checkpoint's parts stay pending: the next completed checkpoint commits them. */
  notifyCheckpointAborted(_checkpointId: number): void {}

  /** End of input: the final checkpoint closes the open part whatever its size. */
  finish(): void {
    this.#finishing = true;
  }

  close(): void {
    this.#part?.abandon();
    for (const p of this.#closed) p.abandon();
    this.#part = undefined;
  }

  #format(value: unknown): string {
    if (this.#cfg.format === "csv") return csvRow(value) + "\n";
    const unfaithful = jsonUnfaithfulPart(value);
    if (unfaithful) throw new WeirError("sink_record_invalid", `FileSink "${this.#ctx.uid}" cannot write record ${describe(value)} as JSON: ${unfaithful}`);
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (e) {
      throw new WeirError("sink_record_invalid", `FileSink "${this.#ctx.uid}" cannot write record ${describe(value)} as JSON: ${(e as Error).message}`);
    }
    if (json === undefined) throw new WeirError("sink_record_invalid", `FileSink "${this.#ctx.uid}" cannot write record ${describe(value)} as JSON`);
    return json + "\n";
  }

  #newPart(): PartFile {
    const name = `part-${transactionId(this.#ctx, this.#tag, this.#run)}-${this.#seq++}.${this.#ext}`;
    return PartFile.create(join(this.#cfg.dir, `.${name}.inprogress`), join(this.#cfg.dir, name), this.#ctx.clock.now());
  }

  #roll(): void {
    const part = this.#part!;
    this.#part = undefined;
    this.#closed.push(part);
    this.#closing.push(part.close());
  }

  /**
   * Takes over a part a checkpoint kept open. This run's own part is cut back and
   * appended to in place; a part of another run (a restored savepoint or retained
   * checkpoint) is copied, so the files a restore point refers to never change.
   */
  async #adopt(e: InProgressPart): Promise<void> {
    const hidden = join(this.#cfg.dir, e.hidden);
    const visible = join(this.#cfg.dir, e.visible);
    if ((await sizeOf(hidden)) === undefined) {
      // Committed since that checkpoint was taken (by the run that took it): nothing to carry on.
      if ((await sizeOf(visible)) !== undefined) return;
      throw new WeirError("sink_transaction_lost", `FileSink part ${hidden} of a completed checkpoint is gone (and no committed ${e.visible})`);
    }
    if (!this.#part && e.run === this.#run && e.subtask === this.#ctx.subtaskIndex) {
      this.#part = await PartFile.resume(hidden, visible, e.bytes, e.records, this.#ctx.clock.now());
      return;
    }
    const data = (await readFile(hidden)).subarray(0, e.bytes);
    if (data.length < e.bytes) throw new WeirError("sink_transaction_lost", `FileSink part ${hidden} should hold ${e.bytes} bytes, found ${data.length}`);
    const part = (this.#part ??= this.#newPart());
    await part.appendBytes(data, e.records);
  }

  /**
   * Deletes this run's hidden parts that the restored checkpoint does not know: written by
   * an attempt that failed after it. Only this run's: other runs' files may belong to a
   * savepoint or retained checkpoint that is still to be restored.
   */
  async #removeAbandoned(restoredId: number, referenced: Set<string>): Promise<void> {
    if (this.#run.startsWith("w")) return; // No job run id: own leftovers cannot be told apart.
    const prefix = `.part-${this.#ctx.uid}-${this.#ctx.subtaskIndex}-`;
    for (const name of await readdir(this.#cfg.dir)) {
      if (!name.startsWith(prefix) || !name.endsWith(".inprogress") || referenced.has(name)) continue;
      const m = /^(\d{10})-(.+)-\d+\.(jsonl|csv)\.inprogress$/.exec(name.slice(prefix.length));
      if (!m || m[2] !== this.#run || Number(m[1]) <= restoredId) continue;
      await unlink(join(this.#cfg.dir, name)).catch((e) => {
        if (e.code !== "ENOENT") throw e;
      });
    }
  }

  #checkEntry(e: unknown): PartState {
    const p = e as PartState;
    const ok = p && typeof p === "object" && typeof p.hidden === "string" && typeof p.visible === "string" &&
      !p.hidden.includes("/") && !p.visible.includes("/") &&
      (p.kind === "pending" ? Number.isInteger(p.checkpointId) : p.kind === "inprogress" && Number.isInteger(p.bytes) && Number.isInteger(p.records));
    if (!ok) throw new WeirError("checkpoint_corrupt", `FileSink "${this.#ctx.uid}" cannot restore part ${describe(e).slice(0, 120)}`);
    return p;
  }
}

/** Makes a closed part visible; committing it again (after a restore) changes nothing. */
async function commitPart(dir: string, p: PendingPart): Promise<void> {
  try {
    await rename(join(dir, p.hidden), join(dir, p.visible));
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
    if ((await sizeOf(join(dir, p.visible))) === undefined) {
      throw new WeirError(
        "sink_transaction_lost",
        `FileSink part ${join(dir, p.hidden)} has neither a pending nor a committed file: the restored checkpoint's output is lost (the pending file was deleted, or this sink writes to another directory than the run that took the checkpoint)`,
      );
    }
  }
}

function base(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
