/**
 * The thread of a SQLite background writer (sqlite_writer.ts): one connection to one
 * working file, applying the batches it is sent in order and counting them off in shared
 * memory, where the subtask's thread reads, and if it must, waits for, what is committed.
 * @module
 */
import { setPriority } from "node:os";
import process from "node:process";
import { parentPort, workerData } from "node:worker_threads";
import { sqliteDriver } from "./sqlite.ts";
import { checksumOf } from "../checkpoint/checksum.ts";
import { applyWriteBatches } from "../state/sqlite_write_batch.ts";
import type { SqliteDatabase } from "../state/sqlite_driver.ts";
import { type ImageMessage, ImageState, type WriterMessage, WriterSlot, type WriterStart, WriterState, imageState, reportFailure, reportImage } from "./sqlite_writer_protocol.ts";
import { openWriterConnection } from "./sqlite_writer_frames.ts";
import { relayToProcess } from "./sqlite_writer_relay.ts";

/**
 * The writer thread's nice value: below the subtask's thread, which then wins a core when
 * more threads are busy than there are cores (on 2 cores, the subtask's pauses were the
 * writer's time slices). RocksDB lowers its background threads the same way
 * (Env::LowerThreadPoolCPUPriority).
 */
const WRITER_NICE = 10;

// Linux only: there a nice value is per thread and 0 names the calling one; elsewhere
// setpriority(0) would lower the whole process.
if (process.platform === "linux") {
  try {
    setPriority(WRITER_NICE);
  } catch {
    // Not permitted (a sandbox): the writer runs at the subtask's priority.
  }
}

const start = workerData as WriterStart;
const control = new Int32Array(start.control);
const failure = new Uint8Array(start.failure);
let db: SqliteDatabase | undefined;

const open = () => openWriterConnection(sqliteDriver, start.path);

/**
 * Copies the file's pages as this connection sees them now, in one read transaction
 * (sqlite3_serialize: some 30–40 MB at 1 M keys, where copying the rows one by one cost
 * the subtask's thread 0.4–0.7 s per base), and hands them to the subtask's thread, which
 * uploads them: written to a file here, they were read back there into fresh memory, whose
 * first touch cost the subtask 3–7 ms a megabyte. Its failure is the image's: reported in
 * its result memory, the writer goes on.
 */
function pageImage(seq: number, result: SharedArrayBuffer, partBytes: number | undefined): void {
  // Its snapshot was released meanwhile: nobody reads it.
  if (imageState(result) === ImageState.Abandoned) return;
  try {
    const d = (db ??= open());
    if (!d.serialize) throw new Error(`${sqliteDriver.name} cannot copy a database's pages`);
    d.exec("BEGIN");
    let rows: number;
    let bytes: Uint8Array;
    try {
      rows = d.prepare("SELECT count(*) AS n FROM kv").get()!.n as number;
      bytes = d.serialize();
    } finally {
      d.exec("COMMIT");
    }
    // A view of part of a buffer (Bun pools small ones) is copied: only whole buffers move.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    // Abandoned while copied: not checksummed nor posted, so it does not wait in the port for a reader.
    if (imageState(result) === ImageState.Abandoned) return;
    const message: ImageMessage = { seq, buffer: whole.buffer as ArrayBuffer };
    // Here, not on the subtask's thread: this one has time between batches.
    if (partBytes !== undefined && partBytes > 0) {
      message.partChecksums = [];
      for (let at = 0; at < whole.length; at += partBytes) message.partChecksums.push(checksumOf(whole.subarray(at, at + partBytes)));
    }
    // Posted before it is marked finished: the subtask's thread reads it once it sees that.
    start.images.postMessage(message, [message.buffer]);
    reportImage(result, rows);
  } catch (err) {
    reportImage(result, 0, `Cannot copy the pages of ${start.path}: ${(err as Error).message}`);
  }
}

const done = (seq: number) => Atomics.store(control, WriterSlot.Committed, seq);
const wake = () => {
  Atomics.add(control, WriterSlot.Events, 1);
  Atomics.notify(control, WriterSlot.Events);
};

function closeConnection(): void {
  db?.close();
  db = undefined;
}

/** Applies one message on this thread's connection (the thread mode). */
function apply(m: WriterMessage): void {
  Atomics.store(control, WriterSlot.Applying, 1);
  if (Atomics.load(control, WriterSlot.State) !== WriterState.Failed) {
    try {
      if (m.kind === "batches") {
        applyWriteBatches((db ??= open()), [new Uint8Array(m.buffer, 0, m.length)], start.keyGroups);
        try {
          start.spent.postMessage(m.buffer, [m.buffer]);
        } catch {
          // The batch is committed; its buffer not coming back costs the sender a new one.
        }
      }
      else if (m.kind === "image") pageImage(m.seq, m.result, m.partBytes);
      else closeConnection();
      done(m.seq);
    } catch (err) {
      reportFailure(control, failure, (err as Error).message);
    }
  }
  Atomics.store(control, WriterSlot.Applying, 0);
  wake();
}

parentPort!.on("message", start.process ? relayToProcess(start, control, failure, { pageImage: (m) => pageImage(m.seq, m.result, m.partBytes), closeConnection, done, wake }) : apply);
Atomics.store(control, WriterSlot.State, WriterState.Running);
Atomics.notify(control, WriterSlot.State);
