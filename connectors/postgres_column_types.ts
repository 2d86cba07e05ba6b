/**
 * Checks of a record's values against the PostgreSQL types of the columns they go to, as
 * PostgresSink writes them: rows travel as JSON text through `json_populate_recordset`,
 * which parses each JSON value with its column type's input function at the commit. A
 * value that input function refuses fails the whole transaction on every retry, so the
 * sink refuses it as it is written instead, naming the column and its type.
 *
 * Only what PostgreSQL refuses for certain is refused (checked against PostgreSQL 15's
 * input functions): a number that is not an integer, or out of range, for an integer
 * column; a string longer than a `varchar(n)` or `char(n)`; a number too large for a
 * `numeric(p, s)`; a boolean or object for a date/time column, anything but a string for a
 * uuid, anything but a string or array for an array column; an object or array for a
 * number or boolean column. Strings are parsed by PostgreSQL's own rules, which
 * are broader than any check here, so a string is refused only where its form is plain
 * (an integer or boolean column). Other types (text, json, jsonb, enums, domains…) are not
 * checked.
 * @module
 */

/** Why a value cannot go into a column, or undefined when it may. */
export type ColumnCheck = (value: unknown) => string | undefined;

/** A column's type as pg_attribute and pg_type give it. */
export interface ColumnTypeInfo {
  /** pg_type.typname: `int4`, `varchar`… */
  typname: string;
  /** pg_type.typcategory: `A` for arrays. */
  category: string;
  /** pg_attribute.atttypmod: -1, or the length or precision modifier. */
  typmod: number;
  /** format_type(): `integer`, `character varying(3)`… named in errors. */
  formatted: string;
}

const INTEGER_RANGES: Record<string, [number, number]> = {
  int2: [-32768, 32767],
  int4: [-2147483648, 2147483647],
  // Past 2^53 a JavaScript number is not exact anyway; the bounds are int8's.
  int8: [-9223372036854775808, 9223372036854775807],
};
const TEMPORAL = new Set(["date", "time", "timetz", "timestamp", "timestamptz", "interval"]);
const FLOATS = new Set(["float4", "float8", "numeric", "money"]);
const BOOLEAN_WORDS = ["true", "false", "yes", "no", "on", "off", "1", "0"];

/**
 * The check of a column's values, or undefined for a type not checked.
 *
 * @example
 * ```ts
 * import { columnCheck } from "./postgres_column_types.ts";
 * const check = columnCheck({ typname: "int4", category: "N", typmod: -1, formatted: "integer" })!;
 * console.assert(check(12) === undefined && check(1.5) !== undefined);
 * const at = columnCheck({ typname: "timestamptz", category: "D", typmod: -1, formatted: "timestamp with time zone" })!;
 * console.assert(at(new Date(0)) === undefined && at(true) !== undefined);
 * ```
 */
export function columnCheck(t: ColumnTypeInfo): ColumnCheck | undefined {
  const check = checkOf(t);
  // What JSON writes is what the column reads: a Date as its ISO string, any toJSON() as it says.
  return check && ((v) => check(typeof (v as { toJSON?: unknown })?.toJSON === "function" ? (v as { toJSON(): unknown }).toJSON() : v));
}

function checkOf(t: ColumnTypeInfo): ColumnCheck | undefined {
  const range = INTEGER_RANGES[t.typname];
  if (range) return (v) => integerProblem(v, range, t.formatted);
  if (t.category === "A") return (v) => (Array.isArray(v) || typeof v === "string" ? undefined : `${shown(v)} is not an array (column type ${t.formatted})`);
  if (t.typname === "bool") return (v) => booleanProblem(v, t.formatted);
  if (t.typname === "varchar" || t.typname === "bpchar") return t.typmod >= 4 ? (v) => lengthProblem(v, t.typmod - 4, t.formatted) : undefined;
  if (FLOATS.has(t.typname)) {
    const limit = t.typname === "numeric" && t.typmod >= 4 ? numericLimit(t.typmod - 4) : undefined;
    return (v) => {
      if (typeof v === "boolean" || isComposite(v)) return `${shown(v)} is not a number (column type ${t.formatted})`;
      if (limit && typeof v === "number" && Math.abs(roundTo(v, limit.scale)) >= limit.bound) return `${v} does not fit (column type ${t.formatted}: less than 10^${limit.digits} in absolute value)`;
      return undefined;
    };
  }
  // PostgreSQL reads some numbers as dates and times (20240102, 123456 as 12:34:56, 5 as an interval).
  if (TEMPORAL.has(t.typname)) return (v) => (typeof v === "boolean" || isComposite(v) ? `${shown(v)} is not a ${t.formatted}` : undefined);
  if (t.typname === "uuid") return (v) => (typeof v === "string" ? undefined : `${shown(v)} is not a string PostgreSQL reads as ${t.formatted}`);
  return undefined;
}

function integerProblem(v: unknown, [min]: [number, number], type: string): string | undefined {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) return `${v} is not an integer (column type ${type})`;
    // max + 1 is -min exactly (2^15, 2^31, 2^63), where int8's max itself rounds to 2^63.
    if (v < min || v >= -min) return `${v} is out of range (column type ${type})`;
    // JSON writes an integer from 1e21 on in exponent form, which no integer column reads.
    if (Math.abs(v) >= 1e21) return `${v} is written as ${JSON.stringify(v)}, which ${type} does not read`;
    return undefined;
  }
  if (typeof v === "string") return /^\s*[+-]?(\d[\d_]*|0[xob][\da-f_]+)\s*$/i.test(v) ? undefined : `${shown(v)} is not an integer (column type ${type})`;
  return `${shown(v)} is not an integer (column type ${type})`;
}

function booleanProblem(v: unknown, type: string): string | undefined {
  if (typeof v === "boolean" || v === 0 || v === 1) return undefined;
  if (typeof v === "string") {
    const word = v.trim().toLowerCase();
    if (word.length > 0 && BOOLEAN_WORDS.some((w) => w.startsWith(word) && (word.length > 1 || word !== "o"))) return undefined;
  }
  return `${shown(v)} is not a boolean (column type ${type})`;
}

function lengthProblem(v: unknown, n: number, type: string): string | undefined {
  // Spaces past n at the end are dropped rather than refused (SQL's rule for both types).
  const text = (typeof v === "string" ? v : JSON.stringify(v)).replace(/ +$/, "");
  let chars = 0;
  for (const _ of text) if (++chars > n) return `${shown(v)} is longer than ${n} characters (column type ${type})`;
  return undefined;
}

/** numeric(p, s)'s typmod: values must round (at scale s) to less than 10^(p - s). */
function numericLimit(mod: number): { scale: number; digits: number; bound: number } {
  const precision = (mod >> 16) & 0xffff;
  const scale = ((mod & 0x7ff) ^ 1024) - 1024;
  const digits = precision - scale;
  return { scale, digits, bound: 10 ** digits };
}

/** Rounded at `scale` decimals, half away from zero as numeric does (Math.round rounds half up). */
function roundTo(v: number, scale: number): number {
  const f = 10 ** scale;
  return (Math.sign(v) * Math.round(Math.abs(v) * f)) / f;
}

function isComposite(v: unknown): boolean {
  return typeof v === "object" && v !== null;
}

function shown(v: unknown): string {
  const s = typeof v === "string" ? JSON.stringify(v) : isComposite(v) ? (Array.isArray(v) ? "an array" : "an object") : String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
