/**
 * Watermarks per source split (Flink's `WatermarkOutputMultiplexer` behind the per-split
 * outputs of FLIP-27's `SourceOperator`, Flink 1.11+): each split the reader holds gets its
 * own generator; the subtask's watermark is the minimum over the splits that are not idle;
 * with no split, or every split idle, the subtask is idle and its watermark does not advance.
 * @module
 */
import { WeirError, assert } from "../../errors.ts";
import type { WatermarkGenerator, WatermarkOutput } from "../watermark_strategy.ts";

/** One split's generator and what it generated. */
export interface SplitOutput {
  readonly id: string;
  readonly generator: WatermarkGenerator<unknown>;
  /** Where the generator emits to. */
  readonly output: WatermarkOutput;
  /** Highest watermark of this split (ms; -Infinity before any). */
  watermark: number;
  idle: boolean;
}

/** The combined event time of a subtask's splits. */
export interface CombinedWatermark {
  /** Minimum over the splits that are not idle; -Infinity when idle. */
  watermark: number;
  /** No split, or every split idle. */
  idle: boolean;
}

/**
 * The per-split watermarks of one subtask. `splits()` is the reader's view of the splits it
 * holds; it is read again when a batch comes from another split than the one before (a
 * split ended or a new one began) and at each periodic emit, so the common path (one batch
 * after another from one split) costs a comparison.
 *
 * @example
 * ```ts
 * import { SplitWatermarks } from "./split_watermarks.ts";
 * const held = ["a", "b"];
 * const punctuated = () => ({ onEvent: (_e: unknown, t: number, o: { emitWatermark(t: number): void }) => o.emitWatermark(t), onPeriodicEmit() {} });
 * const wms = new SplitWatermarks(() => held, punctuated, new Map(), "doc");
 * const a = wms.forSplit("a");
 * a.generator.onEvent(0, 5000, a.output);
 * console.assert(wms.combined().watermark === -Infinity); // split b holds it back
 * held.pop();                                            // b ended
 * wms.periodic();
 * console.assert(wms.combined().watermark === 5000);
 * ```
 */
export class SplitWatermarks {
  readonly #splits = new Map<string, SplitOutput>();
  readonly #view: () => readonly string[];
  readonly #create: () => WatermarkGenerator<unknown>;
  /** Watermarks of splits restored from a checkpoint, for the splits this reader holds (or will). */
  readonly #restored: Map<string, number>;
  readonly #name: string;
  #last: SplitOutput | undefined;

  /**
   * `view`: the splits the reader holds now; `create`: a new generator (one per split);
   * `restored`: split id → watermark reached before the restore; `name` names the operator in errors.
   */
  constructor(view: () => readonly string[], create: () => WatermarkGenerator<unknown>, restored: Map<string, number>, name: string) {
    this.#view = view;
    this.#create = create;
    this.#restored = restored;
    this.#name = name;
    this.sync();
  }

  /** The output of split `id`, for a batch of its records. */
  forSplit(id: string | undefined): SplitOutput {
    const last = this.#last;
    if (last !== undefined && last.id === id) return last;
    if (typeof id !== "string") {
      throw new WeirError("invalid_result", `The source before "${this.#name}" reports its splits but returned a batch without its split id (batch.split)`);
    }
    // Another split than the batch before: the reader's splits may have changed.
    this.sync();
    // A split the reader no longer lists (it ended with this batch) counts until the next sync.
    return (this.#last = this.#splits.get(id) ?? this.#add(id));
  }

  /** Brings the outputs in line with the reader's splits: ended ones no longer hold back, new ones do. */
  sync(): void {
    const held = this.#view();
    assert(Array.isArray(held), () => `The source before "${this.#name}" returned ${String(held)} from splits(), not an array of split ids`);
    if (held.length === this.#splits.size && held.every((id) => this.#splits.has(id))) return;
    const now = new Set(held);
    for (const id of this.#splits.keys()) {
      if (!now.has(id)) this.#splits.delete(id);
    }
    if (this.#last !== undefined && !now.has(this.#last.id)) this.#last = undefined;
    for (const id of held) if (!this.#splits.has(id)) this.#add(id);
  }

  /** The periodic emit (autoWatermarkInterval): every split's generator, after a sync. */
  periodic(): void {
    this.sync();
    for (const s of this.#splits.values()) s.generator.onPeriodicEmit(s.output);
  }

  /** The subtask's event time now. */
  combined(): CombinedWatermark {
    let min = Infinity;
    let active = 0;
    for (const s of this.#splits.values()) {
      if (s.idle) continue;
      active++;
      if (s.watermark < min) min = s.watermark;
    }
    return active === 0 ? { watermark: -Infinity, idle: true } : { watermark: min, idle: false };
  }

  /** The watermark of every split held: [split id, ms][] (only those past -Infinity). */
  snapshot(): [string, number][] {
    const out: [string, number][] = [];
    for (const s of this.#splits.values()) if (s.watermark > -Infinity) out.push([s.id, s.watermark]);
    return out;
  }

  #add(id: string): SplitOutput {
    const name = this.#name;
    const split: SplitOutput = {
      id,
      generator: this.#create(),
      // A split restored keeps the watermark it had reached: its watermark never goes backwards.
      watermark: this.#restored.get(id) ?? -Infinity,
      idle: false,
      output: {
        emitWatermark: (ts) => {
          if (typeof ts !== "number" || Number.isNaN(ts)) {
            throw new WeirError("invalid_timestamp", `Watermark generator of "${name}" (split ${id}) emitted ${String(ts)}, not a number of ms`);
          }
          if (ts > split.watermark) split.watermark = ts;
          split.idle = false;
        },
        markIdle: () => void (split.idle = true),
        markActive: () => void (split.idle = false),
      },
    };
    this.#splits.set(id, split);
    return split;
  }
}

/**
 * Per-split watermarks from restored union list entries ([split id, ms][] each); a split
 * found twice keeps the lower, which never skips a record's window.
 * @throws {WeirError} `checkpoint_corrupt` naming an entry that is not [string, number][]
 */
export function restoredSplitWatermarks(entries: readonly unknown[], name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const entry of entries) {
    if (!Array.isArray(entry)) throw corrupt(entry, name);
    for (const pair of entry) {
      if (!Array.isArray(pair) || typeof pair[0] !== "string" || typeof pair[1] !== "number" || Number.isNaN(pair[1])) throw corrupt(pair, name);
      const before = out.get(pair[0]);
      out.set(pair[0], before === undefined ? pair[1] : Math.min(before, pair[1]));
    }
  }
  return out;
}

function corrupt(value: unknown, name: string): WeirError {
  return new WeirError("checkpoint_corrupt", `Watermark assigner "${name}" cannot restore split watermarks ${JSON.stringify(value)?.slice(0, 200) ?? String(value)}`);
}
