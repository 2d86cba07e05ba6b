/**
 * Walks CBOR bytes (RFC 8949) item by item without decoding them: where an item starts
 * and ends, what its head says. A restore uses it to find a savepoint's key groups and
 * to copy their keys and values as bytes (state/sqlite_encoded_restore.ts) where decoding
 * them into values and encoding them again would cost most of the time. Only the
 * definite-length items encode() writes are read; anything else is refused.
 * @module
 */
import { WeirError } from "../errors.ts";

/** CBOR major types (typed as numbers: a scanner's `major` changes under the compiler's narrowing). */
export const MAJOR_UINT: number = 0;
export const MAJOR_NEGINT: number = 1;
export const MAJOR_BYTES: number = 2;
export const MAJOR_TEXT: number = 3;
export const MAJOR_ARRAY: number = 4;
export const MAJOR_MAP: number = 5;
export const MAJOR_TAG: number = 6;
export const MAJOR_SIMPLE: number = 7;

/** Items nested deeper than this are refused (a corrupt file must not exhaust the stack). */
const DEPTH_MAX = 256;

/**
 * A cursor over CBOR bytes. `head()` reads the head at `at`: its major type and argument
 * (a length, a count, an integer, a tag number), then `at` is where the item's content
 * starts; `skip()` moves past a whole item.
 *
 * @example
 * ```ts
 * import { CborScanner, MAJOR_ARRAY } from "./cbor_scan.ts";
 * import { encode } from "./cbor.ts";
 * const s = new CborScanner(encode([1, "ab", { c: true }]), 1, "doc");
 * s.head();
 * console.assert(s.major === MAJOR_ARRAY && s.argument === 3);
 * s.skip();
 * console.assert(s.at === 3);
 * ```
 */
export class CborScanner {
  readonly bytes: Uint8Array;
  /** The position: after head(), where the item's content starts. */
  at: number;
  /** Major type of the last head read. */
  major = 0;
  /** Argument of the last head read (below 2^53). */
  argument = 0;
  /** Additional information of the last head read (the low five bits). */
  info = 0;
  readonly #what: string;

  constructor(bytes: Uint8Array, at: number, what: string) {
    this.bytes = bytes;
    this.at = at;
    this.#what = what;
  }

  /**
   * Reads one head at `at`.
   * @throws {WeirError} `storage_corrupt` past the end, for an indefinite length or a reserved value
   */
  head(): void {
    const b = this.bytes;
    let at = this.at;
    if (at >= b.length) this.#corrupt("ends inside an item");
    const first = b[at++];
    const info = first & 0x1f;
    let n: number;
    if (info < 24) n = info;
    else if (info === 24) {
      if (at + 1 > b.length) this.#corrupt("ends inside an item head");
      n = b[at];
      at += 1;
    } else if (info === 25) {
      if (at + 2 > b.length) this.#corrupt("ends inside an item head");
      n = (b[at] << 8) | b[at + 1];
      at += 2;
    } else if (info === 26) {
      if (at + 4 > b.length) this.#corrupt("ends inside an item head");
      n = ((b[at] << 24) >>> 0) + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
      at += 4;
    } else if (info === 27) {
      if (at + 8 > b.length) this.#corrupt("ends inside an item head");
      const high = ((b[at] << 24) >>> 0) + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
      const low = ((b[at + 4] << 24) >>> 0) + ((b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7]);
      n = high * 0x100000000 + low;
      at += 8;
    } else this.#corrupt(info === 31 ? "holds an indefinite-length item" : `holds a reserved head 0x${first.toString(16)}`);
    this.major = first >> 5;
    this.info = info;
    this.argument = n;
    this.at = at;
  }

  /**
   * Moves `at` past the whole item that starts there.
   * @throws {WeirError} `storage_corrupt` (see head()), or for items nested too deep
   */
  skip(depth = 0): void {
    if (depth > DEPTH_MAX) this.#corrupt(`nests items deeper than ${DEPTH_MAX}`);
    this.head();
    switch (this.major) {
      case MAJOR_UINT:
      case MAJOR_NEGINT:
      case MAJOR_SIMPLE:
        // A simple value or float carries its bytes in the argument already.
        return;
      case MAJOR_BYTES:
      case MAJOR_TEXT:
        if (this.at + this.argument > this.bytes.length) this.#corrupt("ends inside a string");
        this.at += this.argument;
        return;
      case MAJOR_ARRAY:
        for (let i = this.argument; i > 0; i--) this.skip(depth + 1);
        return;
      case MAJOR_MAP:
        for (let i = this.argument * 2; i > 0; i--) this.skip(depth + 1);
        return;
      case MAJOR_TAG:
        this.skip(depth + 1);
        return;
    }
  }

  /**
   * Reads a text string's head and content.
   * @throws {WeirError} `storage_corrupt` when the item is not a text string
   */
  text(): string {
    this.head();
    if (this.major !== MAJOR_TEXT || this.at + this.argument > this.bytes.length) this.#corrupt("has no text where one belongs");
    const s = new TextDecoder().decode(this.bytes.subarray(this.at, this.at + this.argument));
    this.at += this.argument;
    return s;
  }

  /**
   * Reads a text string that is a map key, as decode() names the property: cbor-x turns
   * `__proto__` into `__proto_` so that decoded data never sets an object's prototype.
   * @throws {WeirError} `storage_corrupt` when the item is not a text string
   */
  propertyName(): string {
    const key = this.text();
    return key === "__proto__" ? "__proto_" : key;
  }

  #corrupt(why: string): never {
    throw new WeirError("storage_corrupt", `Cannot read ${this.#what}: it ${why} at byte ${this.at}`);
  }
}
