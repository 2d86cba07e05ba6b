/**
 * Which native checkpoint of the SQLite backend comes next, a base or a changelog, and the
 * chain a changelog extends (sqlite_native.ts). A changelog holds only what changed since
 * the previous snapshot point, so it may extend a chain only when every snapshot since that
 * chain's is accounted for: none in flight, none aborted since a base that completed.
 *
 * A chain that wants a new base gets it from a materialization between checkpoints
 * (sqlite_materialization.ts), as Flink 1.15's changelog backend materializes in the
 * background: a base of the state at its own point, taken into the chain once written,
 * followed by the changelogs of the checkpoints begun after that point. A changelog holds
 * every key changed in its epoch with its value at its end, so replaying one that began
 * before the point over the base is harmless, and the first checkpoint after the point
 * began its epoch before it. A checkpoint writes a base itself only with no chain to
 * extend, or a chain 4 times too long (materializations keep failing, or the backend
 * runs none).
 * @module
 */
import { SHARED_FILE_IDS_AHEAD } from "../checkpoint/shared_state.ts";
import type { SharedStateRef } from "./backend.ts";
import { type NativeChain, needsBase } from "./sqlite_native_format.ts";

/** A chain this many times as long as needsBase() lets it get has a checkpoint write a base. */
const OVERDUE_FACTOR = 4;
/** Materializations in a row whose write failed, after which a checkpoint writes the base (storage that refuses large files would fail every one). */
const MATERIALIZATIONS_LOST_MAX = 2;

/** What one snapshot is started with, and what it reports back. */
export interface NativeStart {
  /** The chain to extend with a changelog; undefined: write a base. */
  previous: NativeChain | undefined;
  /** Its result was taken, with the chain it ends. */
  onResult(chain: NativeChain): void;
  /** It was released without a result, or failed at its snapshot point. */
  onAbort(): void;
}

/** What a materialization is started with, and what it reports back. */
export interface MaterializationStart {
  /** The id its parts are named for, fixed at the first call (when its upload starts). */
  fileId(): number;
  /**
   * Its result was taken: true when its base is now the chain's, false when its files must
   * go (a checkpoint that began meanwhile may complete without them, or the chain moved on).
   */
  onResult(chain: NativeChain): boolean;
  /**
   * It was released without a result: `failed` (its write or upload failed) counts toward
   * the checkpoint writing the base; stopped (a checkpoint came, a restore) it does not.
   */
  onAbort(failed: boolean): void;
}

/** Where a materialized base no checkpoint will refer to goes. */
export type DropFiles = (refs: readonly SharedStateRef[]) => void;

/**
 * The chain of the newest native checkpoint whose result was taken (rebased onto a newer
 * materialized base), and the snapshots in flight.
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
  /** The start number of the snapshot or materialization that added each file of #chain. */
  #starts: number[] = [];
  #chainCheckpointId = -1;
  /** Snapshots started and not yet taken or released: the next one must be a base. */
  #inFlight = 0;
  /** An aborted snapshot took changes with it (or state was restored): the next one is a base. */
  #forceBase = true;
  /**
   * Snapshots and materializations started so far, and the start number of the newest
   * snapshot aborted (or of the last started before a restore): a base started before it
   * does not lift #forceBase, since the changes handed to the aborted one came after its
   * snapshot point.
   */
  #started = 0;
  #forcedAfter = 0;
  /** The newest checkpoint a snapshot began for: a materialization names its files above it. */
  #newestBegun = 0;
  /** Whether materializations run (the backend has a scheduler): else checkpoints write the bases. */
  readonly #materializes: boolean;
  readonly #drop: DropFiles;
  /** The start number of the materialization running, if one is. */
  #materializing: number | undefined;
  /** Materializations in a row whose write failed (reset by any base). */
  #materializationsLost = 0;
  /** A materialized base taken into the chain that no checkpoint has extended yet. */
  #unextended: readonly SharedStateRef[] | undefined;
  #closed = false;

  constructor(o: { materializes?: boolean; drop?: DropFiles } = {}) {
    this.#materializes = o.materializes ?? false;
    this.#drop = o.drop ?? (() => {});
  }

  /** Starts snapshot `checkpointId`: a base, or a changelog extending the chain. */
  begin(checkpointId: number): NativeStart {
    this.#newestBegun = Math.max(this.#newestBegun, checkpointId);
    const long = this.#materializes ? needsBase(this.#chain, OVERDUE_FACTOR) || this.#materializationsLost >= MATERIALIZATIONS_LOST_MAX : needsBase(this.#chain);
    const base = this.#forceBase || this.#inFlight > 0 || long;
    this.#inFlight++;
    const started = ++this.#started;
    const previous = base ? undefined : this.#chain;
    if (!base) this.#unextended = undefined;
    let open = true;
    const settle = () => {
      if (open) this.#inFlight--;
      open = false;
    };
    return {
      previous,
      onResult: (chain) => {
        settle();
        if (checkpointId <= this.#chainCheckpointId) return;
        this.#chainCheckpointId = checkpointId;
        if (base) {
          this.#chain = chain;
          this.#starts = chain.files.map(() => started);
          this.#materializationsLost = 0;
          this.#dropUnextended();
          if (started > this.#forcedAfter) this.#forceBase = false;
          return;
        }
        // Onto the chain as it is now: the one it extended, or that chain rebased since.
        const files = chain.files.slice(previous!.files.length);
        const shared = chain.shared.slice(previous!.shared.length);
        this.#chain = { files: [...this.#chain!.files, ...files], shared: [...this.#chain!.shared, ...shared] };
        this.#starts = [...this.#starts, ...files.map(() => started)];
      },
      onAbort: () => {
        settle();
        this.#forceBase = true;
        this.#forcedAfter = Math.max(this.#forcedAfter, started);
      },
    };
  }

  /**
   * Starts a materialization when one is due: none runs, none is in flight (every changelog
   * begun later takes what changed after its point), the chain wants a base, and the next
   * checkpoint would not write one anyway. Undefined otherwise.
   */
  beginMaterialization(): MaterializationStart | undefined {
    if (!this.#materializes || this.#closed || this.#materializing !== undefined || this.#inFlight > 0 || this.#forceBase || !this.#chain || !needsBase(this.#chain)) return undefined;
    const started = ++this.#started;
    this.#materializing = started;
    let fileId: number | undefined;
    let open = true;
    const end = (failed: boolean) => {
      if (!open) return;
      open = false;
      this.#materializing = undefined;
      if (failed) this.#materializationsLost++;
    };
    return {
      fileId: () => (fileId ??= this.#newestBegun + SHARED_FILE_IDS_AHEAD),
      onResult: (chain) => {
        if (!open) return false;
        // A checkpoint above its id that began before now may complete without referring to it.
        const safe = !this.#closed && fileId !== undefined && this.#newestBegun <= fileId && !this.#forceBase && this.#chain !== undefined && this.#starts[0] < started;
        if (!safe) {
          // Its upload outlasted a checkpoint interval (or the state moved on): no failure of its own.
          end(false);
          return false;
        }
        open = false;
        this.#materializing = undefined;
        this.#materializationsLost = 0;
        this.#rebase(chain, started);
        return true;
      },
      onAbort: end,
    };
  }

  /** The chain becomes `base` (a materialization's two files) and the changelogs begun after its point. */
  #rebase(base: NativeChain, started: number): void {
    const chain = this.#chain!;
    let file = 0;
    let ref = 0;
    while (file < chain.files.length && this.#starts[file] < started) ref += chain.files[file++].parts;
    this.#dropUnextended();
    this.#chain = { files: [...base.files, ...chain.files.slice(file)], shared: [...base.shared, ...chain.shared.slice(ref)] };
    this.#starts = [...base.files.map(() => started), ...this.#starts.slice(file)];
    this.#unextended = base.shared;
  }

  /** Deletes the materialized base no checkpoint extended, which none ever will. */
  #dropUnextended(): void {
    const refs = this.#unextended;
    this.#unextended = undefined;
    if (refs) this.#drop(refs);
  }

  /** State was restored (the working file changed): the next snapshot is a base. */
  restored(): void {
    this.#forceBase = true;
    this.#forcedAfter = this.#started;
  }

  /**
   * The backend is closed: a materialization that finishes later is not taken in, and a
   * materialized base no checkpoint extended goes (the job's last sweep spares files named
   * for ids it did not reach).
   */
  close(): void {
    this.#closed = true;
    this.#dropUnextended();
  }
}
