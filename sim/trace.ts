/**
 * The trace of one simulated run: every event, pick and fault is folded into a hash
 * (two replays of a seed must end with the same hash, bit for bit), and the last lines
 * are kept to show what led to a failure.
 * @module
 */

/**
 * A bounded trace with a running 64-bit hash (two FNV-1a lanes).
 *
 * @example
 * ```ts
 * import { Trace } from "./trace.ts";
 * const a = new Trace(4), b = new Trace(4);
 * a.log(0, "step map (1/2)"); b.log(0, "step map (1/2)");
 * console.assert(a.hash === b.hash);
 * ```
 */
export class Trace {
  readonly #keep: number;
  readonly #lines: string[] = [];
  #h1 = 0x811c9dc5;
  #h2 = 0x01000193;
  /** Lines logged in all. */
  count = 0;

  constructor(keep = 40) {
    this.#keep = keep;
  }

  /** Adds one line at virtual time t. */
  log(t: number, text: string): void {
    const line = `${t.toFixed(3)} ${text}`;
    let h1 = this.#h1;
    let h2 = this.#h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 15);
    }
    h1 = Math.imul(h1 ^ 10, 0x01000193);
    this.#h1 = h1;
    this.#h2 = h2;
    this.count++;
    if (this.#keep > 0) {
      this.#lines.push(line);
      if (this.#lines.length > this.#keep) this.#lines.shift();
    }
  }

  /** Hex digest of everything logged so far. */
  get hash(): string {
    return (this.#h1 >>> 0).toString(16).padStart(8, "0") + (this.#h2 >>> 0).toString(16).padStart(8, "0");
  }

  /** The last lines, oldest first. */
  tail(): string[] {
    return [...this.#lines];
  }
}
