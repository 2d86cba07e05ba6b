/**
 * A MemoryStorage behind a fault injector. Writes and deletes of checkpoint files (keys
 * with "/chk-") complete as events on the virtual clock, after a PRNG-drawn delay, so
 * their completion order is the seed's; while faults are on, a put may fail outright,
 * tear (leave a partial file under a temporary key, as an atomic write-then-rename
 * adapter does when it dies before the rename, and fail), or land and still report a
 * failure (the reply was lost). The bytes of a put become visible only when it
 * completes, all at once: the adapter contract is atomic puts, and the simulator holds
 * the core to what that contract promises, no more.
 *
 * Savepoint directories (keys under "sp/", opened by path through the simulator's
 * directory opener) are checkpoint files too. With `readMaxMs` set, gets and lists also
 * answer as events (slow ones while faults are on), reading what is there when they
 * complete, so recovery's reads race with late writes and deletes. crash() decides what
 * a dying process's in-flight operations did.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";
import { MemoryStorage } from "../storage/memory.ts";
import type { SimEvent, SimScheduler } from "./clock.ts";
import type { SimPrng } from "./prng.ts";

/** The storage faults a put can suffer. */
export type StorageFaultKind = "put_failed" | "torn_write" | "lost_ack" | "slow_write" | "slow_read";

/** Per-seed probabilities and delays. */
export interface StorageFaultConfig {
  putFail: number;
  torn: number;
  lostAck: number;
  slow: number;
  /** Upper bound of a slow operation's delay, virtual ms. */
  slowMaxMs: number;
  /** Upper bound of a normal operation's delay, virtual ms. */
  baseMaxMs: number;
  /** Gets and lists answer after up to this many virtual ms (0: at once, as before). */
  readMaxMs?: number;
  /** While faults are on, the chance that a read is slow (up to slowMaxMs). */
  readSlow?: number;
}

/** Keys whose writes and deletes are slow and faulty: checkpoint, savepoint and shared state files. */
export function isCheckpointKey(key: string): boolean {
  return key.includes("/chk-") || key.startsWith("sp/") || key.includes("/shared/");
}

/** An operation still in flight, and what it does if its process dies first. */
interface InFlight {
  event: SimEvent;
  /** Makes the operation take effect at once (it completed before the crash). */
  land?: () => void;
}

/** When keys landed, relative to each other and to lists. */
export interface LandingOrder {
  /** Operation counter value when `key` last landed (0: never through this storage). */
  landedAt(key: string): number;
  /** Whether a list of a prefix of `key` answered after `key` landed. */
  listedSince(key: string): boolean;
}

/** What the storage reports to the driver. */
export interface StorageHooks {
  /** False once the fault budget is used up: then only normal delays remain. */
  faultsOn(): boolean;
  /** A fault was injected (counts against the budget). */
  fault(kind: StorageFaultKind, key: string): void;
  /** A line for the trace. */
  log(text: string): void;
  /** A checkpoint's metadata is about to become visible; the checkers look at it. */
  metadataVisible?(key: string, bytes: Uint8Array, present: ReadonlySet<string>): void;
  /** A key was deleted (one by one; not by a prefix). */
  deleted?(key: string): void;
  /** Every key under a checkpoint's or savepoint's prefix was deleted. */
  prefixDeleted?(prefix: string): void;
  /**
   * A job's clean-up is about to delete (and archive) everything under `prefix`; `present`
   * is what is there, `landing` the metadata writes still in flight (they may yet land),
   * `order` when keys landed and were listed.
   */
  cleanup?(prefix: string, present: ReadonlySet<string>, landing: ReadonlyMap<string, Uint8Array>, order: LandingOrder): void;
}

const METADATA_SUFFIX = "/_metadata";

/**
 * Checkpoint storage with injected failures, torn writes and slow completions.
 *
 * @example
 * ```ts ignore
 * const storage = new FaultyStorage(scheduler, prng.fork("storage"), config, hooks);
 * ```
 */
export class FaultyStorage implements StorageAdapter {
  readonly description = "sim-memory";
  /**
   * Every put keeps a copy of its bytes, so that runs reuse the chunks of stored checkpoint
   * files (codec/chunk_pool.ts) under the faults too.
   */
  readonly keepsNoBuffers = true;
  readonly inner = new MemoryStorage();
  readonly #scheduler: SimScheduler;
  readonly #prng: SimPrng;
  readonly #config: StorageFaultConfig;
  readonly #hooks: StorageHooks;
  /** What `inner` holds, mirrored so that checkers and the archive can read it synchronously. */
  readonly #present = new Map<string, Uint8Array>();
  /** What the job's final clean-up deleted: completed checkpoints stay checkable after the job ended. */
  readonly archive = new MemoryStorage();
  #tornCount = 0;
  /** When each key landed, and when each prefix was last listed (an operation counter). */
  readonly #landedAt = new Map<string, number>();
  readonly #listedAt = new Map<string, number>();
  #ops = 0;
  /** Metadata writes issued and not yet completed (whatever their outcome). */
  readonly #metadataInFlight = new Map<string, Uint8Array>();
  readonly #inFlight = new Set<InFlight>();
  readonly #readPrng: SimPrng | undefined;

  constructor(scheduler: SimScheduler, prng: SimPrng, config: StorageFaultConfig, hooks: StorageHooks, readPrng?: SimPrng) {
    this.#scheduler = scheduler;
    this.#prng = prng;
    this.#config = config;
    this.#hooks = hooks;
    this.#readPrng = config.readMaxMs ? readPrng : undefined;
  }

  /** Schedules an operation's completion and keeps it in flight until then. */
  #track(delay: number, label: string, run: () => void, land?: () => void): void {
    const op: InFlight = {
      event: this.#scheduler.schedule(delay, label, () => {
        this.#inFlight.delete(op);
        run();
      }),
      land,
    };
    this.#inFlight.add(op);
  }

  /**
   * The process that issued every operation in flight died (only one process runs at a
   * time). Each write or delete in flight either took effect before the death or never
   * happens, as on a local disk with write-then-rename; a torn write leaves its temporary
   * file. Reads are simply gone. No promise of the dead process settles.
   */
  crash(prng: SimPrng): number {
    let landed = 0;
    for (const op of this.#inFlight) {
      op.event.cancelled = true;
      if (op.land && prng.chance(0.5)) {
        op.land();
        landed++;
      }
    }
    this.#inFlight.clear();
    // A metadata write that did not land with its process never will.
    this.#metadataInFlight.clear();
    return landed;
  }

  /** A read answers as an event when reads are delayed, reading at completion. */
  #read<T>(label: string, run: () => Promise<T>): Promise<T> {
    const r = this.#readPrng;
    if (!r) return run();
    let delay = r.next() * this.#config.readMaxMs!;
    if (this.#hooks.faultsOn() && r.chance(this.#config.readSlow ?? 0)) {
      this.#hooks.fault("slow_read", label);
      delay = 1 + r.next() * this.#config.slowMaxMs;
    }
    return new Promise((resolve, reject) => this.#track(delay, label, () => void run().then(resolve, reject)));
  }

  /** Puts bytes at once, with no fault and no event: what a test or restore check starts from. */
  seed(key: string, bytes: Uint8Array): Promise<void> {
    this.#present.set(key, bytes);
    return this.inner.put(key, bytes);
  }

  /** Keys present right now. */
  get present(): ReadonlySet<string> {
    return new Set(this.#present.keys());
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#read(`get ${key}`, () => this.inner.get(key));
  }
  list(prefix: string): Promise<string[]> {
    return this.#read(`list ${prefix}`, () => {
      this.#listedAt.set(prefix, ++this.#ops);
      return this.inner.list(prefix);
    });
  }

  /** Whether a list of a prefix of `key` answered after `key` landed. */
  #listedSince(key: string): boolean {
    const landed = this.#landedAt.get(key) ?? 0;
    for (const [prefix, at] of this.#listedAt) if (at > landed && key.startsWith(prefix)) return true;
    return false;
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    if (!isCheckpointKey(key)) return this.#putNow(key, bytes.slice());
    const copy = bytes.slice();
    const c = this.#config;
    const on = this.#hooks.faultsOn();
    let outcome: StorageFaultKind | "ok" = "ok";
    if (on) {
      const r = this.#prng.next();
      if (r < c.putFail) outcome = "put_failed";
      else if (r < c.putFail + c.torn) outcome = "torn_write";
      else if (r < c.putFail + c.torn + c.lostAck) outcome = "lost_ack";
    }
    const delay = this.#delay(on, key);
    if (outcome !== "ok") this.#hooks.fault(outcome, key);
    const isMetadata = key.endsWith(METADATA_SUFFIX);
    if (isMetadata) this.#metadataInFlight.set(key, copy);
    const land = outcome === "ok" || outcome === "lost_ack"
      ? () => void this.#putNow(key, copy)
      : outcome === "torn_write"
      ? () => void this.#putNow(`${key}.tmp-${++this.#tornCount}`, copy.slice(0, copy.length >> 1))
      : undefined;
    return new Promise((resolve, reject) => {
      this.#track(delay, `put ${key} ${outcome}`, () => {
        if (isMetadata) this.#metadataInFlight.delete(key);
        const fail = (what: string) => reject(new WeirError("storage_failed", `Injected ${what} writing ${key}`));
        switch (outcome) {
          case "ok":
            return void this.#putNow(key, copy).then(resolve, reject);
          case "put_failed":
            return fail("put failure");
          case "torn_write": {
            // Died between writing the temporary file and renaming it: garbage stays behind.
            const partial = copy.slice(0, this.#prng.int(copy.length));
            return void this.#putNow(`${key}.tmp-${++this.#tornCount}`, partial).then(() => fail("torn write"), reject);
          }
          case "lost_ack":
            return void this.#putNow(key, copy).then(() => fail("lost acknowledgement"), reject);
        }
      }, land);
    });
  }

  #delay(on: boolean, key: string): number {
    const c = this.#config;
    if (on && this.#prng.chance(c.slow)) {
      this.#hooks.fault("slow_write", key);
      return 1 + this.#prng.next() * c.slowMaxMs;
    }
    return this.#prng.next() * c.baseMaxMs;
  }

  #putNow(key: string, bytes: Uint8Array): Promise<void> {
    if (key.endsWith(METADATA_SUFFIX)) this.#hooks.metadataVisible?.(key, bytes, new Set(this.#present.keys()));
    this.#present.set(key, bytes);
    this.#landedAt.set(key, ++this.#ops);
    return this.inner.put(key, bytes);
  }

  delete(key: string): Promise<void> {
    if (!isCheckpointKey(key)) return this.#deleteNow(key);
    return this.#later(`delete ${key}`, () => this.#deleteNow(key));
  }

  deletePrefix(prefix: string): Promise<void> {
    if (!isCheckpointKey(prefix)) return this.#archiveThenDelete(prefix);
    return this.#later(`deletePrefix ${prefix}`, () => this.#deletePrefixNow(prefix));
  }

  /** Deletes complete as events too, so they race with late writes of the same checkpoint. */
  #later(label: string, run: () => Promise<void>): Promise<void> {
    const delay = this.#delay(this.#hooks.faultsOn(), label);
    return new Promise((resolve, reject) => {
      this.#track(delay, label, () => void run().then(resolve, reject), () => void run());
    });
  }

  #deleteNow(key: string): Promise<void> {
    this.#hooks.deleted?.(key);
    this.#present.delete(key);
    return this.inner.delete(key);
  }

  #deletePrefixNow(prefix: string): Promise<void> {
    this.#hooks.prefixDeleted?.(prefix);
    for (const k of [...this.#present.keys()]) if (k.startsWith(prefix)) this.#present.delete(k);
    return this.inner.deletePrefix(prefix);
  }

  /** Copies what is under prefix in one synchronous pass (no event can run in between), then deletes it. */
  #archiveThenDelete(prefix: string): Promise<void> {
    this.#hooks.cleanup?.(prefix, new Set(this.#present.keys()), this.#metadataInFlight, {
      landedAt: (k) => this.#landedAt.get(k) ?? 0,
      listedSince: (k) => this.#listedSince(k),
    });
    const copies: Promise<void>[] = [];
    for (const [k, v] of this.#present) if (k.startsWith(prefix)) copies.push(this.archive.put(k, v));
    return Promise.all(copies).then(() => this.#deletePrefixNow(prefix));
  }
}
