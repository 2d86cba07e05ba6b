/**
 * The head of a CBOR item (RFC 8949 §3): what every writer here shares, in a module of its
 * own so that a worker thread writing CBOR (platforms/pair_encoder_worker.ts) loads no
 * encoder library.
 * @module
 */

/**
 * Writes the CBOR head of major type `major` with argument `n` (0 ≤ n < 2^32) at `at`, in
 * at most 5 bytes the caller made room for; returns the position after it.
 */
export function writeHead(b: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) b[at++] = m | n;
  else if (n < 0x100) {
    b[at++] = m | 24;
    b[at++] = n;
  } else if (n < 0x10000) {
    b[at++] = m | 25;
    b[at++] = n >>> 8;
    b[at++] = n & 0xff;
  } else {
    b[at++] = m | 26;
    b[at++] = n >>> 24;
    b[at++] = (n >>> 16) & 0xff;
    b[at++] = (n >>> 8) & 0xff;
    b[at++] = n & 0xff;
  }
  return at;
}
