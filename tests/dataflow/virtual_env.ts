import { MemoryStorage, StreamEnvironment } from "../../mod.ts";
import type { VirtualWorld } from "../virtual_world.ts";

/** A job on the world's virtual time: parallelism 2, checkpoints every 10 ms, restarts after failures. */
export function virtualEnv(world: VirtualWorld, name: string, extra: Record<string, unknown> = {}): StreamEnvironment {
  return new StreamEnvironment({
    jobName: name,
    parallelism: 2,
    storage: new MemoryStorage(),
    checkpoint: { interval: 10 },
    restart: { strategy: "fixed-delay", attempts: 5, delay: 5 },
    runtime: world.runtime(),
    ...extra,
  });
}
