/**
 * Side outputs (Flink's `OutputTag` and `ctx.output`): an operator emits records of another
 * type beside its main output. They travel in the operator's one output as
 * {@link SideRecord} envelopes, so they cross channels, checkpoints (unaligned channel state
 * included) and restarts exactly like main records; the stream of a tag unwraps them, and
 * the main output's consumers never see them.
 * @module
 */
import type { Batch } from "../actors/messages.ts";
import { registerType } from "../codec/type_registry.ts";
import { WeirError } from "../errors.ts";
import { StatelessOperator } from "./operators/base.ts";
import type { StreamOperator } from "./operator.ts";

/**
 * Names a side output and its record type (Flink's `OutputTag<T>`). Two tags with the same
 * name are the same output.
 *
 * @example
 * ```ts
 * import { OutputTag } from "../mod.ts";
 * const late = new OutputTag<number>("late");
 * console.assert(late.name === "late");
 * ```
 * @throws {WeirError} `invalid_option` when the name is not a non-empty string
 */
export class OutputTag<T> {
  readonly name: string;
  /** Only carries T for the type checker. */
  declare readonly __type?: T;
  constructor(name: string) {
    if (typeof name !== "string" || name.length === 0) {
      throw new WeirError("invalid_option", `OutputTag name must be a non-empty string, got ${JSON.stringify(name) ?? String(name)}`);
    }
    this.name = name;
  }
}

/** A record emitted to a side output, in the emitting operator's output. */
export class SideRecord {
  readonly tag: string;
  readonly value: unknown;
  constructor(tag: string, value: unknown) {
    this.tag = tag;
    this.value = value;
  }
}

registerType(SideRecord, {
  encode: (r) => [r.tag, r.value],
  decode: (d) => new SideRecord((d as [string, unknown])[0], (d as [string, unknown])[1]),
});

/**
 * The tag of a ctx.output call, checked.
 * @throws {WeirError} `invalid_option` naming the operator when it is not an OutputTag
 */
export function checkTag(tag: unknown, operator: string): OutputTag<unknown> {
  if (!(tag instanceof OutputTag)) throw new WeirError("invalid_option", `ctx.output in "${operator}" needs an OutputTag, got ${String(tag)}`);
  return tag;
}

/**
 * A consumer of operators' main outputs when side outputs of one of them are consumed
 * (known only when the job is built): side records are dropped before the operator sees them.
 */
export function mainOnly(create: () => StreamOperator): () => StreamOperator {
  return () => {
    const op = create();
    const inner = op.processBatch.bind(op);
    op.processBatch = (values: Batch) => inner(values.some((v) => v instanceof SideRecord) ? mainRecords(values) : values);
    return op;
  };
}

/** The records of a batch that are not side records, with their timestamps. */
function mainRecords(values: Batch): Batch {
  const out: Batch = [];
  const ts = values.timestamps;
  for (let i = 0; i < values.length; i++) {
    if (values[i] instanceof SideRecord) continue;
    out.push(values[i]);
    if (ts !== undefined) (out.timestamps ??= []).push(ts[i]);
  }
  return out;
}

/** A key selector that sends side records (dropped by the consumer) to a channel without calling the user's selector. */
export function skipSideRecords(sel: (value: unknown) => unknown): (value: unknown) => unknown {
  return (v) => (v instanceof SideRecord ? v.tag : sel(v));
}

/** getSideOutput(tag): passes on the values of one tag's side records, drops the rest. */
export class SideOutputOperator extends StatelessOperator {
  readonly #tag: string;
  constructor(tag: string) {
    super();
    this.#tag = tag;
  }
  processBatch(values: unknown[]): unknown[] {
    const out: unknown[] = [];
    for (const v of values) if (v instanceof SideRecord && v.tag === this.#tag) out.push(v.value);
    return out;
  }
}
