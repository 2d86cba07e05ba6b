import { describe as describeValue, invalidOption, WeirError } from "../errors.ts";
import { jsonUnfaithfulPart } from "../codec/json_values.ts";
import type { OperatorContext, OperatorSnapshot, RestoredState, Sink, SinkWriter } from "../dataflow/operator.ts";
import { checkPostgresUrl, connectPostgres, describePostgres, isConnectionError, type PostgresClient, postgresUnavailable } from "./clients/postgres.ts";
import { ensureTransactionsTable, inspectTable, quoteIdent, type TableInfo } from "./postgres_table.ts";
import { runOf, transactionId } from "./transaction_id.ts";

/** Options of a {@link PostgresSink}. */
export interface PostgresSinkOptions {
  /** `postgres://user[:password]@host[:port]/database`. */
  url: string;
  /** The table the rows go to (`name` or `schema.name`); it must exist. */
  table: string;
  /** Columns of a unique index: rows are upserted by them; without `key` rows are appended. */
  key?: string | string[];
  /** The sink's own table of committed transaction ids (default `weir_sink_transactions`, created if missing). */
  transactionsTable?: string;
}

const OPTION_KEYS = new Set(["url", "table", "key", "transactionsTable"]);
/** Rows per INSERT statement at most: one JSON parameter each, bounded so a statement stays small. */
const ROWS_PER_STATEMENT = 5000;
/**
 * A statement's JSON parameter is cut before it passes this many UTF-16 units (16 Mi):
 * 5000 rows of 110 KB made one string over V8's limit (~512 MiB, "Invalid string length")
 * on every retry. A row alone over it is a statement of its own.
 */
const STATEMENT_TEXT_MAX = 16 * 1024 * 1024;

/**
 * An exactly-once sink into a PostgreSQL table, on a stock server (no prepared
 * transactions needed: `max_prepared_transactions = 0` is fine). Each subtask keeps the
 * rows of a checkpoint in the checkpoint itself (its pre-commit), and when the checkpoint
 * completed it commits them in one database transaction together with the transaction's
 * id in `weir_sink_transactions`; an id already there means committed, so repeating a
 * commit after a restore changes nothing (Flink's JDBC exactly-once sink needs XA; this
 * is the idempotent-commit-table alternative). A record's own properties are its columns;
 * with `key` rows are upserted (`INSERT … ON CONFLICT (key) DO UPDATE`), else appended.
 * The table is never created; its columns and the key's unique index are checked at start.
 *
 * @throws {WeirError} `invalid_option` for a bad option (named); `connector_unavailable`
 *   naming the server when it cannot be reached; `sink_table_invalid` naming the table
 *   (and key) when it is missing or has no unique index on the key; `sink_record_invalid`
 *   for a record that is not an object or has a property the table has no column for.
 * @example
 * ```ts ignore
 * import { PostgresSink } from "../mod.ts";
 * // create table word_counts (word text primary key, count bigint not null);
 * const sink = new PostgresSink({ url: "postgres://postgres@127.0.0.1:5432/test", table: "word_counts", key: "word" });
 * ```
 */
export class PostgresSink<T extends object = Record<string, unknown>> implements Sink<T> {
  declare readonly __type?: T;
  readonly url: string;
  readonly table: string;
  readonly key: readonly string[] | undefined;
  readonly transactionsTable: string;
  readonly server: string;

  constructor(options: PostgresSinkOptions) {
    if (options === null || typeof options !== "object") throw invalidOption("PostgresSink options", options, "must be an object");
    for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) throw invalidOption(`PostgresSink.${k}`, (options as unknown as Record<string, unknown>)[k], "is not a PostgresSink option");
    this.server = describePostgres(checkPostgresUrl(options.url, "PostgresSink.url"));
    this.url = options.url;
    this.table = name("PostgresSink.table", options.table);
    const key = typeof options.key === "string" ? [options.key] : options.key;
    if (key !== undefined && (!Array.isArray(key) || key.length === 0 || key.some((k) => typeof k !== "string" || k.length === 0))) {
      throw invalidOption("PostgresSink.key", options.key, "must be a column name or a non-empty array of them");
    }
    this.key = key;
    this.transactionsTable = name("PostgresSink.transactionsTable", options.transactionsTable ?? "weir_sink_transactions");
  }

  createWriter(ctx: OperatorContext): SinkWriter {
    return new PostgresSinkWriter(this as PostgresSink, ctx);
  }
}

function name(option: string, value: unknown): string {
  if (typeof value !== "string" || !/^[^.\s"]+(\.[^.\s"]+)?$/.test(value)) throw invalidOption(option, value, 'must be a table name, "name" or "schema.name"');
  return value;
}

/** Rows of one subtask between two checkpoints, committed as one. */
interface Transaction {
  id: string;
  checkpointId: number;
  rows: Record<string, unknown>[];
}

class PostgresSinkWriter implements SinkWriter {
  readonly #sink: PostgresSink;
  readonly #ctx: OperatorContext;
  readonly #run: string;
  #sql: PostgresClient | undefined;
  #table!: TableInfo;
  #current: Record<string, unknown>[] = [];
  #pending: Transaction[] = [];

  constructor(sink: PostgresSink, ctx: OperatorContext) {
    this.#sink = sink;
    this.#ctx = ctx;
    this.#run = runOf(ctx);
  }

  async open(_ctx: OperatorContext, restored: RestoredState | undefined): Promise<void> {
    const s = this.#sink;
    this.#sql = await connectPostgres(s.url, { option: "PostgresSink.url" });
    try {
      this.#table = await inspectTable(this.#sql, s.table, s.key, s.server);
      await ensureTransactionsTable(this.#sql, s.transactionsTable);
    } catch (e) {
      throw this.#wrap(e);
    }
    const restoredTxns = (restored?.operator ?? []).map((t) => this.#checkTransaction(t));
    // A completed stop-with-savepoint restored by a new run: its commits happened.
    if (restored?.transactionsCommitted) return;
    for (const t of restoredTxns) await this.#commit(t);
  }

  write(values: unknown[]): void {
    const columns = this.#table.columns;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || typeof v !== "object" || Array.isArray(v)) {
        throw new WeirError("sink_record_invalid", `PostgresSink "${this.#ctx.uid}" needs records that are objects (properties = columns of "${this.#sink.table}"), got ${describeValue(v)}`);
      }
      for (const k in v) {
        if (!columns.has(k)) throw new WeirError("sink_record_invalid", `PostgresSink "${this.#ctx.uid}": table "${this.#sink.table}" has no column "${k}" (record ${describeValue(v).slice(0, 200)})`);
      }
      // Refused here, naming the record, rather than at the commit, which would fail the
      // whole transaction on every retry: what JSON would change (NaN to null), a key
      // column the upsert cannot match on, a NUL character no PostgreSQL text can hold, a
      // value its column's type does not read (postgres_column_types.ts).
      const unfaithful = jsonUnfaithfulPart(v) ?? this.#unwritable(v as Record<string, unknown>);
      if (unfaithful) throw new WeirError("sink_record_invalid", `PostgresSink "${this.#ctx.uid}" cannot write record ${describeValue(v).slice(0, 200)} to table "${this.#sink.table}": ${unfaithful}`);
      this.#current.push(v as Record<string, unknown>);
    }
  }

  /** Why PostgreSQL would refuse record `r` at the commit, if it is plain to see now. */
  #unwritable(r: Record<string, unknown>): string | undefined {
    for (const c of this.#sink.key ?? []) {
      if (r[c] === undefined || r[c] === null) return `it has no value for key column "${c}"`;
    }
    for (const c of this.#table.required) {
      if (r[c] === undefined || r[c] === null) return `it has no value for column "${c}", which is NOT NULL without a default`;
    }
    if (JSON.stringify(r).includes("\\u0000")) return "it holds a NUL character (\\u0000), which PostgreSQL text cannot store";
    for (const [c, check] of this.#table.checks) {
      const v = r[c];
      const why = v === undefined || v === null ? undefined : check(v);
      if (why) return `column "${c}": ${why}`;
    }
    return undefined;
  }

  snapshotState(checkpointId: number): OperatorSnapshot {
    if (this.#current.length > 0) {
      this.#pending.push({ id: transactionId(this.#ctx, checkpointId, this.#run), checkpointId, rows: this.#current });
      this.#current = [];
    }
    return { operator: this.#pending.map((t) => ({ ...t })) };
  }

  async notifyCheckpointComplete(checkpointId: number): Promise<void> {
    while (this.#pending.length > 0 && this.#pending[0].checkpointId <= checkpointId) {
      await this.#commit(this.#pending[0]);
      this.#pending.shift();
    }
  }

  /** An aborted checkpoint's rows stay pending: the next completed checkpoint commits them. */
  notifyCheckpointAborted(_checkpointId: number): void {}

  close(): void {
    this.#sql?.end();
    this.#sql = undefined;
  }

  /** Commits one transaction: its id and its rows in one database transaction, or nothing. */
  async #commit(t: Transaction): Promise<void> {
    const s = this.#sink;
    const txTable = this.#quoted(s.transactionsTable);
    try {
      await this.#sql!.begin(async (tx) => {
        const claimed = await tx.query(`insert into ${txTable} (txn_id, table_name, rows) values ($1, $2, $3) on conflict (txn_id) do nothing returning txn_id`, [t.id, s.table, t.rows.length]);
        if (claimed.length === 0) return; // Committed before: a repeated commit is a no-op.
        for (const [columns, rows] of this.#groups(t.rows)) {
          for (const json of statementParameters(rows)) await tx.query(this.#insertSql(columns), [json]);
        }
      });
    } catch (e) {
      throw this.#wrap(e, t.id);
    }
  }

  /**
   * Rows grouped by their set of columns. An upsert writes one row per key: the key's rows
   * merged in order, each later one's columns over the earlier ones', which is what upserting
   * them one by one leaves (a column a later row lacks keeps the earlier row's value), so the
   * table does not depend on where checkpoints fall.
   */
  #groups(rows: Record<string, unknown>[]): Map<string[], Record<string, unknown>[]> {
    const key = this.#sink.key;
    let list = rows;
    if (key) {
      const merged = new Map<string, Record<string, unknown>>();
      for (const r of rows) {
        const k = JSON.stringify(key.map((c) => r[c] ?? null));
        const before = merged.get(k);
        if (before === undefined) {
          merged.set(k, r);
          continue;
        }
        const row = { ...before };
        for (const c of Object.keys(r)) if (r[c] !== undefined) row[c] = r[c];
        merged.delete(k);
        merged.set(k, row);
      }
      list = [...merged.values()];
    }
    const bySignature = new Map<string, [string[], Record<string, unknown>[]]>();
    for (const r of list) {
      const cols = Object.keys(r).filter((c) => r[c] !== undefined).sort();
      const sig = cols.join("\u0000");
      let g = bySignature.get(sig);
      if (!g) bySignature.set(sig, (g = [cols, []]));
      g[1].push(r);
    }
    return new Map(bySignature.values());
  }

  #insertSql(columns: string[]): string {
    const t = this.#table.quoted;
    const cols = columns.map(quoteIdent).join(", ");
    let q = `insert into ${t} (${cols}) select ${cols} from json_populate_recordset(null::${t}, $1::text::json)`;
    const key = this.#sink.key;
    if (key) {
      const updates = columns.filter((c) => !key.includes(c)).map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`);
      q += ` on conflict (${key.map(quoteIdent).join(", ")}) do ${updates.length > 0 ? `update set ${updates.join(", ")}` : "nothing"}`;
    }
    return q;
  }

  #quoted(n: string): string {
    return n.split(".").map(quoteIdent).join(".");
  }

  #wrap(e: unknown, txn?: string): unknown {
    if (e instanceof WeirError) return e;
    if (isConnectionError(e)) return postgresUnavailable(this.#sink.url, e);
    const why = e instanceof Error ? e.message : String(e);
    return new WeirError("sink_write_failed", `PostgresSink "${this.#ctx.uid}" could not ${txn ? `commit transaction ${txn} into` : "prepare"} table "${this.#sink.table}" on ${this.#sink.server}: ${why}`, { cause: e });
  }

  #checkTransaction(t: unknown): Transaction {
    const x = t as Transaction;
    if (!x || typeof x.id !== "string" || !Number.isInteger(x.checkpointId) || !Array.isArray(x.rows)) {
      throw new WeirError("checkpoint_corrupt", `PostgresSink "${this.#ctx.uid}" cannot restore transaction ${describeValue(t).slice(0, 120)}`);
    }
    return x;
  }
}

/**
 * Rows as the JSON array parameters of the statements that insert them: at most
 * ROWS_PER_STATEMENT rows and STATEMENT_TEXT_MAX units of text each (one row alone may be more).
 */
export function* statementParameters(rows: readonly Record<string, unknown>[], rowsMax = ROWS_PER_STATEMENT, textMax = STATEMENT_TEXT_MAX): Generator<string> {
  let parts: string[] = [];
  let length = 0;
  for (const row of rows) {
    const json = JSON.stringify(row);
    if (parts.length > 0 && (parts.length >= rowsMax || length + json.length + 1 > textMax)) {
      yield `[${parts.join(",")}]`;
      parts = [];
      length = 0;
    }
    parts.push(json);
    length += json.length + 1;
  }
  if (parts.length > 0) yield `[${parts.join(",")}]`;
}
