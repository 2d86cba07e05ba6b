/**
 * The SQLite keyed state backend (issue 10 item 3) at 100 K and 1 M keys (5 M with
 * `--keys`): a rolling count per key, as in bench/state.ts's heap rows. Per size: update
 * rate, a native base checkpoint and changelogs after 1 % and 10 % of keys changed (time
 * and bytes written), and restore time from the native checkpoint (base + changelog), from
 * the longest chain (10 % of the keys changing per checkpoint until a new base is due) and
 * from canonical tables (a savepoint's, already decoded); then the restore of a savepoint
 * as a job does it (an operator snapshot's bytes read as checkpoint/restore.ts reads them,
 * key groups left encoded, then loaded), from a sqlite savepoint (keys in
 * order) and from a heap savepoint (keys in insertion order). Every restore of the sqlite
 * backend's own checkpoints runs after that backend was disposed, as a restarted job's does. Storage is MemoryStorage, so times are SQLite's
 * and weir's, not a disk's. `--heap-keys N` also runs tests/state/fixtures/many_keys.ts
 * (N keys × 200 B) in a child and reports its heap after full GCs.
 *
 *   bun bench/sqlite_state.ts [--keys 100000,1000000] [--heap-keys 5000000]
 *   deno run -A --v8-flags=--expose-gc bench/sqlite_state.ts
 * @module
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { MemoryStorage, type KeyedStateHandle, type KeyedStateSnapshot } from "../mod.ts";
import { encode } from "../codec/cbor.ts";
import { readOperatorSnapshot } from "../checkpoint/operator_snapshot_read.ts";
import type { KeyedStateBackendInit } from "../state/backend.ts";
import { HeapKeyedStateBackend } from "../state/heap_backend.ts";
import { type SqliteBackendOptions, SqliteKeyedStateBackend } from "../state/sqlite_backend.ts";
import type { IncrementalKeyedState } from "../state/backend.ts";
import { readLayout } from "../state/sqlite_native_restore.ts";
import { sqliteDriver } from "../platforms/sqlite.ts";
import { benchArgs } from "./args.ts";
import { bytes, nowMs, perSecond, runtimeName, table } from "./stats.ts";

const values = benchArgs("Usage: bun bench/sqlite_state.ts [--keys 100000,1000000] [--heap-keys 5000000]", {
  keys: { type: "string", default: "100000,1000000" },
  "heap-keys": { type: "string", default: "0" },
});
const sizes = values.keys.split(",").map(Number);
const heapKeys = Number(values["heap-keys"]);

async function finish(snap: KeyedStateSnapshot): Promise<KeyedStateHandle> {
  while (!(await snap.step(50_000)));
  const r = snap.result();
  snap.release();
  return r;
}

function sharedBytes(h: KeyedStateHandle, before?: KeyedStateHandle): number {
  if (h.format !== "incremental") return NaN;
  const known = new Set(before?.format === "incremental" ? before.shared.map((r) => r.key) : []);
  return h.shared.filter((r) => !known.has(r.key)).reduce((n, r) => n + r.size, 0);
}

interface Row {
  keys: number;
  updatesPerSecond: number;
  baseMs: number;
  baseBytes: number;
  log1Ms: number;
  log1Bytes: number;
  log10Ms: number;
  log10Bytes: number;
  restoreNativeMs: number;
  /** Restore from the longest chain (10 % of keys changing per checkpoint until a new base is due), and the records its changelogs hold. */
  restoreChainMs: number;
  chainRecords: number;
  restoreCanonicalMs: number;
  /** Decode of the savepoint's bytes + load, as a job restores: from sqlite's and from heap's savepoint. */
  restoreSqliteBytesMs: number;
  restoreHeapBytesMs: number;
}

/** Reads an encoded operator snapshot (a savepoint's state, as restore.ts does) and loads its tables into a new backend; ms. */
async function restoreFromBytes(encoded: Uint8Array, init: KeyedStateBackendInit, options: SqliteBackendOptions, keys: number): Promise<number> {
  const t = nowMs();
  const tables = readOperatorSnapshot(encoded, "the savepoint").keyed!;
  const r = new SqliteKeyedStateBackend(init, options);
  await r.restore([{ format: "canonical", tables }]);
  const ms = nowMs() - t;
  r.setCurrentKey(`key-${keys - 1}`);
  if (!(Number(r.reducingState<number>("count", (a, v) => a + v).get()) >= 1)) throw new Error("savepoint restore lost a key");
  r.dispose();
  return ms;
}

async function run(keys: number): Promise<Row> {
  const storage = new MemoryStorage();
  const init = { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: true, storage, uid: "count", subtaskIndex: 0, jobId: "bench" };
  const options = { driver: sqliteDriver, nativeCheckpoints: true };
  const b = new SqliteKeyedStateBackend(init, options);
  const count = b.reducingState<number>("count", (a, v) => a + v);
  let t = nowMs();
  for (let i = 0; i < keys; i++) count.addFor(`key-${i}`, 1);
  const updatesPerSecond = keys / ((nowMs() - t) / 1000);

  t = nowMs();
  const base = await finish(b.snapshot(1));
  const baseMs = nowMs() - t;
  const change = (fraction: number, round: number) => {
    const step = Math.round(1 / fraction);
    for (let i = round; i < keys; i += step) count.addFor(`key-${i}`, 1);
  };
  change(0.01, 1);
  t = nowMs();
  const log1 = await finish(b.snapshot(2));
  const log1Ms = nowMs() - t;
  change(0.1, 2);
  t = nowMs();
  const log10 = await finish(b.snapshot(3));
  const log10Ms = nowMs() - t;


  // The longest chain: 10 % of the keys change per checkpoint until the next one is a base.
  let longest = log10;
  for (let id = 10, round = 3; ; id++, round++) {
    change(0.1, round);
    const h = await finish(b.snapshot(id));
    if (readLayout(h as IncrementalKeyedState).files.length <= 2) break;
    longest = h;
  }
  const chainRecords = readLayout(longest as IncrementalKeyedState).files.slice(1).reduce((n, f) => n + f.rows, 0);
  const savepoint = await finish(b.snapshot(4, { savepoint: true }));
  // Restores as a restarted job's: the backend that wrote the checkpoints is gone (its
  // cache, and its writer thread, which otherwise shares the 2 cores with the restore).
  b.dispose();

  // Restore from the 1 % changelog's handle: base plus one changelog.
  t = nowMs();
  const r = new SqliteKeyedStateBackend(init, options);
  await r.restore([log1]);
  const restoreNativeMs = nowMs() - t;
  r.setCurrentKey("key-1");
  if (r.reducingState<number>("count", (a, v) => a + v).get() !== 2) throw new Error("native restore lost an update");
  r.dispose();

  t = nowMs();
  const chained = new SqliteKeyedStateBackend(init, options);
  await chained.restore([longest]);
  const restoreChainMs = nowMs() - t;
  chained.dispose();

  t = nowMs();
  const c = new SqliteKeyedStateBackend(init, options);
  await c.restore([savepoint]);
  const restoreCanonicalMs = nowMs() - t;
  c.dispose();
  if (savepoint.format !== "canonical") throw new Error("a savepoint is canonical");
  const restoreSqliteBytesMs = await restoreFromBytes(encode({ keyed: savepoint.tables }), init, options, keys);
  const heap = new HeapKeyedStateBackend(init);
  const heapCount = heap.reducingState<number>("count", (a, v) => a + v);
  for (let i = 0; i < keys; i++) heapCount.addFor(`key-${i}`, 1);
  const heapSavepoint = await finish(heap.snapshot(1, { savepoint: true }));
  if (heapSavepoint.format !== "canonical") throw new Error("a savepoint is canonical");
  const heapBytes = encode({ keyed: heapSavepoint.tables });
  const restoreHeapBytesMs = await restoreFromBytes(heapBytes, init, options, keys);
  return { keys, updatesPerSecond, baseMs, baseBytes: sharedBytes(base), log1Ms, log1Bytes: sharedBytes(log1, base), log10Ms, log10Bytes: sharedBytes(log10, log1), restoreNativeMs, restoreChainMs, chainRecords, restoreCanonicalMs, restoreSqliteBytesMs, restoreHeapBytesMs };
}

console.log(`SQLite keyed state, ${runtimeName()} (${sqliteDriver.name}), rolling count, one subtask`);
const rows: Row[] = [];
for (const keys of sizes) rows.push(await run(keys));
const ms = (x: number) => `${x.toFixed(0)} ms`;
console.log(table([
  ["keys", "updates/s", "base ckpt", "base bytes", "1% ckpt", "1% bytes", "10% ckpt", "10% bytes", "restore native", "restore longest chain", "restore savepoint"],
  ...rows.map((r) => [
    r.keys.toLocaleString("en"),
    perSecond(r.updatesPerSecond),
    ms(r.baseMs),
    bytes(r.baseBytes),
    ms(r.log1Ms),
    bytes(r.log1Bytes),
    ms(r.log10Ms),
    bytes(r.log10Bytes),
    ms(r.restoreNativeMs),
    `${ms(r.restoreChainMs)} (${perSecond(r.chainRecords)} records)`,
    ms(r.restoreCanonicalMs),
  ]),
]));

for (const r of rows) {
  console.log(`sqlite restore from savepoint, ${r.keys.toLocaleString("en")} keys (read + load, as a job): ${ms(r.restoreSqliteBytesMs)} from a sqlite savepoint, ${ms(r.restoreHeapBytesMs)} from a heap savepoint`);
}

if (heapKeys > 0) {
  const fixture = join(dirname(fileURLToPath(import.meta.url)), "..", "tests", "state", "fixtures", "many_keys.ts");
  const isDeno = "Deno" in globalThis;
  const cmd = isDeno ? ["run", "-A", "--no-check", "--v8-flags=--expose-gc", fixture, String(heapKeys)] : [fixture, String(heapKeys)];
  const t = nowMs();
  const child = spawnSync(process.execPath, cmd, { encoding: "utf8", maxBuffer: 1 << 24 });
  const last = child.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((l) => "keys" in l);
  console.log(`\n${heapKeys.toLocaleString("en")} keys × 200 B on sqlite: heap at most ${last?.maxHeapMb} MB after full GCs, ` +
    `${last?.mismatches} of ${last?.checked} read back wrong, writes ${last?.writeSeconds?.toFixed(1)} s, whole run ${((nowMs() - t) / 1000).toFixed(1)} s`);
}
