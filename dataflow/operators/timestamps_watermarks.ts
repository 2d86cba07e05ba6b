import type { Batch } from "../../actors/messages.ts";
import { WeirError } from "../../errors.ts";
import type { OperatorContext, OperatorSnapshot, RestoredState, StreamOperator } from "../operator.ts";
import type { WatermarkGenerator, WatermarkOutput, WatermarkStrategy } from "../watermark_strategy.ts";
import { UnionListEntry } from "../../state/union_list_state.ts";
import { restoredSplitWatermarks, SplitWatermarks } from "./split_watermarks.ts";

/** Flink's `pipeline.auto-watermark-interval` default. */
export const AUTO_WATERMARK_INTERVAL_MS = 200;

/**
 * assignTimestampsAndWatermarks (Flink's `TimestampsAndWatermarksOperator`): stamps each
 * record, feeds the generator, and replaces its input's watermarks with the generator's.
 * Chained to a source whose reader reports its splits (ctx.sourceSplits), it generates per
 * split instead, as Flink's `SourceOperator` does (split_watermarks.ts): one generator per
 * split, the minimum over the splits that are not idle, idle with no split. The last
 * watermark it emitted is operator state, and so is each split's (union list state: on a
 * rescale it follows its split), so that watermarks do not go backwards after a restore.
 */
export class TimestampsAndWatermarksOperator implements StreamOperator {
  readonly timestamped = true;
  readonly #strategy: WatermarkStrategy<unknown>;
  #intervalMs: number;
  #generator: WatermarkGenerator<unknown> | undefined;
  #name = "";
  #clock!: OperatorContext["clock"];
  #nextPeriodicAt = Infinity;
  /** The highest watermark generated and not yet passed on, and the last one passed on. */
  #pending = -Infinity;
  #emitted = -Infinity;
  #idle: boolean | undefined;
  /** Per-split generation, when chained to a source that reports its splits. */
  #splits: SplitWatermarks | undefined;
  /** The idleness last reported in per-split mode. */
  #idleReported = false;
  readonly #output: WatermarkOutput = {
    emitWatermark: (ts) => {
      if (typeof ts !== "number" || Number.isNaN(ts)) {
        throw new WeirError("invalid_timestamp", `Watermark generator of "${this.#name}" emitted ${String(ts)}, not a number of ms`);
      }
      if (ts > this.#pending) this.#pending = ts;
    },
    markIdle: () => void (this.#idle = true),
    markActive: () => void (this.#idle = false),
  };

  constructor(strategy: WatermarkStrategy<unknown>, intervalMs = AUTO_WATERMARK_INTERVAL_MS) {
    this.#strategy = strategy;
    this.#intervalMs = intervalMs;
  }

  open(ctx: OperatorContext, restored: RestoredState | undefined): void {
    this.#name = ctx.name;
    this.#clock = ctx.clock;
    const genCtx = { now: () => ctx.clock.now() };
    // Per split, each split gets a generator of its own; the subtask's one is never used.
    if (!ctx.sourceSplits) this.#generator = this.#strategy.generator(genCtx);
    // Restored at another parallelism a subtask may get several; the lowest never skips a record's window.
    const previous = (restored?.operator ?? []).filter((w): w is number => typeof w === "number");
    if (previous.length > 0) this.#emitted = this.#pending = Math.min(...previous);
    this.#intervalMs = ctx.autoWatermarkIntervalMs ?? this.#intervalMs;
    this.#nextPeriodicAt = ctx.clock.now() + this.#intervalMs;
    if (ctx.sourceSplits) {
      const unions = (restored?.operator ?? []).filter((e): e is UnionListEntry => e instanceof UnionListEntry).map((e) => e.value);
      const restoredSplits = restoredSplitWatermarks(unions, ctx.name);
      this.#splits = new SplitWatermarks(ctx.sourceSplits, () => this.#strategy.generator(genCtx), restoredSplits, ctx.name);
      // The first periodic emit comes at once: a subtask that holds no split is idle from the start.
      this.#nextPeriodicAt = ctx.clock.now();
    }
  }

  processBatch(values: Batch): unknown[] {
    const assign = this.#strategy.timestampAssigner;
    const had = values.timestamps;
    const n = values.length;
    const ts = new Array<number>(n);
    const split = this.#splits?.forSplit(values.split);
    const gen = split ? split.generator : this.#generator!;
    const output = split ? split.output : this.#output;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      const before = had === undefined || Number.isNaN(had[i]) ? undefined : had[i];
      const t = assign ? assign(v, before) : before;
      if (typeof t !== "number" || !Number.isFinite(t)) {
        throw new WeirError(
          "invalid_timestamp",
          assign
            ? `Timestamp assigner of "${this.#name}" returned ${typeof t === "number" ? t : `${typeof t} ${JSON.stringify(t) ?? String(t)}`} for record ${JSON.stringify(v) ?? String(v)}; it must return a finite number of ms`
            : `Record ${JSON.stringify(v) ?? String(v)} reached "${this.#name}" without a timestamp and its WatermarkStrategy has no timestamp assigner (add .withTimestampAssigner)`,
        );
      }
      ts[i] = t;
      gen.onEvent(v, t, output);
    }
    const out: Batch = values.slice();
    out.timestamps = ts;
    return out;
  }

  takeWatermark(): { watermark?: number; idle?: boolean } | undefined {
    if (this.#splits) this.#combineSplits(this.#splits);
    let made: { watermark?: number; idle?: boolean } | undefined;
    if (this.#idle !== undefined) {
      made = { idle: this.#idle };
      this.#idle = undefined;
    }
    if (this.#pending > this.#emitted) {
      this.#emitted = this.#pending;
      (made ??= {}).watermark = this.#pending;
    }
    return made;
  }

  nextProcessingTime(): number {
    return this.#nextPeriodicAt;
  }

  onProcessingTime(now: number): unknown[] {
    this.#nextPeriodicAt = now + this.#intervalMs;
    if (this.#splits) this.#splits.periodic();
    else this.#generator!.onPeriodicEmit(this.#output);
    return [];
  }

  /** Per-split mode: the splits' minimum becomes the pending watermark; idleness changes are reported once. */
  #combineSplits(splits: SplitWatermarks): void {
    const c = splits.combined();
    if (c.idle !== this.#idleReported) this.#idle = this.#idleReported = c.idle;
    if (!c.idle && c.watermark > this.#pending) this.#pending = c.watermark;
  }

  snapshotState(): OperatorSnapshot {
    const operator: unknown[] = this.#emitted > -Infinity ? [this.#emitted] : [];
    if (this.#splits) operator.push(new UnionListEntry(this.#splits.snapshot()));
    return operator.length > 0 ? { operator } : {};
  }
}
