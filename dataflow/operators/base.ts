import type { OperatorContext, OperatorSnapshot, RestoredState, StreamOperator } from "../operator.ts";
import { KeyedStateBackend } from "../../state/keyed_state.ts";

/** An operator without state: snapshots are empty. */
export abstract class StatelessOperator implements StreamOperator {
  open(_ctx: OperatorContext, _restored: RestoredState | undefined): void {}
  abstract processBatch(values: unknown[]): unknown[] | Promise<unknown[]>;
  snapshotState(): OperatorSnapshot {
    return {};
  }
}

/** An operator with keyed state: the backend is created and restored in open(). */
export abstract class KeyedOperator implements StreamOperator {
  protected backend!: KeyedStateBackend;
  protected readonly keySelector: (value: unknown) => unknown;

  constructor(keySelector: (value: unknown) => unknown) {
    this.keySelector = keySelector;
  }

  open(ctx: OperatorContext, restored: RestoredState | undefined): void {
    this.backend = new KeyedStateBackend(ctx.maxParallelism, ctx.keyGroupRange);
    if (restored) this.backend.restore(restored.keyed);
  }

  abstract processBatch(values: unknown[]): unknown[] | Promise<unknown[]>;

  snapshotState(): OperatorSnapshot {
    return { keyed: this.backend.snapshot() };
  }
}

/** The empty batch operators return when they emit nothing; never mutated. */
export const EMPTY: unknown[] = Object.freeze([]) as unknown as unknown[];
