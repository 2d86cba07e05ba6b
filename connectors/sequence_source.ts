import { WeirError, invalidOption } from "../errors.ts";
import type { Batch } from "../actors/messages.ts";
import type { OperatorContext, Source, SourceReader } from "../dataflow/operator.ts";

/** A range of the sequence and how far it was read; `id` ("from..to") is not persisted. */
interface Split {
  from: number;
  to: number;
  next: number;
  id: string;
}

function split(from: number, to: number, next: number): Split {
  return { from, to, next, id: `${from}..${to}` };
}

/**
 * Emits the integers from `from` (inclusive) to `to` (exclusive), each exactly once per
 * successful run, split across its subtasks. Its position (the splits) is part of every
 * checkpoint, so a restore resumes where the checkpoint was taken. Each subtask starts with
 * one split, a range "from..to" (its id); a restore at a lower parallelism gives a subtask
 * several, read one after the other, each with its own watermarks (SourceReader.splits).
 *
 * @example
 * ```ts
 * import { SequenceSource } from "./sequence_source.ts";
 * const source = new SequenceSource(0, 1000, { ratePerSecond: 100 });
 * ```
 */
export class SequenceSource implements Source<number> {
  declare readonly __type?: number;
  /** The record type it declares: `union` refuses a stream of another declared type. */
  readonly recordType = "number";
  readonly from: number;
  readonly to: number;
  readonly ratePerSecond: number | undefined;

  constructor(from: number, to: number, options: { ratePerSecond?: number } = {}) {
    if (!Number.isSafeInteger(from)) throw invalidOption("SequenceSource from", from, "must be a safe integer");
    if (!Number.isSafeInteger(to) || to < from) throw invalidOption("SequenceSource to", to, `must be a safe integer >= from (${from})`);
    const rate = options.ratePerSecond;
    if (rate !== undefined && (typeof rate !== "number" || !(rate > 0))) {
      throw invalidOption("SequenceSource ratePerSecond", rate, "must be a number > 0");
    }
    this.from = from;
    this.to = to;
    this.ratePerSecond = rate;
  }

  createReader(ctx: OperatorContext): SourceReader {
    return new SequenceReader(this, ctx);
  }
}

class SequenceReader implements SourceReader {
  readonly #source: SequenceSource;
  #splits: Split[] = [];
  #ctx: OperatorContext;
  #rate = 0;
  #startedAt = 0;
  #emitted = 0;

  constructor(source: SequenceSource, ctx: OperatorContext) {
    this.#source = source;
    this.#ctx = ctx;
  }

  open(ctx: OperatorContext, restored: unknown[] | undefined): void {
    if (restored) {
      this.#splits = restored.map((s) => checkSplit(s));
    } else {
      const { from, to } = this.#source;
      // Exact in integers up to 2^53: no product span * i that could lose precision.
      const span = to - from;
      const p = ctx.parallelism;
      const base = Math.floor(span / p);
      const extra = span - base * p;
      const offset = (i: number) => i * base + Math.min(i, extra);
      const start = from + offset(ctx.subtaskIndex);
      const end = from + offset(ctx.subtaskIndex + 1);
      this.#splits = start < end ? [split(start, end, start)] : [];
    }
    if (this.#source.ratePerSecond) this.#rate = this.#source.ratePerSecond / ctx.parallelism;
    this.#startedAt = ctx.clock.now();
  }

  poll(max: number): Batch | null {
    while (this.#splits.length > 0 && this.#splits[0].next >= this.#splits[0].to) this.#splits.shift();
    if (this.#splits.length === 0) return null;
    let n = max;
    if (this.#rate > 0) {
      const allowed = Math.floor(((this.#ctx.clock.now() - this.#startedAt) * this.#rate) / 1000) - this.#emitted;
      n = Math.min(n, allowed);
      if (n <= 0) return [];
    }
    const s = this.#splits[0];
    const count = Math.min(n, s.to - s.next);
    const out: Batch = new Array<number>(count);
    for (let i = 0; i < count; i++) out[i] = s.next + i;
    s.next += count;
    this.#emitted += count;
    out.split = s.id;
    return out;
  }

  splits(): string[] {
    const ids: string[] = [];
    for (const s of this.#splits) if (s.next < s.to) ids.push(s.id);
    return ids;
  }

  waitMs(): number {
    return this.#rate > 0 ? Math.max(1, Math.ceil(1000 / this.#rate)) : 1;
  }

  snapshotState(): unknown[] {
    return this.#splits.filter((s) => s.next < s.to).map((s) => ({ from: s.from, to: s.to, next: s.next }));
  }
}

function checkSplit(s: unknown): Split {
  const o = s as Split;
  if (!o || typeof o !== "object" || ![o.from, o.to, o.next].every(Number.isSafeInteger) || o.next < o.from || o.next > o.to) {
    throw new WeirError("checkpoint_corrupt", `SequenceSource cannot restore split ${JSON.stringify(s)}`);
  }
  return split(o.from, o.to, o.next);
}
