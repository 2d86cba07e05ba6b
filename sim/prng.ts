/**
 * The simulator's only source of randomness: sfc32 (Chris Doty-Humphrey's Small Fast
 * Counting generator), seeded through splitmix32. One seed fans out into independent
 * per-part streams with fork(label), so that adding a draw in one part (say, storage)
 * does not shift every draw in another (say, scheduling).
 * @module
 */
import type { Prng } from "../actors/time.ts";
import { mix32 } from "../state/key_group.ts";

/** 32-bit string hash (FNV-1a with a murmur3 finish); stable across runtimes. */
export function hash32(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A seeded PRNG with helpers for the draws the simulator makes.
 *
 * @example
 * ```ts
 * import { SimPrng } from "./prng.ts";
 * const a = new SimPrng(42).fork("storage");
 * const b = new SimPrng(42).fork("storage");
 * console.assert(a.next() === b.next());
 * ```
 */
export class SimPrng implements Prng {
  /** The path this stream was derived from, e.g. "42/driver/storage". */
  readonly label: string;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number | string) {
    this.label = String(seed);
    const st = { s: hash32(this.label) };
    this.#a = splitmix32(st);
    this.#b = splitmix32(st);
    this.#c = splitmix32(st);
    this.#d = splitmix32(st) | 1;
    // Warm-up: sfc32's first outputs are weakly mixed.
    for (let i = 0; i < 12; i++) this.#u32();
  }

  /** An independent stream named by label; depends only on this stream's seed path, not on its draws. */
  fork(label: string): SimPrng {
    return new SimPrng(`${this.label}/${label}`);
  }

  #u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.#u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [min, max], both inclusive. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)];
  }

  /**
   * A probability drawn per seed: zero with probability `offShare` (so that some seeds
   * never see this fault at all), otherwise log-uniform between min and max, so both
   * rare and frequent faults get explored.
   */
  probability(min: number, max: number, offShare = 0.25): number {
    if (this.chance(offShare)) return 0;
    return Math.exp(Math.log(min) + this.next() * (Math.log(max) - Math.log(min)));
  }
}
