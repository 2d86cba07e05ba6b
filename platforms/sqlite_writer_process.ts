/**
 * The process of a SQLite background writer started with `process` (sqlite_writer.ts): one
 * connection to one working file, applying the batches its thread relays over stdin in
 * order and answering each on stdout (frames: sqlite_writer_protocol.ts). A process, not a
 * thread: Deno's SQLite is built with SQLITE_ENABLE_MEMORY_MANAGEMENT, so a process's
 * connections share one page cache and allocator behind mutexes, and the subtask's point
 * reads waited on them while a thread of its process committed. It ends when stdin does
 * (its thread or the whole subtask process gone).
 *
 *   bun platforms/sqlite_writer_process.ts PATH KEY_GROUPS
 *   deno run --allow-read --allow-write --allow-env --allow-sys=hostname platforms/sqlite_writer_process.ts PATH KEY_GROUPS
 * @module
 */
import process from "node:process";
import { sqliteDriver } from "./sqlite.ts";
import { applyWriteBatches } from "../state/sqlite_write_batch.ts";
import type { SqliteDatabase } from "../state/sqlite_driver.ts";
import { CLOSE_FRAME } from "./sqlite_writer_protocol.ts";
import { FrameReader, frameHead, openWriterConnection } from "./sqlite_writer_frames.ts";

const [path, keyGroupsText] = process.argv.slice(-2);
const keyGroups = Number(keyGroupsText);
let db: SqliteDatabase | undefined;
let failed = false;

/** Answers frame `seq`: done, or why it failed. */
function answer(seq: number, failure = ""): void {
  const text = new TextEncoder().encode(failure);
  process.stdout.write(frameHead(seq, text.length));
  if (text.length > 0) process.stdout.write(text);
}

const frames = new FrameReader((first, second, body) => {
  if (first === CLOSE_FRAME) {
    db?.close();
    db = undefined;
    return answer(second);
  }
  if (failed) return;
  try {
    applyWriteBatches((db ??= openWriterConnection(sqliteDriver, path)), [body], keyGroups);
    answer(second);
  } catch (e) {
    failed = true;
    answer(second, (e as Error).message || String(e));
  }
}, (first) => (first === CLOSE_FRAME ? 0 : first));

// A terminal's Ctrl-C or hang-up reaches the whole process group; the subtask's process
// handles them (a stop with a savepoint may still need this writer) and ends this process
// by closing its stdin, or by SIGKILL from terminate().
for (const signal of ["SIGINT", "SIGHUP"] as const) process.on(signal, () => {});
process.stdin.on("data", (chunk: Uint8Array) => frames.push(chunk));
process.stdin.on("end", () => {
  db?.close();
  process.exit(0);
});
