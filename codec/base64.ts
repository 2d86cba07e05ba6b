/**
 * Bytes as base64 text, for JSON answers and CLI output.
 * @module
 */

/** Bytes converted per String.fromCharCode call: a spread of every byte at once overflows the stack past ~120 K. */
const SLICE = 8192;

/**
 * `bytes` as standard base64 (RFC 4648, with padding), of any length.
 *
 * @example
 * ```ts
 * import { base64 } from "./base64.ts";
 * console.assert(base64(new Uint8Array([104, 105])) === "aGk=");
 * ```
 */
export function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += SLICE) binary += String.fromCharCode(...bytes.subarray(i, i + SLICE));
  return btoa(binary);
}
