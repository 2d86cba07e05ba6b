/**
 * A SQLite backend's states driven beside a model of them, for tests that compare a
 * restore (or the running backend) with what was written.
 * @module
 */
import type { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";

/** What a key holds in the model of {@link ModelState}. */
interface KeyModel {
  v?: string;
  l?: number[];
  m?: Map<string, number>;
  r?: number;
}

/**
 * A backend's value, list, map and reducing states driven beside a model of them. Keys are
 * numbers, strings and objects by turns; the reducing state changes its accumulator in place.
 */
export class ModelState {
  readonly #model = new Map<number, KeyModel>();
  constructor(readonly b: SqliteKeyedStateBackend) {}

  #key(i: number): unknown {
    return i % 3 === 0 ? { id: i } : i % 3 === 1 ? `k${i}` : i;
  }

  #at(i: number): KeyModel {
    this.b.setCurrentKey(this.#key(i));
    let m = this.#model.get(i);
    if (m === undefined) this.#model.set(i, (m = {}));
    return m;
  }

  #reducing() {
    return this.b.reducingState<{ n: number }>("r", (acc, v) => {
      acc.n += v.n;
      return acc;
    });
  }

  update(i: number, v: string): this {
    this.#at(i).v = v;
    this.b.valueState<string>("v").update(v);
    return this;
  }

  add(i: number, x: number): this {
    const m = this.#at(i);
    m.l = [...(m.l ?? []), x];
    this.b.listState<number>("l").add(x);
    return this;
  }

  put(i: number, mk: string, x: number): this {
    const m = this.#at(i);
    (m.m ??= new Map()).set(mk, x);
    this.b.mapState<string, number>("m").put(mk, x);
    return this;
  }

  reduce(i: number, x: number): this {
    const m = this.#at(i);
    m.r = (m.r ?? 0) + x;
    this.#reducing().add({ n: x });
    return this;
  }

  /** Clears every state of key `i`. */
  remove(i: number): this {
    this.#at(i);
    this.#model.set(i, {});
    this.b.valueState<string>("v").clear();
    this.b.listState<number>("l").clear();
    this.b.mapState<string, number>("m").clear();
    this.#reducing().clear();
    return this;
  }

  /** The model's state of key `i`, as one line. */
  expectedKey(i: number): string {
    const m = this.#model.get(i) ?? {};
    return JSON.stringify([i, m.v ?? null, m.l ?? [], [...(m.m ?? new Map()).entries()], m.r ?? null]);
  }

  /** The backend's state of key `i`, as expectedKey() writes it. */
  actualKey(i: number): string {
    this.b.setCurrentKey(this.#key(i));
    const b = this.b;
    return JSON.stringify([i, b.valueState<string>("v").value() ?? null, b.listState<number>("l").get(), b.mapState<string, number>("m").entries(), this.#reducing().get()?.n ?? null]);
  }

  /** The model's state of keys 0 to n - 1, one line per key. */
  expected(n: number): string[] {
    return Array.from({ length: n }, (_, i) => this.expectedKey(i));
  }

  /** The backend's state of keys 0 to n - 1, as expected() writes it. */
  actual(n: number): string[] {
    return Array.from({ length: n }, (_, i) => this.actualKey(i));
  }

  /** A copy of the model as it is now, driving `b` (a backend restored to this point). */
  copy(b: SqliteKeyedStateBackend): ModelState {
    const c = new ModelState(b);
    for (const [i, m] of this.#model) c.#model.set(i, { ...m, m: m.m && new Map(m.m) });
    return c;
  }
}
