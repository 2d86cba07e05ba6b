/** A source for tests that decide how far a job gets without racing the clock. */
import assert from "node:assert/strict";
import type { OperatorContext, Source, SourceReader } from "../mod.ts";

/**
 * A replayable sequence 0..to-1 (parallelism 1) that emits only up to `allowed`, so a test
 * decides how far a run gets without racing the clock.
 */
export class GatedSequence implements Source<number> {
  allowed = 0;
  /** Highest record that reached the operator after the source (-1: none). */
  seen = -1;
  constructor(readonly to: number) {}
  createReader(_ctx: OperatorContext): SourceReader {
    let next = 0;
    return {
      open: (_c, restored) => {
        if (restored && restored.length > 0) next = restored[0] as number;
      },
      poll: (max) => {
        if (next >= this.to) return null;
        const out: number[] = [];
        const end = Math.min(this.to, this.allowed, next + max);
        while (next < end) out.push(next++);
        return out;
      },
      waitMs: () => 1,
      snapshotState: () => [next],
    };
  }
  /** Lets the source run up to n and waits until the records reached the job. */
  async allow(n: number): Promise<void> {
    this.allowed = n;
    for (let i = 0; i < 10_000 && this.seen < n - 1; i++) await new Promise((r) => setTimeout(r, 2));
    assert.ok(this.seen >= n - 1, `records up to ${n - 1} did not arrive (seen ${this.seen})`);
  }
}

