import type { OperatorContext, RestoredState } from "../operator.ts";
import { InternalTimerService } from "../timer_service.ts";
import { KeyedOperator } from "./base.ts";

/**
 * A keyed operator with timers (keyed process, windows; Flink's `InternalTimerService`):
 * open() builds the timer service and restores it, the watermark reached is its operator
 * state, so timers restored at another parallelism fire as they would have.
 */
export abstract class TimedKeyedOperator extends KeyedOperator {
  protected timers!: InternalTimerService;

  override open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void> {
    const opened = super.open(ctx, restored);
    this.timers = new InternalTimerService(this.backend, ctx.clock, ctx.name);
    if (!restored) return opened;
    const marks = restored.operator.filter((w): w is number => typeof w === "number");
    if (marks.length > 0) this.timers.restoreWatermark(Math.min(...marks));
    return this.reindex(opened, restored, (tables) => this.timers.restore(tables));
  }

  protected override operatorState(): unknown[] | undefined {
    const wm = this.timers.watermark;
    return wm > -Infinity && wm < Infinity ? [wm] : undefined;
  }
}
