import { mkdir, open, readdir, readFile, rename, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { nanoid } from "nanoid";
import { WeirError } from "../errors.ts";
import type { OperatorContext, OperatorSnapshot, RestoredState, Sink, SinkWriter } from "../dataflow/operator.ts";

/**
 * An exactly-once sink to files: each subtask pre-commits the records of a checkpoint
 * into `<dir>/.pending/<txn>.jsonl` (fsynced, written atomically) and commits it by
 * renaming it to `<dir>/<txn>.jsonl` once the checkpoint completed. The rename is the
 * commit, so committing twice (after a crash) is harmless. One JSON record per line.
 *
 * @example
 * ```ts
 * import { FileSink } from "./file_sink.ts";
 * const sink = new FileSink("./out");
 * ```
 */
export class FileSink<T = unknown> implements Sink<T> {
  declare readonly __type?: T;
  readonly dir: string;
  constructor(dir: string) {
    if (typeof dir !== "string" || dir.length === 0) throw new WeirError("invalid_option", `FileSink needs a directory, got ${JSON.stringify(dir)}`);
    this.dir = resolve(dir);
  }
  createWriter(ctx: OperatorContext): SinkWriter {
    return new FileSinkWriter(this.dir, ctx);
  }
  /** Every committed record, read back (for tests and tools). */
  static async readCommitted(dir: string): Promise<unknown[]> {
    const out: unknown[] = [];
    let names: string[] = [];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith(".jsonl")).sort();
    } catch {
      return out;
    }
    for (const n of names) {
      const text = await readFile(join(dir, n), "utf8");
      for (const line of text.split("\n")) if (line) out.push(JSON.parse(line));
    }
    return out;
  }
}

interface FileTxn {
  txn: string;
  checkpointId: number;
}

class FileSinkWriter implements SinkWriter {
  readonly #dir: string;
  readonly #ctx: OperatorContext;
  #lines: string[] = [];
  #pending: FileTxn[] = [];
  readonly #writerId = nanoid(8);
  /** Pre-commit writes in flight, by transaction. */
  #writes = new Map<string, Promise<void>>();

  constructor(dir: string, ctx: OperatorContext) {
    this.#dir = dir;
    this.#ctx = ctx;
  }

  async open(_ctx: OperatorContext, restored: RestoredState | undefined): Promise<void> {
    await mkdir(join(this.#dir, ".pending"), { recursive: true });
    for (const t of (restored?.operator ?? []) as FileTxn[]) await this.#commit(t);
  }

  write(values: unknown[]): void {
    for (let i = 0; i < values.length; i++) this.#lines.push(JSON.stringify(values[i]));
  }

  snapshotState(checkpointId: number): OperatorSnapshot {
    if (this.#lines.length > 0) {
      // The writer's own id keeps runs that share a directory (and checkpoint ids) apart.
      const t: FileTxn = { txn: `${this.#ctx.uid}-${this.#ctx.subtaskIndex}-${String(checkpointId).padStart(8, "0")}-${this.#writerId}`, checkpointId };
      const body = this.#lines.join("\n") + "\n";
      this.#lines = [];
      this.#pending.push(t);
      this.#writes.set(t.txn, writeDurably(join(this.#dir, ".pending", `${t.txn}.jsonl`), body));
    }
    return { operator: this.#pending.map((t) => ({ ...t })) };
  }

  /** The checkpoint is acknowledged only once its transaction file is durable. */
  preCommitted(checkpointId: number): Promise<void> | undefined {
    const t = this.#pending.find((p) => p.checkpointId === checkpointId);
    return t && this.#writes.get(t.txn);
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    const due = this.#pending.filter((t) => t.checkpointId <= checkpointId);
    this.#pending = this.#pending.filter((t) => t.checkpointId > checkpointId);
    for (const t of due) await this.#commit(t);
  }

  async #commit(t: FileTxn): Promise<void> {
    await this.#writes.get(t.txn);
    this.#writes.delete(t.txn);
    try {
      await rename(join(this.#dir, ".pending", `${t.txn}.jsonl`), join(this.#dir, `${t.txn}.jsonl`));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      // Renamed by an earlier attempt: the commit happened. Neither file: the data is gone.
      if (!(await exists(join(this.#dir, `${t.txn}.jsonl`)))) {
        throw new WeirError("sink_transaction_lost", `FileSink transaction ${t.txn} has neither a pending nor a committed file in ${this.#dir}`);
      }
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeDurably(path: string, body: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(body);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

