/**
 * The version of weir, as package.json and deno.json state it. It is recorded in every
 * checkpoint's `_metadata`, so that `weir savepoint inspect` can tell which weir wrote a
 * savepoint (tests/version_test.ts keeps the three in step).
 *
 * @example
 * ```ts
 * import { WEIR_VERSION } from "./version.ts";
 * console.assert(/^\d+\.\d+\.\d+/.test(WEIR_VERSION));
 * ```
 * @module
 */
export const WEIR_VERSION = "0.1.0";
