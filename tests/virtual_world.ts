/**
 * Virtual time for tests that drive a real job step by step: a thin face over the
 * simulator's World (one virtual-time driver for the simulator and the tests), with no
 * random delays, and a few real-millisecond waits for tests whose storage does real I/O.
 * @module
 */
import type { RuntimeOptions } from "../mod.ts";
import { MemoryStorage, setDirectoryOpener } from "../mod.ts";
import { SimPrng } from "../sim/prng.ts";
import { World } from "../sim/world.ts";
import { openFileDirectory } from "../storage/file.ts";

export class VirtualWorld {
  readonly #world = new World(new SimPrng("tests"), { stepCostMaxMs: 0, timerLateMaxMs: 0 });
  readonly clock = this.#world.clock;
  readonly scheduler = this.#world.scheduler;

  runtime(extra: Partial<RuntimeOptions> = {}): RuntimeOptions {
    return { clock: this.clock, scheduler: this.scheduler, jobId: "0123456789abcdef0123456789abcdef", ...extra };
  }

  /** A promise resolved after ms of virtual time. */
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.scheduler.after(ms, r));
  }

  /**
   * Runs the job until it ends and returns its result.
   * @throws when it has not ended after `maxVirtualMs` of virtual time
   */
  async untilDone<R>(job: { done: Promise<R> }, maxVirtualMs = 600_000): Promise<R> {
    const result = await this.settle(job.done, maxVirtualMs);
    if (!result) throw new Error(`The job did not end within ${maxVirtualMs} ms of virtual time`);
    return result.value;
  }

  /** Runs events until `promise` resolves (its value) or `maxVirtualMs` passed (undefined). */
  async settle<R>(promise: Promise<R>, maxVirtualMs = 60_000): Promise<{ value: R } | undefined> {
    let result: { value: R } | undefined;
    promise.then((value) => (result = { value }));
    await this.drive(() => result !== undefined, maxVirtualMs);
    return result;
  }

  /** Runs events until `until()` holds, `maxVirtualMs` passed, or nothing is left to run. */
  async drive(until: () => boolean, maxVirtualMs = 60_000): Promise<void> {
    const end = this.clock.now() + maxVirtualMs;
    await this.#world.drive(
      { done: until, limit: () => (this.clock.now() >= end ? "time" : undefined) },
      { realIoWaits: 200 },
    );
  }
}

/** Savepoint directories in memory (no real I/O racing virtual time); returns the restore function. */
export function memoryDirectories(): { storage: MemoryStorage; restore: () => void } {
  const storage = new MemoryStorage();
  setDirectoryOpener((path) => ({ storage, root: `mem:${path}` }));
  return { storage, restore: () => setDirectoryOpener(openFileDirectory) };
}
