/** What the seeded fuzz tests of heap snapshots share: a seeded random source, storage whose writes land when the test says, and a scheduler whose turns the test runs. */
import type { Scheduler } from "../../actors/time.ts";
import type { IncrementalKeyedState, KeyedStateSnapshot } from "../../state/backend.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { SHARED_FILE_IDS_AHEAD, type SharedStateRegistry } from "../../checkpoint/shared_state.ts";

/** A seeded source of numbers in [0, 1) (mulberry32): the same seed, the same run. */
export function mulberry(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** MemoryStorage that holds back a share (`rate`) of its writes until `releaseOne` lands them, in any order. */
export class HoldStorage extends MemoryStorage {
  held: (() => void)[] = [];
  constructor(readonly rand: () => number, readonly rate: number) {
    super();
  }
  override put(key: string, bytes: Uint8Array): Promise<void> {
    if (this.rate > 0 && this.rand() < this.rate) {
      return new Promise<void>((res, rej) => this.held.push(() => super.put(key, bytes).then(res, rej)));
    }
    return super.put(key, bytes);
  }
  releaseOne(i: number): void {
    const [f] = this.held.splice(i, 1);
    f();
  }
}

/** A scheduler whose deferred turns run only when the test calls turn(). */
export class Turns implements Scheduler {
  q: (() => void)[] = [];
  after(): never {
    throw new Error("not used");
  }
  defer(fn: () => void): void {
    this.q.push(fn);
  }
  /** Runs the oldest turn; false when none waits. */
  turn(): boolean {
    const f = this.q.shift();
    f?.();
    return !!f;
  }
}

/** Lets settled promises (storage writes) run their callbacks. */
export const tick = (): Promise<unknown> => new Promise((r) => setImmediate(r));

/**
 * The job's end: lands every held write, runs the coordinator's last sweep (coordinator.ts
 * sweepAtEnd) and returns the shared files under `shared` that `retained` (the keys the
 * retained checkpoint refers to) does not name. Call after the backend's dispose().
 */
export async function leftAtEnd(storage: HoldStorage, registry: SharedStateRegistry, nextId: number, shared: string, retained: Iterable<string>): Promise<string[]> {
  while (storage.held.length) {
    storage.releaseOne(0);
    await tick();
  }
  await tick();
  await registry.sweep(nextId + SHARED_FILE_IDS_AHEAD);
  const referenced = new Set(retained);
  return (await storage.list(`${shared}/`)).filter((k) => !referenced.has(k));
}

/** A snapshot a fuzz test has begun: stepped ("step"), uploading ("write"), finished ("done"), or released ("gone"). */
export interface InFlight {
  id: number;
  snap: KeyedStateSnapshot;
  st: "step" | "write" | "done" | "gone";
  handle?: IncrementalKeyedState;
}

/**
 * Steps `c` by `budget`; a step that returns a promise leaves it uploading until that
 * settles. Returns false when the step threw (noted in `fails`): the run stops.
 */
export function stepOnce(c: InFlight, budget: number, fails: string[], what: string): boolean {
  let r: boolean | Promise<boolean>;
  try {
    r = c.snap.step(budget);
  } catch (e) {
    fails.push(`${what} cp ${c.id} step threw ${(e as Error).stack}`);
    return false;
  }
  if (r === true) c.st = "done";
  else if (r !== false) {
    c.st = "write";
    // A step that waited (for a put, a page image) may leave more steps to take.
    r.then((done) => {
      if (c.st === "write") c.st = done ? "done" : "step";
    }, (e) => fails.push(`${what} cp ${c.id} write failed ${e.message}`));
  }
  return true;
}

/**
 * One step's draw of a fuzz loop: `a` in [0, 1) (what the step does), the snapshots in
 * flight, and whether one begins now (`a` under `begin`, fewer than `maxInFlight` in flight).
 */
export function draw<C extends InFlight>(rand: () => number, cps: C[], o: { begin: number; maxInFlight: number }): { a: number; live: C[]; begins: boolean } {
  const a = rand();
  const live = cps.filter((c) => c.st === "step" || c.st === "write");
  return { a, live, begins: a < o.begin && live.length < o.maxInFlight };
}

/** Takes the result of every finished snapshot not taken yet, releases it and hands it to `complete`, in order. */
export async function completeFinished<C extends InFlight>(cps: C[], fails: string[], complete: (c: C) => Promise<void>): Promise<void> {
  for (const c of cps) {
    if (c.st !== "done" || c.handle) continue;
    if (c.snap.step(1) !== true) {
      fails.push(`done cp ${c.id} not true`);
      return;
    }
    c.handle = c.snap.result() as IncrementalKeyedState;
    c.snap.release();
    await complete(c);
  }
}
