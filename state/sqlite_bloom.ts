/**
 * Which keys the SQLite state file may hold, so that a key seen for the first time (most
 * keys of a growing state) costs no lookup in the file: a scalable Bloom filter (a chain
 * of filters, each twice the size of the one before, each filled to its capacity at about
 * 1% false positives), after Almeida et al. 2007. A false positive only costs the lookup
 * the filter would have saved. About 1.2 bytes per key.
 * @module
 */
import { mix32 } from "./key_group.ts";

const BITS_PER_KEY = 10;
const PROBES = 7;
const FIRST_CAPACITY = 1 << 16;

class Filter {
  readonly bits: Uint32Array;
  readonly mask: number;
  count = 0;
  constructor(readonly capacity: number) {
    // A power of two number of bits, so a probe is a mask.
    let size = 1;
    while (size < capacity * BITS_PER_KEY) size *= 2;
    this.bits = new Uint32Array(size / 32);
    this.mask = size - 1;
  }
}

/**
 * Keys (state id and key hash) that may be in the file.
 *
 * @example
 * ```ts
 * import { KeyFilter } from "./sqlite_bloom.ts";
 * const f = new KeyFilter();
 * f.add(0, 12345);
 * console.assert(f.mayHold(0, 12345));
 * ```
 */
export class KeyFilter {
  #filters: Filter[] = [new Filter(FIRST_CAPACITY)];

  /** Records that state `sid` holds a key with 32-bit hash `hash`. */
  add(sid: number, hash: number): void {
    let f = this.#filters[this.#filters.length - 1];
    if (f.count >= f.capacity) this.#filters.push((f = new Filter(f.capacity * 2)));
    const [h1, h2] = hashes(sid, hash);
    for (let i = 0; i < PROBES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & f.mask;
      f.bits[bit >>> 5] |= 1 << (bit & 31);
    }
    f.count++;
  }

  /** False when state `sid` certainly holds no key with this hash. */
  mayHold(sid: number, hash: number): boolean {
    const [h1, h2] = hashes(sid, hash);
    for (const f of this.#filters) {
      let all = true;
      for (let i = 0; i < PROBES && all; i++) {
        const bit = (h1 + Math.imul(i, h2)) & f.mask;
        all = (f.bits[bit >>> 5] & (1 << (bit & 31))) !== 0;
      }
      if (all) return true;
    }
    return false;
  }

  /** Bytes the filters take. */
  get bytes(): number {
    return this.#filters.reduce((n, f) => n + f.bits.byteLength, 0);
  }
}

function hashes(sid: number, hash: number): [number, number] {
  const h1 = mix32(hash ^ Math.imul(sid + 1, 0x9e3779b1));
  // Odd, so successive probes visit different bits.
  const h2 = mix32(h1 ^ 0x85ebca6b) | 1;
  return [h1, h2];
}
