import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { columnCheck } from "../../connectors/postgres_column_types.ts";
import { POSTGRES_URL, uniqueName } from "./servers.ts";

const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
after(() => admin.end({ timeout: 1 }));

/** Column types and values; every value is tried against every column. */
const COLUMNS = ["int2", "int4", "int8", "numeric(5,2)", "float8", "boolean", "varchar(3)", "char(2)", "text", "uuid", "date", "timestamptz", "time", "interval", "int4[]", "jsonb"];
const VALUES: unknown[] = [
  0, 12, -7, 1.5, 40000, 3e9, 1e21, 2 ** 63, -(2 ** 63), 999.994, 999.996, -999.995, -1000, true, false, 1, 2, 20240102, 123456, 1200,
  "12", " 12 ", "abc", "", "yes", "of", "o", "t", "abcd", "ab  ", "a", "é€𝄞", "1.5",
  "2024-01-02", "2024-01-02T03:04:05Z", "d0b4c7a2-8f59-4c41-9f5e-2b7a6d1c3e4f",
  [1, 2], { a: 1 }, new Date(0),
];

describe("PostgresSink column type checks", () => {
  test("refuse only what PostgreSQL refuses, and refuse it for every type checked", async () => {
    const table = uniqueName("weir_pg_types").toLowerCase();
    const cols = COLUMNS.map((t, i) => `c${i} ${t}`).join(", ");
    await admin.unsafe(`create table ${table} (${cols})`);
    try {
      const types = await admin.unsafe(`select attname, typname, typcategory, atttypmod, format_type(atttypid, atttypmod) as formatted from pg_attribute join pg_type on pg_type.oid = atttypid where attrelid = $1::regclass and attnum > 0 order by attnum`, [table]);
      let refusedByBoth = 0;
      const wrong: string[] = [];
      for (const t of types) {
        const check = columnCheck({ typname: t.typname, category: t.typcategory, typmod: t.atttypmod, formatted: t.formatted });
        for (const v of VALUES) {
          const why = check?.(v);
          // The sink's path: JSON text through json_populate_recordset.
          const accepted = await admin.unsafe(`select ${t.attname} from json_populate_recordset(null::${table}, $1::text::json)`, [JSON.stringify([{ [t.attname]: v }])]).then(() => true, () => false);
          if (why !== undefined && accepted) wrong.push(`${t.formatted} ← ${JSON.stringify(v)} refused (${why}) though PostgreSQL reads it`);
          if (why !== undefined && !accepted) refusedByBoth++;
        }
      }
      assert.deepEqual(wrong, []);
      // Not a check that refuses nothing: integers, lengths, numeric precision, booleans, dates and arrays each refuse some.
      assert.ok(refusedByBoth >= 60, `only ${refusedByBoth} values refused`);
      for (const [type, bad] of [["int4", 1.5], ["int2", 40000], ["numeric(5,2)", 999.996], ["boolean", 2], ["varchar(3)", "abcd"], ["char(2)", "abc"], ["timestamptz", true], ["int4[]", 1], ["uuid", 5]] as const) {
        const t = types[COLUMNS.indexOf(type)];
        const check = columnCheck({ typname: t.typname, category: t.typcategory, typmod: t.atttypmod, formatted: t.formatted })!;
        assert.match(check(bad) ?? "", new RegExp(t.formatted.replace(/[()[\]]/g, "\\$&")), `${type} ← ${JSON.stringify(bad)}`);
      }
    } finally {
      await admin.unsafe(`drop table ${table}`);
    }
  });
});
