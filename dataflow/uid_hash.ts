/**
 * Generated uids for operators the user gave none, after Flink's `StreamGraphHasherV2`: a
 * hash of the operator's place in the graph — its kind, its code, how it reads each input
 * and the uids of those inputs (so, transitively, everything upstream of it) — never of a
 * running counter. Removing or adding an operator therefore changes the generated uids
 * downstream of it only, and an operator never inherits the uid (and the state) of another
 * that used to stand where it stands now.
 *
 * Unlike Flink, the operator's code (its functions' source text) is part of the hash: two
 * operators of the same kind at the same place differ only by it, and the issue's input
 * (remove the first of two keyed `process` operators) must not hand the first one's state
 * to the second. The price: changing a function's code changes its generated uid, so its
 * state is not restored (refused without `allowNonRestoredState`). Parallelism and chaining
 * are not part of the hash, so a rescaled restore keeps every generated uid. Give stateful
 * operators a `uid` (Flink's advice too); weir warns about those without one.
 * @module
 */
import { crc32c } from "../checkpoint/checksum.ts";
import type { InputPartitioning, Transformation } from "./transformation.ts";

/** Kinds that keep no state of their own: no warning when they have no uid. */
const STATELESS_KINDS = new Set(["map", "filter", "flatMap", "union", "sideOutput", "statelessProcess"]);

/** True when an operator of this kind keeps state (sources: positions; sinks: transactions). */
export function keepsState(kind: string): boolean {
  return !STATELESS_KINDS.has(kind);
}

/**
 * The text a generated uid hashes for user code: a function's source text, or the
 * function-valued members of an object (`{ processElement, onTimer }`), or a source's or
 * sink's class name.
 *
 * @example
 * ```ts
 * import { codeOf } from "./uid_hash.ts";
 * console.assert(codeOf((n: number) => n + 1).includes("n + 1"));
 * ```
 */
export function codeOf(code: unknown): string {
  if (typeof code === "function") return Function.prototype.toString.call(code);
  if (code !== null && typeof code === "object") {
    const proto = Object.getPrototypeOf(code);
    const cls = proto && proto !== Object.prototype ? `${proto.constructor?.name ?? "?"}:` : "";
    const members = Object.keys(code as object).sort().filter((k) => typeof (code as Record<string, unknown>)[k] === "function");
    return cls + members.map((k) => `${k}=${codeOf((code as Record<string, unknown>)[k])}`).join(";");
  }
  return String(code ?? "");
}

function partitioningText(p: InputPartitioning | undefined): string {
  if (p === undefined) return "default";
  if (typeof p === "string") return p;
  return `hash:${codeOf(p.keySelector)}`;
}

function hex64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  const salted = new Uint8Array(bytes.length + 1);
  salted.set(bytes, 1);
  salted[0] = 0x5a;
  const a = crc32c(bytes).toString(16).padStart(8, "0");
  const b = crc32c(salted).toString(16).padStart(8, "0");
  return a + b;
}

/**
 * Assigns generated uids while a graph is built: `<kind>-<16 hex digits>`. Two operators
 * at the same place with the same code (two equal maps of one stream) are told apart by
 * their order among such twins, the only position that enters the hash.
 */
export class UidHasher {
  readonly #twins = new Map<string, number>();

  /**
   * The generated uid of `t`, whose inputs already have their uids (`uidOf`).
   *
   * @example
   * ```ts
   * import { UidHasher } from "./uid_hash.ts";
   * const h = new UidHasher();
   * const uid = h.generate({ kind: "map", code: "(n) => n", inputs: [] }, () => "");
   * console.assert(/^map-[0-9a-f]{16}$/.test(uid));
   * ```
   */
  generate(
    t: { kind: string; code?: string; inputs: { id: number; partitioning: InputPartitioning | undefined }[] },
    uidOf: (id: number) => string,
  ): string {
    const inputs = t.inputs.map((i) => `${uidOf(i.id)}<${partitioningText(i.partitioning)}`).join("|");
    const local = `${t.kind}\u0000${t.code ?? ""}\u0000${inputs}`;
    const twin = this.#twins.get(local) ?? 0;
    this.#twins.set(local, twin + 1);
    return `${t.kind}-${hex64(`${local}\u0000${twin}`)}`;
  }
}

/** The inputs a transformation reads, for hashing. */
export function inputsOf(t: Pick<Transformation, "input" | "unionOf">): { id: number; partitioning: InputPartitioning | undefined }[] {
  return t.unionOf ?? (t.input ? [t.input] : []);
}

/** A uid of the generated form (`<kind>-<16 hex>`), for hints in errors. */
export function looksGenerated(uid: string): boolean {
  return /^[A-Za-z]+-[0-9a-f]{16}$/.test(uid);
}
