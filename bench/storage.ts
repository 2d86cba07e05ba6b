/**
 * Storage adapters side by side: the time to write one checkpoint of 10 MB of state and
 * to restore it, on memory, local files, SQLite and (under Deno) Deno KV.
 *
 * A checkpoint here has the shape the coordinator writes: one state file per subtask,
 * written concurrently, then `_metadata` last (the commit point); a restore reads
 * `_metadata`, lists the checkpoint's keys and reads every state file. Each adapter runs
 * one uncounted warm-up and `--runs` checkpoints (default 5) under fresh ids; the table
 * shows medians.
 *
 *   deno run -A bench/storage.ts [--mb 10] [--subtasks 8] [--runs 5]
 *   bun bench/storage.ts            (Deno KV is skipped: it exists only under Deno)
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DenoKvStorage, FileStorage, MemoryStorage, SqliteStorage, type StorageAdapter } from "../mod.ts";
import { benchArgs } from "./args.ts";
import { bytes, median, nowMs, runtimeName, table } from "./stats.ts";
import { printResultLine } from "./other_runtime.ts";

const values = benchArgs("Usage: deno run -A bench/storage.ts [--mb 10] [--subtasks 8] [--runs 5]", {
  mb: { type: "string", default: "10" },
  subtasks: { type: "string", default: "8" },
  runs: { type: "string", default: "5" },
});
const stateBytes = Math.round(Number(values.mb) * 1024 * 1024);
const subtasks = Number(values.subtasks);
const runs = Number(values.runs);
if (!(stateBytes > 0 && subtasks > 0 && runs > 0)) throw new Error(`Bad options: --mb ${values.mb} --subtasks ${values.subtasks} --runs ${values.runs}`);

/** State that does not compress away: a xorshift stream. */
function stateFile(sizeBytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(sizeBytes);
  let x = seed | 1;
  for (let i = 0; i < sizeBytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
    out[i + 1] = x >>> 8;
    out[i + 2] = x >>> 16;
    out[i + 3] = x >>> 24;
  }
  return out;
}

const files = Array.from({ length: subtasks }, (_, i) => stateFile(Math.ceil(stateBytes / subtasks), i + 1));
const metadata = new TextEncoder().encode(JSON.stringify({ files: files.map((f, i) => ({ name: `op-${i}`, size: f.length })) }));

async function writeCheckpoint(s: StorageAdapter, dir: string): Promise<void> {
  await Promise.all(files.map((f, i) => s.put(`${dir}/op-${i}`, f)));
  await s.put(`${dir}/_metadata`, metadata);
}

async function restoreCheckpoint(s: StorageAdapter, dir: string): Promise<number> {
  if ((await s.get(`${dir}/_metadata`)) === undefined) throw new Error(`${s.description}: no _metadata in ${dir}`);
  let n = 0;
  for (const bytes of await Promise.all((await s.list(`${dir}/`)).map((k) => s.get(k)))) n += bytes?.length ?? 0;
  return n;
}

type Row = { adapter: string; writeMs: number; restoreMs: number };

async function measure(name: string, s: StorageAdapter): Promise<Row> {
  const write: number[] = [];
  const restore: number[] = [];
  // Run 0 warms the JIT and the adapter's caches and is not counted.
  for (let run = 0; run <= runs; run++) {
    const dir = `bench/job/chk-${run + 1}`;
    let t = nowMs();
    await writeCheckpoint(s, dir);
    const writeMs = nowMs() - t;
    t = nowMs();
    const n = await restoreCheckpoint(s, dir);
    if (run > 0) {
      write.push(writeMs);
      restore.push(nowMs() - t);
    }
    if (n < stateBytes) throw new Error(`${name}: restored ${n} of ${stateBytes} bytes`);
    // Subsumed, as the coordinator would delete it; keeps the stores small between runs.
    await s.deletePrefix(`${dir}/`);
  }
  console.error(`${name}: write ${median(write).toFixed(1)} ms, restore ${median(restore).toFixed(1)} ms`);
  return { adapter: name, writeMs: median(write), restoreMs: median(restore) };
}

const work = mkdtempSync(join(tmpdir(), "weir-bench-storage-"));
const rows: Row[] = [];
try {
  rows.push(await measure("memory", new MemoryStorage()));
  rows.push(await measure("files", new FileStorage(join(work, "files"))));
  const sqlite = new SqliteStorage(join(work, "state.db"));
  rows.push(await measure("sqlite", sqlite));
  sqlite.close();
  if ("Deno" in globalThis) {
    const kv = await DenoKvStorage.open(join(work, "kv.db"));
    rows.push(await measure("deno kv", kv));
    kv.close();
  } else {
    console.error("deno kv: skipped (run this bench with deno run -A)");
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.error(`\n${runtimeName()}: one checkpoint of ${bytes(stateBytes)} in ${subtasks} state files, median of ${runs}\n`);
console.error(table([
  ["adapter", "write ms", "restore ms", "write MB/s", "restore MB/s"],
  ...rows.map((r) => [r.adapter, r.writeMs.toFixed(1), r.restoreMs.toFixed(1), (stateBytes / 1048576 / (r.writeMs / 1000)).toFixed(0), (stateBytes / 1048576 / (r.restoreMs / 1000)).toFixed(0)]),
]));
printResultLine({ runtime: runtimeName(), stateBytes, subtasks, runs, rows });
