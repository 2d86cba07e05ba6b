/**
 * Checksums of what a checkpoint stores: every state file's and the `_metadata` file's own.
 *
 * CRC-32C (Castagnoli), the checksum of RocksDB's blocks, Kafka's record batches, iSCSI
 * and Google Cloud Storage: it detects every change of up to 32 consecutive bits (so any
 * changed byte) and is computed synchronously in plain TypeScript, the same on Bun, Deno
 * and workerd. Synchronous matters: WebCrypto's SHA-256 resolves on a thread of its own,
 * which would make the simulator's event order depend on real time. Slicing-by-8 tables
 * keep it at several hundred MB/s; it guards against storage corruption and careless
 * edits, not against an attacker (who could rewrite the checksum as well).
 * @module
 */

/** The checksum algorithm's tag in `_metadata`, so a later one can be told apart. */
export const CHECKSUM_ALGORITHM = "crc32c";

/**
 * Signed, like the words read, so that every value the loop meets is an int32 (as
 * Uint32Array, half of them were not): the first 256 KiB a process checksummed took
 * 7–12 ms on Bun with Uint32Array tables and words, 3–6 ms with Int32Array, while its JIT
 * compiled the loop; later ones take 0.3 ms either way.
 */
const TABLES = buildTables();

function buildTables(): Int32Array[] {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tables[0][i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let t = 1; t < 8; t++) tables[t][i] = (tables[t - 1][i] >>> 8) ^ tables[0][tables[t - 1][i] & 0xff];
  }
  return tables;
}

/**
 * The CRC-32C of `bytes`, as an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import { crc32c } from "./checksum.ts";
 * console.assert(crc32c(new TextEncoder().encode("123456789")) === 0xe3069283);
 * ```
 */
export function crc32c(bytes: Uint8Array): number {
  return (crc32cUpdate(0xffffffff, bytes, 0, bytes.length) ^ 0xffffffff) >>> 0;
}

/** Words read in native order are little-endian here (every platform weir runs on). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/**
 * The running CRC (before its final inversion) after bytes[start, end), from `crc`.
 * Slicing-by-8 over words read through an Int32Array where the bytes are aligned: a word
 * load for four byte loads ran 1.4–1.8 times as fast on Bun and Deno.
 */
function crc32cUpdate(crc: number, bytes: Uint8Array, start: number, end: number): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let i = start;
  while (i < end && ((bytes.byteOffset + i) & 3) !== 0) crc = t0[(crc ^ bytes[i++]) & 0xff] ^ (crc >>> 8);
  const pairs = LITTLE_ENDIAN ? (end - i) >>> 3 : 0;
  if (pairs > 0) {
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, pairs * 2);
    for (let w = 0; w < words.length; w += 2) {
      crc ^= words[w];
      const hi = words[w + 1];
      crc = t7[crc & 0xff] ^ t6[(crc >>> 8) & 0xff] ^ t5[(crc >>> 16) & 0xff] ^ t4[crc >>> 24] ^
        t3[hi & 0xff] ^ t2[(hi >>> 8) & 0xff] ^ t1[(hi >>> 16) & 0xff] ^ t0[hi >>> 24];
    }
    i += pairs * 8;
  }
  while (i < end) crc = t0[(crc ^ bytes[i++]) & 0xff] ^ (crc >>> 8);
  return crc;
}

/**
 * The checksum of a large buffer, or of a file given as parts (their concatenation),
 * computed a slice at a time, so that a subtask can go on processing records between
 * slices; the result equals checksumOf() the bytes.
 *
 * @example
 * ```ts
 * import { ChecksumInSlices, checksumOf } from "./checksum.ts";
 * const bytes = new TextEncoder().encode("123456789");
 * const c = new ChecksumInSlices(bytes);
 * while (!c.step(4)) { }
 * console.assert(c.value === checksumOf(bytes));
 * const p = new ChecksumInSlices([bytes.subarray(0, 2), bytes.subarray(2)]);
 * while (!p.step(3)) { }
 * console.assert(p.value === checksumOf(bytes));
 * ```
 */
export class ChecksumInSlices {
  readonly #parts: readonly Uint8Array[];
  #part = 0;
  #at = 0;
  #crc = 0xffffffff;
  constructor(bytes: Uint8Array | readonly Uint8Array[]) {
    this.#parts = bytes instanceof Uint8Array ? [bytes] : bytes;
    this.#skipDone();
  }
  /** Checksums the next `n` bytes (at least one); true once every byte was. */
  step(n: number): boolean {
    let left = Math.max(1, n);
    while (left > 0 && this.#part < this.#parts.length) {
      const bytes = this.#parts[this.#part];
      const end = Math.min(bytes.length, this.#at + left);
      this.#crc = crc32cUpdate(this.#crc, bytes, this.#at, end);
      left -= end - this.#at;
      this.#at = end;
      this.#skipDone();
    }
    return this.#part === this.#parts.length;
  }
  /** Moves past finished (and empty) parts. */
  #skipDone(): void {
    while (this.#part < this.#parts.length && this.#at === this.#parts[this.#part].length) {
      this.#part++;
      this.#at = 0;
    }
  }
  /** The checksum, as checksumOf() writes it; only once step() returned true. */
  get value(): string {
    return `${CHECKSUM_ALGORITHM}:${((this.#crc ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0")}`;
  }
}

/**
 * The checksum of bytes that pass by part after part (a file written while it is read
 * from a state backend); `value` equals checksumOf() their concatenation.
 *
 * @example
 * ```ts
 * import { ChecksumOfParts, checksumOf } from "./checksum.ts";
 * const bytes = new TextEncoder().encode("123456789");
 * const c = new ChecksumOfParts();
 * c.update(bytes.subarray(0, 4));
 * c.update(bytes.subarray(4));
 * console.assert(c.value === checksumOf(bytes) && c.size === 9);
 * ```
 */
export class ChecksumOfParts {
  #crc = 0xffffffff;
  /** Bytes seen so far. */
  size = 0;
  update(bytes: Uint8Array): void {
    this.#crc = crc32cUpdate(this.#crc, bytes, 0, bytes.length);
    this.size += bytes.length;
  }
  /** The checksum so far, as checksumOf() writes it. */
  get value(): string {
    return `${CHECKSUM_ALGORITHM}:${((this.#crc ^ 0xffffffff) >>> 0).toString(16).padStart(8, "0")}`;
  }
}

/**
 * The checksum of `bytes` as recorded in `_metadata`: `"crc32c:"` and 8 hex digits.
 *
 * @example
 * ```ts
 * import { checksumOf } from "./checksum.ts";
 * console.assert(checksumOf(new TextEncoder().encode("123456789")) === "crc32c:e3069283");
 * ```
 */
export function checksumOf(bytes: Uint8Array): string {
  return `${CHECKSUM_ALGORITHM}:${crc32c(bytes).toString(16).padStart(8, "0")}`;
}
