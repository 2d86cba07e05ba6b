import type { Batch } from "../../actors/messages.ts";
import { WeirError } from "../../errors.ts";
import type { OperatorContext, OperatorSnapshot, RestoredState, StreamOperator } from "../operator.ts";
import type { WatermarkGenerator, WatermarkOutput, WatermarkStrategy } from "../watermark_strategy.ts";

/** Flink's `pipeline.auto-watermark-interval` default. */
export const AUTO_WATERMARK_INTERVAL_MS = 200;

/**
 * assignTimestampsAndWatermarks (Flink's `TimestampsAndWatermarksOperator`): stamps each
 * record, feeds the generator, and replaces its input's watermarks with the generator's.
 * The last watermark it emitted is operator state, so that its watermark does not go
 * backwards after a restore.
 */
export class TimestampsAndWatermarksOperator implements StreamOperator {
  readonly timestamped = true;
  readonly #strategy: WatermarkStrategy<unknown>;
  #intervalMs: number;
  #generator!: WatermarkGenerator<unknown>;
  #name = "";
  #clock!: OperatorContext["clock"];
  #nextPeriodicAt = Infinity;
  /** The highest watermark generated and not yet passed on, and the last one passed on. */
  #pending = -Infinity;
  #emitted = -Infinity;
  #idle: boolean | undefined;
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
    this.#generator = this.#strategy.generator({ now: () => ctx.clock.now() });
    // Restored at another parallelism a subtask may get several; the lowest never skips a record's window.
    const previous = (restored?.operator ?? []).filter((w): w is number => typeof w === "number");
    if (previous.length > 0) this.#emitted = this.#pending = Math.min(...previous);
    this.#intervalMs = ctx.autoWatermarkIntervalMs ?? this.#intervalMs;
    this.#nextPeriodicAt = ctx.clock.now() + this.#intervalMs;
  }

  processBatch(values: Batch): unknown[] {
    const assign = this.#strategy.timestampAssigner;
    const had = values.timestamps;
    const n = values.length;
    const ts = new Array<number>(n);
    const gen = this.#generator;
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
      gen.onEvent(v, t, this.#output);
    }
    const out: Batch = values.slice();
    out.timestamps = ts;
    return out;
  }

  takeWatermark(): { watermark?: number; idle?: boolean } | undefined {
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
    this.#generator.onPeriodicEmit(this.#output);
    return [];
  }

  snapshotState(): OperatorSnapshot {
    return this.#emitted > -Infinity ? { operator: [this.#emitted] } : {};
  }
}
