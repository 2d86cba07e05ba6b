import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { MemoryStorage, PostgresSink, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { statementParameters } from "../../connectors/postgres_sink.ts";
import { FailOnce } from "../helpers.ts";
import { countingJobInto, runSinkExactlyOnceConformance, runSinkOutageConformance, runSinkTransactionConformance, type Row, type SinkHarness } from "./sink_conformance.ts";
import { POSTGRES_URL, uniqueName } from "./servers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

const admin = postgres(POSTGRES_URL, { max: 2, onnotice: () => {} });
after(() => admin.end({ timeout: 1 }));

async function table(columns = `"key" integer not null, "count" integer not null`): Promise<string> {
  const name = uniqueName("weir_pg").toLowerCase();
  await admin.unsafe(`create table ${name} (${columns})`);
  return name;
}

async function targetAt(url: string) {
  const name = await table();
  return {
    sink: new PostgresSink<Row>({ url, table: name }),
    committed: async () => (await admin.unsafe(`select "key", "count" from ${name}`)).map((r) => ({ key: r.key as number, count: r.count as number })),
    spec: { kind: "postgres", url, table: name },
    cleanup: async () => void await admin.unsafe(`drop table ${name}`),
  };
}

const harness = (key?: string): SinkHarness => ({
  name: key ? "PostgresSink (upsert)" : "PostgresSink",
  server: { port: 5432, targetVia: (port) => targetAt(POSTGRES_URL.replace(":5432/", `:${port}/`)) },
  async target() {
    const name = await table();
    return {
      sink: new PostgresSink<Row>({ url: POSTGRES_URL, table: name }),
      committed: async () => (await admin.unsafe(`select "key", "count" from ${name}`)).map((r) => ({ key: r.key, count: r.count })),
      spec: { kind: "postgres", url: POSTGRES_URL, table: name },
      cleanup: async () => void await admin.unsafe(`drop table ${name}`),
    };
  },
});

runSinkTransactionConformance(harness());
runSinkExactlyOnceConformance(harness());
runSinkOutageConformance(harness());

describe("PostgresSink", () => {
  test("works on a stock server: max_prepared_transactions is 0 here", async () => {
    const [row] = await admin`show max_prepared_transactions`;
    assert.equal(row.max_prepared_transactions, "0");
  });

  test("with key, rows are upserted: one row per key with its final count, through a failure", async () => {
    const name = await table(`"key" integer primary key, "count" integer not null, note text default 'x'`);
    const fail = new FailOnce((x) => x === 2500);
    const env = countingJobInto(new PostgresSink<Row>({ url: POSTGRES_URL, table: name, key: "key" }), { n: 4000, failInMap: fail, ratePerSecond: 16_000, checkpoint: { interval: 15 } });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "finished", String(result.error));
    assert.ok(fail.fired);
    const rows = await admin.unsafe(`select "key", "count", note from ${name} order by "key"`);
    assert.deepEqual(rows.map((r) => [r.key, r.count, r.note]), Array.from({ length: 7 }, (_, k) => [k, Math.floor(4000 / 7) + (k < 4000 % 7 ? 1 : 0), "x"]));
    await admin.unsafe(`drop table ${name}`);
  });

  test("a transaction's rows go into statements cut by rows and by text, so that no parameter outgrows a string (5000 rows of 110 KB did, on every retry)", async () => {
    const rows = Array.from({ length: 7 }, (_, i) => ({ id: i, note: "y".repeat(i === 3 ? 50 : 10) }));
    const cut = [...statementParameters(rows, 3, 60)];
    assert.deepEqual(cut.flatMap((json) => JSON.parse(json)), rows, "every row once, in order");
    assert.ok(cut.every((json) => JSON.parse(json).length <= 3), "at most 3 rows a statement");
    assert.ok(cut.every((json) => json.length <= 62 || JSON.parse(json).length === 1), "over the text bound only alone");
    assert.deepEqual([...statementParameters([])], []);
    // Through the server: 40 rows of 1 MB, more than one statement's text.
    const name = await table(`"id" integer primary key, "note" text not null`);
    const env = new StreamEnvironment({ jobName: "pg-wide", storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, 40), { uid: "n" }).map((i) => ({ id: i, note: "z".repeat(1_000_000) }), { uid: "rec" })
      .sinkTo(new PostgresSink({ url: POSTGRES_URL, table: name }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "finished", String(result.error));
    const [{ n, total }] = await admin.unsafe(`select count(*)::int as n, sum(length(note))::bigint as total from ${name}`);
    assert.deepEqual([n, Number(total)], [40, 40_000_000]);
    await admin.unsafe(`drop table ${name}`);
  });

  test("bad options are refused before anything runs, naming the option", () => {
    for (const [options, option] of [
      [{ url: "http://x", table: "t" }, "PostgresSink.url"],
      [{ url: POSTGRES_URL, table: "a b" }, "PostgresSink.table"],
      [{ url: POSTGRES_URL, table: "t", key: [] }, "PostgresSink.key"],
      [{ url: POSTGRES_URL, table: "t", upsert: true }, "PostgresSink.upsert"],
    ] as const) {
      assert.throws(() => new PostgresSink(options as never), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && e.message.includes(option), option);
    }
  });

  test("with key, rows of one key within a checkpoint leave what upserting them one by one leaves: a column a later row lacks keeps its value", async () => {
    const name = await table(`"id" integer primary key, a integer, b integer, c text`);
    const { MemoryStorage, SequenceSource, StreamEnvironment } = await import("../../mod.ts");
    const records = [{ id: 1, a: 1, b: 1, c: "first" }, { id: 2, a: 5 }, { id: 1, a: 2 }, { id: 1, c: null }, { id: 2, b: 6, a: undefined }];
    // No checkpoint but the final one: every record in one transaction.
    const env = new StreamEnvironment({ jobName: "pg-merge", storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, records.length), { uid: "n" }).map((i) => records[i], { uid: "rec" }).sinkTo(new PostgresSink({ url: POSTGRES_URL, table: name, key: "id" }), { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "finished", String(result.error));
    const rows = await admin.unsafe(`select id, a, b, c from ${name} order by id`);
    assert.deepEqual(rows.map((r) => [r.id, r.a, r.b, r.c]), [[1, 2, 1, null], [2, 5, 6, null]]);
    await admin.unsafe(`drop table ${name}`);
  });

  async function failure(sink: PostgresSink, records: unknown[] = [{ key: 1, count: 1 }]) {
    const { MemoryStorage, StreamEnvironment } = await import("../../mod.ts");
    const { SequenceSource } = await import("../../mod.ts");
    const env = new StreamEnvironment({ jobName: "pg-bad", storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, records.length), { uid: "n" }).map((i) => records[i], { uid: "rec" }).sinkTo(sink, { uid: "out" });
    const result = await (await env.execute()).done;
    assert.equal(result.status, "failed");
    return result.error as WeirError;
  }

  test("a record JSON would change (NaN for a double column: stored as NULL) is refused as it is written, naming it", async () => {
    const name = await table(`"key" integer not null, d double precision`);
    const e = await failure(new PostgresSink({ url: POSTGRES_URL, table: name }), [{ key: 1, d: 0.5 }, { key: 2, d: NaN }]);
    assert.match(e.message, /record\.d is NaN, which JSON writes as null/);
    assert.equal((await admin.unsafe(`select count(*)::int as n from ${name}`))[0].n, 0);
    await admin.unsafe(`drop table ${name}`);
  });

  test("a record without a value for an upsert's key, or with a NUL character, is refused as it is written, not at a commit that would fail on every retry", async () => {
    const name = await table(`"key" integer primary key, s text`);
    const noKey = await failure(new PostgresSink({ url: POSTGRES_URL, table: name, key: "key" }), [{ key: 1, s: "a" }, { s: "b" }]);
    assert.match(noKey.message, /no value for key column "key"/);
    const nul = await failure(new PostgresSink({ url: POSTGRES_URL, table: name }), [{ key: 1, s: "a\u0000b" }]);
    assert.match(nul.message, /NUL character/);
    // NOT NULL without a default: a row must give it (a column with a default or identity need not).
    await admin.unsafe(`alter table ${name} add column n integer not null default 0, add column m integer, add column req integer`);
    await admin.unsafe(`update ${name} set req = 0`);
    await admin.unsafe(`alter table ${name} alter column req set not null`);
    const missing = await failure(new PostgresSink({ url: POSTGRES_URL, table: name }), [{ key: 1, s: "a", req: 1 }, { key: 2, s: "b" }]);
    assert.match(missing.message, /no value for column "req", which is NOT NULL without a default/);
    assert.equal((await admin.unsafe(`select count(*)::int as n from ${name}`))[0].n, 0);
    await admin.unsafe(`drop table ${name}`);
  });

  test("a value its column's type does not read is refused as it is written, naming the column and type; what the type reads is written", async () => {
    const name = await table(`"key" integer primary key, n smallint, code varchar(3), at timestamptz`);
    const bad = await failure(new PostgresSink({ url: POSTGRES_URL, table: name }), [{ key: 1, n: 1, code: "abc" }, { key: 2, n: 1.5 }]);
    assert.match(bad.message, /column "n": 1\.5 is not an integer \(column type smallint\)/);
    const long = await failure(new PostgresSink({ url: POSTGRES_URL, table: name }), [{ key: 3, code: "abcd" }]);
    assert.match(long.message, /column "code": "abcd" is longer than 3 characters \(column type character varying\(3\)\)/);
    assert.equal((await admin.unsafe(`select count(*)::int as n from ${name}`))[0].n, 0);
    const { MemoryStorage, StreamEnvironment, SequenceSource } = await import("../../mod.ts");
    const env = new StreamEnvironment({ jobName: "pg-types", storage: new MemoryStorage(), restart: { strategy: "none" } });
    const rows = [{ key: 1, n: "12", code: "ab  ", at: new Date(Date.UTC(2024, 0, 2)) }];
    env.fromSource(new SequenceSource(0, rows.length), { uid: "n" }).map((i) => rows[i], { uid: "rec" }).sinkTo(new PostgresSink({ url: POSTGRES_URL, table: name }), { uid: "out" });
    assert.equal((await (await env.execute()).done).status, "finished");
    const [row] = await admin.unsafe(`select n, code, at from ${name}`);
    assert.deepEqual([row.n, row.code, (row.at as Date).toISOString()], [12, "ab ", "2024-01-02T00:00:00.000Z"]);
    await admin.unsafe(`drop table ${name}`);
  });

  test("a missing table, or a key without a unique index, fails the job at start naming table and key", async () => {
    const missing = uniqueName("weir_pg_missing").toLowerCase();
    let e = await failure(new PostgresSink({ url: POSTGRES_URL, table: missing }));
    assert.equal(e.code, "sink_table_invalid");
    assert.match(e.message, new RegExp(`"${missing}" does not exist`));
    const name = await table();
    e = await failure(new PostgresSink({ url: POSTGRES_URL, table: name, key: ["key"] }));
    assert.equal(e.code, "sink_table_invalid");
    assert.ok(e.message.includes(`"${name}"`) && e.message.includes('["key"]'), e.message);
    const [{ n }] = await admin`select count(*)::int as n from information_schema.tables where table_name = ${missing}`;
    assert.equal(n, 0, "the sink never creates the user's table");
    await admin.unsafe(`drop table ${name}`);
  });

  test("a record with a property the table has no column for fails the job naming it", async () => {
    const name = await table();
    const failed = await failure(new PostgresSink({ url: POSTGRES_URL, table: name }), [{ key: 1, count: 2, colour: "red" }]);
    // The sink's error, as the cause of the operator failure that names the sink.
    assert.equal(failed.code, "operator_failed");
    const e = failed.cause as WeirError;
    assert.equal(e.code, "sink_record_invalid");
    assert.match(e.message, /no column "colour"/);
    await admin.unsafe(`drop table ${name}`);
  });

  test("a server that is down: the job fails with an error naming it", async () => {
    // A loopback port nothing listens on (the proxy's, once closed).
    const proxy = new TcpProxy(5432);
    await proxy.start();
    await proxy.close();
    const url = `postgres://postgres@127.0.0.1:${proxy.port}/test`;
    const e = await failure(new PostgresSink({ url, table: "whatever" }));
    assert.equal(e.code, "connector_unavailable");
    assert.ok(e.message.includes(`postgres://127.0.0.1:${proxy.port}/test`), e.message);
  });
});
