import type { OperatorContext, OperatorSnapshot, RestoredState, StreamOperator } from "../operator.ts";
import { copyValue } from "../../codec/values.ts";
import { KeyedStateBackend } from "../../state/keyed_state.ts";

/**
 * How an operator hands a record it emits to the next owner: a copy, unless the job runs
 * with objectReuse. An operator copies what it emits at the moment it emits it, because a
 * batch may hold the same object several times (a rolling reduce's accumulator) and a
 * copy taken after the batch would see only its last state.
 */
export type Emitter = <T>(value: T) => T;

const reuse: Emitter = (v) => v;

/** The emitter for an operator context. */
export function emitterFor(ctx: OperatorContext): Emitter {
  return ctx.objectReuse ? reuse : copyValue;
}

/** An operator without state: snapshots are empty. */
export abstract class StatelessOperator implements StreamOperator {
  protected copy: Emitter = copyValue;
  open(ctx: OperatorContext, _restored: RestoredState | undefined): void {
    this.copy = emitterFor(ctx);
  }
  abstract processBatch(values: unknown[]): unknown[] | Promise<unknown[]>;
  snapshotState(): OperatorSnapshot {
    return {};
  }
}

/** An operator with keyed state: the backend is created and restored in open(). */
export abstract class KeyedOperator implements StreamOperator {
  protected backend!: KeyedStateBackend;
  protected copy: Emitter = copyValue;
  protected readonly keySelector: (value: unknown) => unknown;

  constructor(keySelector: (value: unknown) => unknown) {
    this.keySelector = keySelector;
  }

  open(ctx: OperatorContext, restored: RestoredState | undefined): void {
    this.copy = emitterFor(ctx);
    this.backend = new KeyedStateBackend(ctx.maxParallelism, ctx.keyGroupRange, ctx.clock);
    if (restored) this.backend.restore(restored.keyed);
  }

  abstract processBatch(values: unknown[]): unknown[] | Promise<unknown[]>;

  snapshotState(): OperatorSnapshot {
    return { keyed: this.backend.snapshot() };
  }
}

/** The empty batch operators return when they emit nothing; never mutated. */
export const EMPTY: unknown[] = Object.freeze([]) as unknown as unknown[];
