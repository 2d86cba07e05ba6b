/** Deterministic virtual-time driving for review tests (reuses the simulator's clock). */
import { setImmediate } from "node:timers";
import { SimClock, SimScheduler } from "../../sim/clock.ts";
import type { RuntimeOptions } from "../../mod.ts";

export class VirtualWorld {
  readonly clock = new SimClock(1_000_000);
  readonly scheduler = new SimScheduler(this.clock);

  runtime(extra: Partial<RuntimeOptions> = {}): RuntimeOptions {
    return { clock: this.clock, scheduler: this.scheduler, jobId: "0123456789abcdef0123456789abcdef", ...extra };
  }

  /** A promise resolved after ms of virtual time. */
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.scheduler.after(ms, r));
  }

  /** Runs events until `until()` or `maxVirtualMs` passed or nothing is left; real I/O gets turns. */
  async drive(until: () => boolean, maxVirtualMs = 60_000): Promise<void> {
    let timeUp = false;
    const t = this.scheduler.after(maxVirtualMs, () => (timeUp = true));
    let idle = 0;
    while (!until() && !timeUp) {
      const e = this.scheduler.next();
      if (!e) {
        if (++idle > 200) return;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      idle = 0;
      e.fn();
      await new Promise((r) => setImmediate(r));
    }
    t.cancel();
  }
}

import { MemoryStorage, setDirectoryOpener } from "../../mod.ts";
import { openFileDirectory } from "../../storage/file.ts";

/** Savepoint directories in memory (no real I/O racing virtual time); returns the restore function. */
export function memoryDirectories(): { storage: MemoryStorage; restore: () => void } {
  const storage = new MemoryStorage();
  setDirectoryOpener((path) => ({ storage, root: `mem:${path}` }));
  return { storage, restore: () => setDirectoryOpener(openFileDirectory) };
}
