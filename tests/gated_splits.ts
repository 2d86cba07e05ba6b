/** A source of named splits for tests that decide how far each split gets without racing the clock. */
import type { Batch } from "../actors/messages.ts";
import type { OperatorContext, Source, SourceReader } from "../mod.ts";

/** A record: [split id, index in the split]. */
export type SplitRecord = [split: string, index: number];

interface SplitState {
  id: string;
  next: number;
  to: number;
}

/**
 * Splits `id → record count`, all held by subtask 0 (the other subtasks hold none and, when
 * `bounded` is false, never end, as a stream source's idle subtasks do). Split `id` emits
 * records [id, 0..count-1], but only up to `allow(id, n)`; the reader serves its splits
 * round-robin, one split per batch, tagged with its id (SourceReader.splits).
 */
export class GatedSplits implements Source<SplitRecord> {
  readonly #allowed = new Map<string, number>();
  readonly counts: Readonly<Record<string, number>>;
  readonly bounded: boolean;

  constructor(counts: Record<string, number>, options: { bounded?: boolean } = {}) {
    this.counts = counts;
    this.bounded = options.bounded ?? true;
  }

  /** Lets split `id` emit its records up to index n-1. */
  allow(id: string, n: number): void {
    this.#allowed.set(id, n);
  }

  createReader(_ctx: OperatorContext): SourceReader {
    let splits: SplitState[] = [];
    let cursor = 0;
    return {
      open: (ctx, restored) => {
        if (restored) splits = restored.map((s) => ({ ...(s as SplitState) }));
        else if (ctx.subtaskIndex === 0) splits = Object.entries(this.counts).map(([id, to]) => ({ id, next: 0, to }));
      },
      poll: (max) => {
        const open = splits.filter((s) => s.next < s.to);
        if (open.length === 0) return this.bounded ? null : [];
        for (let k = 0; k < open.length; k++) {
          const s = open[(cursor + k) % open.length];
          const end = Math.min(s.to, this.#allowed.get(s.id) ?? 0, s.next + max);
          if (end <= s.next) continue;
          cursor = (cursor + k + 1) % open.length;
          const out: Batch = [];
          while (s.next < end) out.push([s.id, s.next++]);
          out.split = s.id;
          return out;
        }
        return [];
      },
      waitMs: () => 1,
      splits: () => splits.filter((s) => s.next < s.to).map((s) => s.id),
      snapshotState: () => splits.map((s) => ({ ...s })),
    };
  }
}
