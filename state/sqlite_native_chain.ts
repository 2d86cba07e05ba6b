/**
 * Which native checkpoint of the SQLite backend comes next, a base or a changelog, and the
 * chain a changelog extends (sqlite_native.ts). A changelog holds only what changed since
 * the previous snapshot point, so it may extend a chain only when every snapshot since that
 * chain's is accounted for: none in flight, none aborted since a base that completed.
 * @module
 */
import { type NativeChain, needsBase } from "./sqlite_native.ts";

/** What one snapshot is started with, and what it reports back. */
export interface NativeStart {
  /** The chain to extend with a changelog; undefined: write a base. */
  previous: NativeChain | undefined;
  /** Its result was taken, with the chain it ends. */
  onResult(chain: NativeChain): void;
  /** It was released without a result, or failed at its snapshot point. */
  onAbort(): void;
}

/**
 * The chain of the newest native checkpoint whose result was taken, and the snapshots in
 * flight.
 *
 * @example
 * ```ts
 * import { NativeChainTracker } from "./sqlite_native_chain.ts";
 * const t = new NativeChainTracker();
 * const first = t.begin(1);
 * console.assert(first.previous === undefined); // a base
 * first.onResult({ files: [{ kind: "base", parts: 1, rows: 10 }, { kind: "changelog", parts: 1, rows: 0 }], shared: [] });
 * console.assert(t.begin(2).previous !== undefined); // a changelog
 * ```
 */
export class NativeChainTracker {
  #chain: NativeChain | undefined;
  #chainCheckpointId = -1;
  /** Snapshots started and not yet taken or released: the next one must be a base. */
  #inFlight = 0;
  /** An aborted snapshot took changes with it (or state was restored): the next one is a base. */
  #forceBase = true;
  /**
   * Snapshots started so far, and the start number of the newest one aborted (or of the last
   * started before a restore): a base started before it does not lift #forceBase, since the
   * changes handed to the aborted one came after its snapshot point.
   */
  #started = 0;
  #forcedAfter = 0;

  /** Starts snapshot `checkpointId`: a base, or a changelog extending the chain. */
  begin(checkpointId: number): NativeStart {
    const base = this.#forceBase || this.#inFlight > 0 || needsBase(this.#chain);
    this.#inFlight++;
    const started = ++this.#started;
    let open = true;
    const settle = () => {
      if (open) this.#inFlight--;
      open = false;
    };
    return {
      previous: base ? undefined : this.#chain,
      onResult: (chain) => {
        settle();
        if (checkpointId > this.#chainCheckpointId) {
          this.#chain = chain;
          this.#chainCheckpointId = checkpointId;
          if (base && started > this.#forcedAfter) this.#forceBase = false;
        }
      },
      onAbort: () => {
        settle();
        this.#forceBase = true;
        this.#forcedAfter = Math.max(this.#forcedAfter, started);
      },
    };
  }

  /** State was restored (the working file changed): the next snapshot is a base. */
  restored(): void {
    this.#forceBase = true;
    this.#forcedAfter = this.#started;
  }
}
