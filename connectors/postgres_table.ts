/**
 * What PostgresSink needs to know about the user's table before it writes: that it
 * exists, its columns, and a unique index for the upsert key; and its own bookkeeping
 * table of committed transaction ids.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { PostgresClient } from "./clients/postgres.ts";
import { type ColumnCheck, columnCheck } from "./postgres_column_types.ts";

/** The user's table as the sink sees it. */
export interface TableInfo {
  /** The quoted, schema-qualified name to splice into SQL. */
  quoted: string;
  columns: Set<string>;
  /** Columns a row must give a value: NOT NULL without a default, identity or generation. */
  required: string[];
  /** Per column whose type is checked (postgres_column_types.ts): why a value cannot go into it. */
  checks: Map<string, ColumnCheck>;
}

/** Quotes a possibly schema-qualified name (`name` or `schema.name`) as SQL identifiers. */
export function quoteName(name: string): string {
  return name.split(".").map(quoteIdent).join(".");
}

/** Quotes one SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Looks the table up; with `key`, checks that a unique index covers exactly those columns
 * (what `INSERT … ON CONFLICT (key)` needs).
 * @throws {WeirError} `sink_table_invalid` naming the table (and the key) and the server.
 */
export async function inspectTable(sql: PostgresClient, table: string, key: readonly string[] | undefined, server: string): Promise<TableInfo> {
  const quoted = quoteName(table);
  const [found] = await sql.query("select to_regclass($1)::oid as oid", [quoted]);
  if (!found?.oid) {
    throw new WeirError("sink_table_invalid", `PostgresSink table "${table}" does not exist on ${server} (the sink never creates tables: create it first)`);
  }
  const cols = await sql.query(
    "select attname, attnum, attnotnull and not atthasdef and attidentity = '' and attgenerated = '' as required, typname, typcategory, typtype, atttypmod, format_type(atttypid, atttypmod) as formatted from pg_attribute join pg_type on pg_type.oid = atttypid where attrelid = $1 and attnum > 0 and not attisdropped",
    [found.oid],
  );
  const columns = new Set<string>(cols.map((c) => c.attname as string));
  const required = cols.filter((c) => c.required === true).map((c) => c.attname as string);
  const checks = new Map<string, ColumnCheck>();
  for (const c of cols) {
    // A domain's own constraints are not known here: its values are not checked.
    const check = c.typtype === "d" ? undefined : columnCheck({ typname: String(c.typname), category: String(c.typcategory), typmod: Number(c.atttypmod), formatted: String(c.formatted) });
    if (check) checks.set(c.attname as string, check);
  }
  if (key) {
    const missing = key.filter((k) => !columns.has(k));
    if (missing.length > 0) throw new WeirError("sink_table_invalid", `PostgresSink key ${JSON.stringify(key)}: table "${table}" on ${server} has no column ${missing.map((m) => `"${m}"`).join(", ")}`);
    const nums = new Set(key.map((k) => Number(cols.find((c) => c.attname === k)!.attnum)));
    const indexes = await sql.query("select indkey::text as indkey from pg_index where indrelid = $1 and indisunique and indpred is null and indexprs is null", [found.oid]);
    const covered = indexes.some((i) => {
      const attnums = String(i.indkey).split(" ").map(Number);
      return attnums.length === nums.size && attnums.every((n) => nums.has(n));
    });
    if (!covered) {
      throw new WeirError("sink_table_invalid", `PostgresSink key ${JSON.stringify(key)} needs a unique index (or primary key) on exactly (${key.join(", ")}) of table "${table}" on ${server}`);
    }
  }
  return { quoted, columns, required, checks };
}

/**
 * Creates the sink's bookkeeping table if it is missing: one row per committed transaction,
 * written in the same database transaction as the rows it committed. Serialised by an
 * advisory lock, since concurrent `CREATE TABLE IF NOT EXISTS` may still collide.
 */
export async function ensureTransactionsTable(sql: PostgresClient, name: string): Promise<void> {
  const quoted = quoteName(name);
  const [exists] = await sql.query("select to_regclass($1)::oid as oid", [quoted]);
  if (exists?.oid) return;
  await sql.begin(async (tx) => {
    await tx.query("select pg_advisory_xact_lock(hashtext($1))", [quoted]);
    await tx.query(`create table if not exists ${quoted} (txn_id text primary key, table_name text not null, rows integer not null, committed_at timestamptz not null default now())`);
  });
}
