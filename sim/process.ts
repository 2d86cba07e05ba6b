/**
 * One simulated OS process running a job, and how it dies. A whole-process crash is
 * modelled from the outside, with no hook in the core: every timer and deferred call the
 * process scheduled is cancelled, and every storage call it made stays pending for ever
 * (a dead process hears no replies), so none of its code runs again: no actor step, no
 * restart, no commit to the sink, and no clean-up (its `_current` marker stays). What
 * its in-flight writes did is decided by FaultyStorage.crash().
 * @module
 */
import type { Scheduler, Timer } from "../actors/time.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import type { SimEvent, SimScheduler } from "./clock.ts";

/**
 * A scheduler view whose events all die with the process. It draws the same delays in
 * the same order as SimScheduler itself, so a run that never crashes is unchanged.
 */
export class ProcessScheduler implements Scheduler {
  readonly #world: SimScheduler;
  readonly #live = new Set<SimEvent>();
  #dead = false;

  constructor(world: SimScheduler) {
    this.#world = world;
  }

  get dead(): boolean {
    return this.#dead;
  }

  after(delayMs: number, fn: () => void): Timer {
    const d = Math.max(0, Number.isFinite(delayMs) ? delayMs : 0) + this.#world.delays.timerLate();
    const e = this.schedule(d, "timer", fn);
    return { cancel: () => void (e.cancelled = true) };
  }

  defer(fn: () => void): void {
    this.schedule(this.#world.delays.defer(), "defer", fn);
  }

  hold(work: Promise<unknown>): void {
    this.#world.hold(work);
  }

  /** Enqueues fn on the world's queue; it never runs once the process died. */
  schedule(delayMs: number, label: string, fn: () => void): SimEvent {
    const e: SimEvent = this.#world.schedule(delayMs, label, () => {
      this.#live.delete(e);
      fn();
    });
    if (this.#dead) e.cancelled = true;
    else this.#live.add(e);
    return e;
  }

  /** The process dies: nothing it scheduled runs. */
  kill(): void {
    this.#dead = true;
    for (const e of this.#live) e.cancelled = true;
    this.#live.clear();
  }
}

const never = new Promise<never>(() => {});

/** A storage view of one process: once it died, it makes no call and hears no reply. */
export class ProcessStorage implements StorageAdapter {
  readonly description: string;
  readonly #inner: StorageAdapter;
  #dead = false;

  constructor(inner: StorageAdapter) {
    this.#inner = inner;
    this.description = inner.description;
  }

  get keepsNoBuffers(): boolean | undefined {
    return this.#inner.keepsNoBuffers;
  }

  kill(): void {
    this.#dead = true;
  }

  /**
   * Passes the call through unchanged (no extra promise hop, so a run that never crashes
   * interleaves exactly as before). Replies in flight at the death never come because
   * FaultyStorage.crash() cancels their events; this guard only refuses new calls.
   */
  #call<T>(op: () => Promise<T>): Promise<T> {
    if (this.#dead) return never;
    return op();
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#call(() => this.#inner.get(key));
  }
  list(prefix: string): Promise<string[]> {
    return this.#call(() => this.#inner.list(prefix));
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.#call(() => this.#inner.put(key, bytes));
  }
  delete(key: string): Promise<void> {
    return this.#call(() => this.#inner.delete(key));
  }
  deletePrefix(prefix: string): Promise<void> {
    return this.#call(() => this.#inner.deletePrefix(prefix));
  }
}

/** Storage rooted at `base` inside another storage: a savepoint directory opened by path. */
export class PrefixStorage implements StorageAdapter {
  readonly description: string;
  readonly #inner: StorageAdapter;
  readonly #base: string;

  constructor(inner: StorageAdapter, base: string) {
    this.#inner = inner;
    this.#base = base.endsWith("/") ? base : `${base}/`;
    this.description = `${inner.description}/${this.#base.slice(0, -1)}`;
  }

  get keepsNoBuffers(): boolean | undefined {
    return this.#inner.keepsNoBuffers;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#inner.get(this.#base + key);
  }
  async list(prefix: string): Promise<string[]> {
    return (await this.#inner.list(this.#base + prefix)).map((k) => k.slice(this.#base.length));
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.#inner.put(this.#base + key, bytes);
  }
  delete(key: string): Promise<void> {
    return this.#inner.delete(this.#base + key);
  }
  deletePrefix(prefix: string): Promise<void> {
    return this.#inner.deletePrefix(this.#base + prefix);
  }
}
