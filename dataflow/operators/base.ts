import type { OperatorContext, OperatorSnapshot, RestoredState, StateCapture, StreamOperator } from "../operator.ts";
import { KeyedStateCapture } from "./keyed_capture.ts";
import { copyValue } from "../../codec/values.ts";
import { assert } from "../../errors.ts";
import type { KeyedStateBackend, KeyedStateHandle } from "../../state/backend.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";

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

/**
 * An operator with keyed state: open() takes the backend from the context (heap when the
 * context has none) and restores it; close() disposes of it.
 */
export abstract class KeyedOperator implements StreamOperator {
  protected backend!: KeyedStateBackend;
  protected copy: Emitter = copyValue;
  protected readonly keySelector: (value: unknown) => unknown;

  constructor(keySelector: (value: unknown) => unknown) {
    this.keySelector = keySelector;
  }

  #uid = "";

  open(ctx: OperatorContext, restored: RestoredState | undefined): void | Promise<void> {
    this.copy = emitterFor(ctx);
    this.#uid = ctx.uid;
    this.backend = ctx.keyedStateBackend?.() ??
      new HeapKeyedStateBackend({ maxParallelism: ctx.maxParallelism, range: ctx.keyGroupRange, clock: ctx.clock, uid: ctx.uid });
    if (!restored) return;
    const handles: KeyedStateHandle[] = restored.keyed.map((tables) => ({ format: "canonical", tables }));
    return this.backend.restore(restored.keyedHandles ? [...handles, ...restored.keyedHandles] : handles);
  }

  abstract processBatch(values: unknown[]): unknown[] | Promise<unknown[]>;

  /**
   * Rebuilds an in-memory index of keyed state (timer queues) once open() restored the
   * backend: from the restored canonical tables, or, when the backend restored files of
   * its own format (incremental checkpoints), from a canonical snapshot of what it then
   * holds, since those files are not tables anyone else can read.
   */
  protected reindex(opened: void | Promise<void>, restored: RestoredState, index: (tables: Record<string, KeyedTableSnapshot>[]) => void): void | Promise<void> {
    if (!restored.keyedHandles?.length) {
      index(restored.keyed);
      return opened;
    }
    return (async () => {
      await opened;
      const snap = this.backend.snapshot(0, { savepoint: true });
      try {
        while (!(await snap.step(Infinity)));
        const result = snap.result();
        assert(result.format === "canonical", () => `The "${this.backend.name}" backend's savepoint snapshot is not canonical`);
        index([result.tables]);
      } finally {
        snap.release();
      }
    })();
  }

  /**
   * Takes the keyed snapshot to its end at once; the caller encodes it before the next
   * record (see StreamOperator.snapshotState).
   * @throws {WeirError} `invariant_broken` when the backend's snapshot waits for I/O or
   *   is not canonical (a backend that needs that must be snapshotted asynchronously)
   */
  snapshotState(checkpointId: number): OperatorSnapshot {
    // Canonical (as a savepoint is): a backend's own format may need I/O to finish.
    const snap = this.backend.snapshot(checkpointId, { savepoint: true });
    try {
      const done = snap.step(Infinity);
      assert(done === true, () => `The "${this.backend.name}" backend's snapshot ${checkpointId} did not finish synchronously`);
      const result = snap.result();
      assert(result.format === "canonical", () => `The "${this.backend.name}" backend's snapshot ${checkpointId} is not canonical`);
      const operator = this.operatorState();
      return operator ? { keyed: result.tables, operator } : { keyed: result.tables };
    } finally {
      snap.release();
    }
  }

  /**
   * The asynchronous snapshot: the backend marks its state now, and copying and encoding
   * happen in the steps of the returned capture, between records.
   */
  captureState(checkpointId: number, options: { savepoint: boolean }): StateCapture | undefined {
    // An operator that adds to what snapshotState() returns keeps the synchronous path.
    if (this.snapshotState !== KeyedOperator.prototype.snapshotState) return undefined;
    const operator = this.operatorState();
    return new KeyedStateCapture(this.backend.snapshot(checkpointId, options), `the state of operator "${this.#uid}"`, operator);
  }

  /**
   * Operator list state beside the keyed state (dealt round-robin on rescale), taken at
   * the snapshot point; none unless a subclass has some.
   */
  protected operatorState(): unknown[] | undefined {
    return undefined;
  }

  /** Tells the backend, which may now drop files only older checkpoints referred to. */
  notifyCheckpointComplete(checkpointId: number): void {
    this.backend?.notifyCheckpointComplete?.(checkpointId);
  }

  close(): void {
    this.backend?.dispose();
  }
}

/**
 * Runs `each(i)` for records 0..n-1 in order and returns `out`; once a call returns a
 * promise, the rest run after it, one at a time, and a promise of `out` is returned. The
 * synchronous path allocates nothing per record.
 */
export function eachRecord(n: number, each: (i: number) => void | Promise<void>, out: unknown[]): unknown[] | Promise<unknown[]> {
  for (let i = 0; i < n; i++) {
    const r = each(i);
    if (r instanceof Promise) return rest(n, each, i, r, out);
  }
  return out;
}

async function rest(n: number, each: (i: number) => void | Promise<void>, i: number, first: Promise<void>, out: unknown[]): Promise<unknown[]> {
  await first;
  for (let j = i + 1; j < n; j++) await each(j);
  return out;
}

/** The empty batch operators return when they emit nothing; never mutated. */
export const EMPTY: unknown[] = Object.freeze([]) as unknown as unknown[];
