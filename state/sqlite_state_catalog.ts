/**
 * The states one sqlite backend declared or restored, by name: each one's state id in the
 * working file (`kv.s`), kind and TTL flag, kept in step with the store's codecs.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { StateKind } from "./keyed_state.ts";
import type { CanonicalState } from "./sqlite_canonical.ts";
import { stateCodec } from "./sqlite_forms.ts";
import type { NativeState } from "./sqlite_native_format.ts";
import type { SqliteStateStore } from "./sqlite_store.ts";

/** One declared (or restored) state. */
export interface StateInfo {
  sid: number;
  kind: StateKind;
  /** Values are stored with write times. */
  ttl: boolean;
  /** The TTL declared in this run (restored-only states have none yet). */
  declaredTtl: number | undefined;
  reducing: boolean;
  /** The view handed out for the current declaration, reused while it does not change. */
  view: unknown;
  viewTtl: number | undefined;
}

/** The states of one backend; declaring one tells the store how to encode its values. */
export class StateCatalog {
  readonly #store: SqliteStateStore;
  readonly #states = new Map<string, StateInfo>();
  #nextSid = 0;

  constructor(store: SqliteStateStore) {
    this.#store = store;
  }

  get size(): number {
    return this.#states.size;
  }

  /**
   * The state of a name, declared on first use.
   * @throws {WeirError} `state_kind_mismatch` when it is another kind
   */
  state(name: string, kind: StateKind, reducing = false): StateInfo {
    let s = this.#states.get(name);
    if (s === undefined) {
      s = { sid: this.#nextSid++, kind, ttl: false, declaredTtl: undefined, reducing, view: undefined, viewTtl: undefined };
      this.#states.set(name, s);
      this.#store.declare(s.sid, stateCodec(name, kind, false));
      return s;
    }
    if (s.kind !== kind || (s.reducing && !reducing)) {
      const known = s.reducing ? "reducing" : s.kind;
      throw new WeirError("state_kind_mismatch", `Keyed state "${name}" is a ${known} state; it cannot be used as a ${reducing ? "reducing" : kind} state`);
    }
    return s;
  }

  /** Sets whether a state's values are stored with write times. */
  setTtl(name: string, s: StateInfo, ttl: boolean): void {
    if (s.ttl === ttl) return;
    s.ttl = ttl;
    this.#store.declare(s.sid, stateCodec(name, s.kind, ttl));
  }

  /**
   * The state a restore fills, declared if new, with values stored with write times when
   * the restored ones were.
   * @throws {WeirError} `state_kind_mismatch`
   */
  restored(name: string, kind: StateKind, ttl: boolean): StateInfo {
    const s = this.state(name, kind);
    if (ttl) this.setTtl(name, s, true);
    return s;
  }

  /** Declares the states of a working file taken whole from a checkpoint, with their state ids. */
  declareRestored(states: NativeState[]): void {
    for (const [name, sid, kind, ttl] of states) {
      this.#states.set(name, { sid, kind, ttl, declaredTtl: undefined, reducing: false, view: undefined, viewTtl: undefined });
      this.#store.declare(sid, stateCodec(name, kind, ttl));
      this.#nextSid = Math.max(this.#nextSid, sid + 1);
    }
  }

  /** The states as a native checkpoint records them. */
  native(): NativeState[] {
    return [...this.#states].map(([name, s]): NativeState => [name, s.sid, s.kind, s.ttl]);
  }

  /** The states as a canonical snapshot writes them. */
  canonical(): CanonicalState[] {
    return [...this.#states].map(([name, s]) => ({ name, sid: s.sid, kind: s.kind, ttl: s.ttl, declaredTtl: s.declaredTtl }));
  }

  /** The TTL declared in this run (ms) by state id, for states stored with write times. */
  declaredTtls(): Map<number, number> {
    return new Map([...this.#states.values()].filter((s) => s.ttl && s.declaredTtl !== undefined).map((s) => [s.sid, s.declaredTtl!]));
  }
}
