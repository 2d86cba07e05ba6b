import type { Batch } from "../../actors/messages.ts";
import { WeirError } from "../../errors.ts";
import { StatelessOperator, eachRecord } from "./base.ts";
import type { OperatorContext, OperatorSnapshot, RestoredState } from "../operator.ts";
import type { OutputTag } from "../side_output.ts";
import { ProcessOutput } from "./process_output.ts";
import type { TimerService } from "../timer_service.ts";

/** What a (non-keyed) process function sees for each record. */
export interface ProcessContext<O> {
  /** The current record's event-time timestamp (ms), or undefined when it has none. */
  readonly timestamp: number | undefined;
  /** Emits a record downstream, with the current record's timestamp. */
  emit(value: O): void;
  /**
   * Emits a record to a side output, read with `stream.getSideOutput(tag)`; dropped when no
   * one reads that tag (as in Flink).
   * @throws {WeirError} `invalid_option` when tag is not an OutputTag
   */
  output<X>(tag: OutputTag<X>, value: X): void;
  /**
   * The clocks, as in Flink's non-keyed `ProcessFunction`: `currentProcessingTime()` (the
   * job's clock) and `currentWatermark()` work; timers need a keyed stream.
   * @throws {WeirError} `invalid_job` from register…Timer and delete…Timer, naming the operator
   */
  readonly timerService: TimerService;
}

/** A process function on a stream that is not keyed (Flink's `ProcessFunction`); may be async. */
export type ProcessFunction<T, O> = (value: T, ctx: ProcessContext<O>) => void | Promise<void>;

/**
 * process(fn) on a stream that is not keyed: any number of records out per record in, side
 * outputs, the record's timestamp. No keyed state and no timers: Flink allows neither
 * outside a keyed stream either.
 */
export class ProcessOperator extends StatelessOperator {
  /** Emitted records carry the current record's timestamp. */
  readonly timestamped = true;
  readonly #fn: ProcessFunction<unknown, unknown>;
  readonly #ctx: ProcessContext<unknown>;
  readonly #output: ProcessOutput;
  #name = "";
  #clock: OperatorContext["clock"] | undefined;
  #watermark = -Infinity;

  /** `consumedTags` returns the side outputs someone reads; records to other tags are dropped. */
  constructor(fn: ProcessFunction<unknown, unknown>, consumedTags: () => Set<string> | undefined = () => undefined) {
    super();
    this.#fn = fn;
    const output = (this.#output = new ProcessOutput((v) => this.copy(v), consumedTags));
    // Flink's non-keyed ProcessFunction: the clocks answer, setting a timer throws.
    const noTimers = (what: string) => (timestamp: number) => {
      throw new WeirError("invalid_job", `${what}(${timestamp}) in process "${this.#name}", which is not keyed: timers need keyBy(…) first`);
    };
    const timerService: TimerService = {
      currentProcessingTime: () => this.#clock!.now(),
      currentWatermark: () => this.#watermark,
      registerEventTimeTimer: noTimers("registerEventTimeTimer"),
      registerProcessingTimeTimer: noTimers("registerProcessingTimeTimer"),
      deleteEventTimeTimer: noTimers("deleteEventTimeTimer"),
      deleteProcessingTimeTimer: noTimers("deleteProcessingTimeTimer"),
    };
    this.#ctx = {
      get timestamp() {
        return output.currentTimestamp;
      },
      emit: output.emit,
      output: output.output,
      timerService,
    };
  }

  override open(ctx: OperatorContext, restored: RestoredState | undefined): void {
    this.#name = ctx.name;
    this.#clock = ctx.clock;
    // The watermark reached is operator state, so currentWatermark() never goes backwards
    // over a restore; the lowest of several (a rescale) never runs ahead of any input.
    const marks = (restored?.operator ?? []).filter((w): w is number => typeof w === "number");
    if (marks.length > 0) this.#watermark = Math.min(...marks);
    super.open(ctx, restored);
  }

  processWatermark(watermark: number): unknown[] {
    if (watermark > this.#watermark) this.#watermark = watermark;
    return [];
  }

  override snapshotState(): OperatorSnapshot {
    const wm = this.#watermark;
    return wm > -Infinity && wm < Infinity ? { operator: [wm] } : {};
  }

  processBatch(values: Batch): unknown[] | Promise<unknown[]> {
    const out = ProcessOutput.batchFor(values);
    const ts = values.timestamps;
    return eachRecord(values.length, (i) => {
      this.#output.at(out, ts, i);
      return this.#fn(values[i], this.#ctx);
    }, out);
  }
}
