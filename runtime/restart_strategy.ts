import { invalidOption, WeirError } from "../errors.ts";

/** Restart options, after Flink's restart strategies. */
export type RestartOptions =
  | { strategy: "none" }
  | { strategy: "fixed-delay"; attempts?: number; delay?: number }
  | { strategy: "exponential-delay"; initialDelay?: number; maxDelay?: number; multiplier?: number; attempts?: number; resetAfter?: number }
  | { strategy: "failure-rate"; maxFailures?: number; interval?: number; delay?: number };

/** Decides, per failure, whether and when the job restarts. */
export interface RestartStrategy {
  readonly name: string;
  /** Delay in ms before the next restart, or undefined to give up. */
  nextDelay(now: number): number | undefined;
}

const STRATEGIES = ["none", "fixed-delay", "exponential-delay", "failure-rate"];

function num(o: Record<string, unknown>, key: string, def: number, min: number): number {
  const v = o[key] ?? def;
  if (typeof v !== "number" || Number.isNaN(v) || v < min) throw invalidOption(`restart.${key}`, v, `must be a number >= ${min}`);
  return v;
}

/** Builds a strategy from options; the default is fixed-delay, 3 attempts, 100 ms. */
export function restartStrategy(options: RestartOptions | undefined): RestartStrategy {
  const o = (options ?? { strategy: "fixed-delay" }) as Record<string, unknown>;
  if (o === null || typeof o !== "object") throw invalidOption("restart", options, "must be an object");
  switch (o.strategy) {
    case "none":
      return { name: "none", nextDelay: () => undefined };
    case "fixed-delay": {
      const attempts = num(o, "attempts", 3, 0);
      const delay = num(o, "delay", 100, 0);
      let used = 0;
      return { name: "fixed-delay", nextDelay: () => (used++ < attempts ? delay : undefined) };
    }
    case "exponential-delay": {
      const initial = num(o, "initialDelay", 100, 0);
      const max = num(o, "maxDelay", 60_000, initial);
      const multiplier = num(o, "multiplier", 2, 1);
      const attempts = num(o, "attempts", Infinity, 0);
      const resetAfter = num(o, "resetAfter", 3_600_000, 0);
      let current = initial;
      let used = 0;
      let lastFailure = -Infinity;
      return {
        name: "exponential-delay",
        nextDelay(now) {
          // A job that ran long without failing starts again from the initial delay.
          if (now - lastFailure > resetAfter + current) {
            current = initial;
            used = 0;
          }
          lastFailure = now;
          if (used++ >= attempts) return undefined;
          const d = current;
          current = Math.min(max, current * multiplier);
          return d;
        },
      };
    }
    case "failure-rate": {
      const maxFailures = num(o, "maxFailures", 1, 1);
      const interval = num(o, "interval", 60_000, 1);
      const delay = num(o, "delay", 100, 0);
      const failures: number[] = [];
      return {
        name: "failure-rate",
        nextDelay(now) {
          failures.push(now);
          while (failures.length > 0 && failures[0] <= now - interval) failures.shift();
          return failures.length > maxFailures ? undefined : delay;
        },
      };
    }
    default:
      throw invalidOption("restart.strategy", o.strategy, `must be one of ${STRATEGIES.join(", ")}`);
  }
}

/**
 * Errors every attempt would meet alike: state this weir or this job's backend cannot read,
 * or a checkpoint file that is not what was written (every restart restores the same one).
 */
const UNRECOVERABLE = new Set<string>(["state_backend_mismatch", "format_unsupported", "checkpoint_corrupt"]);

/**
 * True when a restart cannot help (Flink's non-recoverable errors, `ThrowableClassifier`):
 * a restore refused the restored state's backend or format version, or found a checkpoint
 * file missing, cut or changed (`checkpoint_corrupt`). Only the error itself
 * counts, not its causes: a frame from a remote host of another weir version fails as
 * `transport_failed` caused by `format_unsupported`, and a restart deploys the host anew.
 *
 * @example
 * ```ts
 * import { isUnrecoverable } from "./restart_strategy.ts";
 * import { WeirError } from "../errors.ts";
 * console.assert(isUnrecoverable(new WeirError("state_backend_mismatch", "heap vs sqlite")));
 * console.assert(!isUnrecoverable(new WeirError("transport_failed", "bad frame", { cause: new WeirError("format_unsupported", "v7") })));
 * ```
 */
export function isUnrecoverable(error: unknown): boolean {
  return error instanceof WeirError && UNRECOVERABLE.has(error.code);
}
