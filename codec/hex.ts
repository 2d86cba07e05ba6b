/**
 * Bytes from hexadecimal text, as SQLite's `hex()` writes it: the SQLite backend's point
 * reads fetch small BLOBs that way where a BLOB result costs more than a string
 * (state/sqlite_store_connection.ts).
 * @module
 */
import { WeirError } from "../errors.ts";

/** The TC39 method (ES2026), where the runtime has it: Bun and Deno do, Node 20 does not. */
const native = (Uint8Array as unknown as { fromHex?: (text: string) => Uint8Array }).fromHex;

/**
 * The bytes `text` spells, two hexadecimal digits (either case) a byte.
 *
 * @example
 * ```ts
 * import { bytesFromHex } from "./hex.ts";
 * console.assert(bytesFromHex("0aFF").join() === "10,255");
 * ```
 * @throws {WeirError} `invariant_broken` for an odd length or a character that is no hexadecimal digit
 */
export function bytesFromHex(text: string): Uint8Array {
  if (native === undefined) return bytesFromHexInJs(text);
  try {
    return native(text);
  } catch (e) {
    throw notHex(text, (e as Error).message);
  }
}

/** bytesFromHex() without the runtime's method, as Node 20 runs it (exported for tests). */
export function bytesFromHexInJs(text: string): Uint8Array {
  if (text.length % 2 !== 0) throw notHex(text, `odd length ${text.length}`);
  const out = new Uint8Array(text.length >> 1);
  for (let i = 0; i < out.length; i++) {
    const hi = digit(text.charCodeAt(2 * i));
    const lo = digit(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw notHex(text, `character ${hi < 0 ? 2 * i : 2 * i + 1}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** A hexadecimal digit's value, or -1. */
function digit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

function notHex(text: string, why: string): WeirError {
  return new WeirError("invariant_broken", `Not hexadecimal text: ${JSON.stringify(text.slice(0, 40))} (${why})`);
}
