/**
 * Point reads on a subtask's SQLite connection while the background writer commits (issue
 * 10, the sqlite backend's steady gaps): a file of `--keys` rows as the backend lays them
 * out, read one random key at a time on this thread for `--seconds`, while the real
 * background writer (platforms/sqlite_writer.ts) commits a write group of 16 K rows after
 * every `--reads-per-group` reads, at most three groups in flight, as the write-back queue
 * sends them. Per way of reading: reads/s, reads over 2 and 5 ms, the longest, on Linux
 * the share of the time this thread ran and its time slices (/proc/thread-self/schedstat:
 * a thread that waits on a lock the writer's thread holds runs less and switches more),
 * the WAL's size at the end, and the time spent waiting for a fourth group's commit, which
 * reads/s and the share leave out. The ways: autocommit reads (each its own transaction), the
 * same through a memory map (PRAGMA mmap_size), one read transaction held until the writer
 * commits (state/sqlite_held_read.ts), both (what the backend does), and no writer at all.
 *
 *   bun bench/sqlite_reads.ts [--keys 1000000] [--seconds 10] [--reads-per-group 16384]
 *   deno run -A bench/sqlite_reads.ts
 * @module
 */
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { sqliteDriver } from "../platforms/sqlite.ts";
import { SimPrng } from "../sim/prng.ts";
import { hashKey } from "../state/key_group.ts";
import type { SqliteBackgroundWriter, SqliteDatabase } from "../state/sqlite_driver.ts";
import { HeldRead } from "../state/sqlite_held_read.ts";
import { keyBytes } from "../state/sqlite_keys.ts";
import { SCHEMA } from "../state/sqlite_store.ts";
import { WriteBatch } from "../state/sqlite_write_batch.ts";
import { benchArgs } from "./args.ts";
import { bytes, nowMs, perSecond, runtimeName, table } from "./stats.ts";

const values = benchArgs("Usage: bun bench/sqlite_reads.ts [--keys 1000000] [--seconds 10] [--reads-per-group 16384]", {
  keys: { type: "string", default: "1000000" },
  seconds: { type: "string", default: "10" },
  "reads-per-group": { type: "string", default: "16384" },
});
const keys = Number(values.keys);
const seconds = Number(values.seconds);
const readsPerGroup = Number(values["reads-per-group"]);
const KEY_GROUPS = 128;
const GROUP_ROWS = 16_384;
const IN_FLIGHT = 3;
const VALUE = new Uint8Array([0x1a, 0, 1, 0, 0]);

/** The thread's run time and time slices so far (Linux), or undefined. */
function schedstat(): { runMs: number; slices: number } | undefined {
  if (!existsSync("/proc/thread-self/schedstat")) return undefined;
  const [run, , slices] = readFileSync("/proc/thread-self/schedstat", "utf8").trim().split(" ").map(Number);
  return { runMs: run / 1e6, slices };
}

/** A file of `keys` rows, key k in its key group, state 0, as the backend writes them. */
function fill(path: string): void {
  const db = sqliteDriver.open(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;");
  db.exec(SCHEMA);
  const insert = db.prepare("INSERT INTO kv (kg, s, k, ok, v) VALUES (?, 0, ?, NULL, ?)");
  db.exec("BEGIN");
  for (let k = 0; k < keys; k++) insert.run(hashKey(k) % KEY_GROUPS, keyBytes(k), VALUE);
  db.exec("COMMIT");
  db.close();
}

interface Way {
  label: string;
  mmap: boolean;
  held: boolean;
  writer: boolean;
}

async function run(path: string, way: Way): Promise<string[]> {
  const db: SqliteDatabase = sqliteDriver.open(path);
  db.exec(`PRAGMA synchronous = OFF; PRAGMA cache_size = -65536; PRAGMA mmap_size = ${way.mmap ? 256 * 1024 * 1024 : 0};`);
  const select = db.prepare("SELECT ok, v FROM kv WHERE kg = ? AND s = ? AND k = ?");
  let writer: SqliteBackgroundWriter | undefined;
  if (way.writer) {
    writer = sqliteDriver.openWriter!(path, KEY_GROUPS);
    if (!(await writer.whenReady(10_000))) throw new Error("the background writer did not come up within 10 s");
  }
  const held = new HeldRead(db);
  const sent: number[] = [];
  const prng = new SimPrng("sqlite-reads");
  const next = () => prng.int(keys);
  let reads = 0;
  let over2 = 0;
  let over5 = 0;
  let longest = 0;
  /** ms spent waiting for the writer (more than IN_FLIGHT groups sent): not reading. */
  let waited = 0;
  const before = schedstat();
  const start = nowMs();
  const end = start + seconds * 1000;
  for (let t = start; t < end; ) {
    if (writer && reads > 0 && reads % readsPerGroup === 0) {
      held.end();
      const batch = new WriteBatch(GROUP_ROWS);
      for (let i = 0; i < GROUP_ROWS; i++) {
        const k = next();
        batch.put(hashKey(k) % KEY_GROUPS, 0, keyBytes(k), null, VALUE);
      }
      sent.push(writer.send([batch.bytes()]));
      if (sent.length > IN_FLIGHT) {
        const w0 = nowMs();
        writer.waitFor(sent.shift()!);
        waited += nowMs() - w0;
      }
    }
    const k = next();
    // As the backend does (SqliteStateStore.#readFile): no snapshot held while the writer works.
    if (way.held && writer) {
      if (writer.applying()) held.end();
      else held.holdAfter(writer.committed());
    }
    const t0 = nowMs();
    select.get(hashKey(k) % KEY_GROUPS, 0, keyBytes(k));
    t = nowMs();
    const ms = t - t0;
    reads++;
    if (ms > 2) over2++;
    if (ms > 5) over5++;
    if (ms > longest) longest = ms;
  }
  const wall = nowMs() - start;
  const reading = wall - waited;
  const after = schedstat();
  const walBytes = existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0;
  held.end();
  writer?.terminate();
  db.close();
  return [
    way.label,
    perSecond(reads / (reading / 1000)),
    String(over2),
    String(over5),
    `${longest.toFixed(1)} ms`,
    before && after ? `${((100 * (after.runMs - before.runMs)) / reading).toFixed(0)} %` : "-",
    before && after ? String(after.slices - before.slices) : "-",
    bytes(walBytes),
    `${(waited / 1000).toFixed(1)} s`,
  ];
}

const dir = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-bench-sqlite-reads-"));
const path = join(dir, "state.db");
fill(path);
const ways: Way[] = [
  { label: "autocommit reads", mmap: false, held: false, writer: true },
  { label: "memory map", mmap: true, held: false, writer: true },
  { label: "held read transaction", mmap: false, held: true, writer: true },
  { label: "memory map + held read transaction (the backend)", mmap: true, held: true, writer: true },
  { label: "no writer", mmap: false, held: false, writer: false },
];
const rows = [["reads", "reads/s", "> 2 ms", "> 5 ms", "longest", "thread ran", "time slices", "WAL at the end", "waited for the writer"]];
for (const way of ways) rows.push(await run(path, way));
sqliteDriver.removeFiles(path);
console.log(`${runtimeName()} (${sqliteDriver.name}), ${keys} keys, ${seconds} s each, a write group of ${GROUP_ROWS} rows every ${readsPerGroup} reads`);
console.log(table(rows));
