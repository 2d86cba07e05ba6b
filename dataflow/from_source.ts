/**
 * The arguments of `StreamEnvironment.fromSource`: options, or Flink's shape
 * `fromSource(source, watermarkStrategy, sourceName)` (Flink 1.12's
 * `StreamExecutionEnvironment.fromSource`).
 * @module
 */
import { invalidOption } from "../errors.ts";
import type { OperatorOptions } from "./transformation.ts";
import { WatermarkStrategy } from "./watermark_strategy.ts";

/** Options of `fromSource`: an operator's options and, optionally, how its records get event time. */
export interface FromSourceOptions<T> extends OperatorOptions {
  /**
   * Timestamps and watermarks generated right at the source, per source split (Flink's
   * `fromSource(source, strategy, name)`): the same as `.assignTimestampsAndWatermarks(strategy)`
   * directly after the source, with uid `<uid>-watermarks` when a uid is given.
   */
  watermarkStrategy?: WatermarkStrategy<T>;
}

/** What fromSource adds: the source's options, and the assigner's when a strategy is given. */
export interface FromSourceParts<T> {
  source: OperatorOptions;
  watermarks?: { strategy: WatermarkStrategy<T>; options: OperatorOptions };
}

/**
 * Sorts out both shapes of the arguments.
 * @throws {WeirError} `invalid_option` for a watermarkStrategy that is not a WatermarkStrategy or a name that is not a string
 */
export function fromSourceParts<T>(second: FromSourceOptions<T> | WatermarkStrategy<T> | undefined, third: string | OperatorOptions | undefined): FromSourceParts<T> {
  let options: FromSourceOptions<T>;
  if (second instanceof WatermarkStrategy) {
    if (third !== undefined && typeof third !== "string" && (typeof third !== "object" || third === null)) {
      throw invalidOption("fromSource source name", third, "must be a string or an options object");
    }
    options = { ...(typeof third === "string" ? { name: third } : third), watermarkStrategy: second };
  } else {
    options = second ?? {};
    if (typeof options !== "object" || options === null) throw invalidOption("fromSource options", options, "must be an object or a WatermarkStrategy");
  }
  const { watermarkStrategy, ...source } = options;
  if (watermarkStrategy === undefined) return { source };
  if (!(watermarkStrategy instanceof WatermarkStrategy)) {
    throw invalidOption("fromSource watermarkStrategy", watermarkStrategy, "must be a WatermarkStrategy (WatermarkStrategy.forBoundedOutOfOrderness(ms), …)");
  }
  const watermarks: OperatorOptions = {};
  if (source.uid !== undefined) watermarks.uid = `${source.uid}-watermarks`;
  if (source.name !== undefined || source.uid !== undefined) watermarks.name = `${source.name ?? source.uid}-watermarks`;
  if (source.parallelism !== undefined) watermarks.parallelism = source.parallelism;
  // The assigner ends the chain: the source's buffer timeout is its to apply.
  if (source.bufferTimeout !== undefined) watermarks.bufferTimeout = source.bufferTimeout;
  return { source, watermarks: { strategy: watermarkStrategy, options: watermarks } };
}
