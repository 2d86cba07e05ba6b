/**
 * The SQLite background writer on Bun and Deno: a worker thread (sqlite_writer_worker.ts)
 * with its own connection to the working file, sent write-back batches as bytes, and
 * shared memory in which it counts off what it committed, so the subtask's thread learns
 * it without waiting for a message, and blocks (Atomics.wait) only when it must: too many
 * batches pending, a flush, a restore.
 * @module
 */
import { basename } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";
import { WeirError, assert } from "../errors.ts";
import type { SqliteBackgroundWriter, WriterImage, WriterOptions } from "../state/sqlite_driver.ts";
import { CONTROL_SLOTS, FAILURE_BYTES, IMAGE_RESULT_BYTES, type ImageMessage, ImageState, type WriterMessage, WriterSlot, type WriterStart, WriterState, abandonImage, imageState, readFailure, readImage } from "./sqlite_writer_protocol.ts";

/** How long a wait may go without a sign of the writer's thread before it is given up. */
const SILENCE_MS = 60_000;
/** How often whenDone() looks whether a page image is copied, ms. */
const IMAGE_POLL_MS = 2;
/** How long an image marked finished may take to show on its port (posted just before), ms. */
const IMAGE_ARRIVAL_MS = 10_000;
/** Buffers of applied batches kept for the next sends, at most. */
const SPARE_BUFFERS = 3;
/** A new batch buffer's least size: a group of 16 K small records fits. */
const MIN_BUFFER_BYTES = 1 << 20;

/** What came of an image on its port: nothing yet, or its bytes and part checksums. */
interface ImageArrival {
  bytes?: Uint8Array;
  partChecksums?: string[];
}

// A path, not a URL: Bun's and Node's URL types disagree in a type check of both.
const workerPath = fileURLToPath(new URL(`./sqlite_writer_worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url).href);

/**
 * Starts a background writer to the database file at `path`.
 *
 * @example
 * ```ts
 * import { openSqliteWriter } from "./sqlite_writer.ts";
 * import { sqliteDriver } from "./sqlite.ts";
 * import { SCHEMA } from "../state/sqlite_store.ts";
 * import { WriteBatch } from "../state/sqlite_write_batch.ts";
 * const path = `${sqliteDriver.tempDirectory()}/weir-doc-writer-${performance.now()}.db`;
 * const db = sqliteDriver.open(path);
 * db.exec(`PRAGMA journal_mode = WAL; ${SCHEMA}`);
 * const w = openSqliteWriter(path, 8);
 * const b = new WriteBatch();
 * b.put(1, 0, Uint8Array.of(7), null, Uint8Array.of(9));
 * w.waitFor(w.send([b.bytes()]));
 * console.assert(db.prepare("SELECT count(*) AS n FROM kv").get()?.n === 1);
 * w.terminate();
 * db.close();
 * sqliteDriver.removeFiles(path);
 * ```
 */
export function openSqliteWriter(path: string, keyGroups: number, options: WriterOptions = {}): SqliteBackgroundWriter {
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4));
  const failureText = new Uint8Array(new SharedArrayBuffer(FAILURE_BYTES));
  // node:worker_threads on Bun and Deno too: it hands the thread its start at once
  // (workerData). A Web Worker's first message waited on Bun until the sending thread's
  // event loop idled, which a busy subtask may not do for seconds.
  const { port1: imagesIn, port2: imagesOut } = new MessageChannel();
  const { port1: spentIn, port2: spentOut } = new MessageChannel();
  const start: WriterStart = { path, keyGroups, control: control.buffer as SharedArrayBuffer, failure: failureText.buffer as SharedArrayBuffer, images: imagesOut, spent: spentOut };
  // Node runs no TypeScript file as a program, and a compiled program (deno compile, bun
  // build --compile) is not the runtime: there the writer stays a thread.
  if (options.process === true && /^(bun|deno)/.test(basename(process.execPath))) start.process = true;
  const worker = new Worker(workerPath, { workerData: start, transferList: [imagesOut, spentOut] });
  // An idle writer must not keep the process alive.
  worker.unref();
  const post = (m: WriterMessage, transfer: ArrayBuffer[] = []) => worker.postMessage(m, transfer);
  let sent = 0;
  let ended = false;
  /** The thread is gone, whatever ended it (seen only when this thread's event loop turns). */
  let exited = false;
  // Read only with receiveMessageOnPort: the ports must not keep the process alive.
  (imagesIn as { unref?: () => void }).unref?.();
  (spentIn as { unref?: () => void }).unref?.();
  let portClosed = false;
  const closePort = () => {
    portClosed = true;
    images.clear();
    spare.length = 0;
    imagesIn.close();
    spentIn.close();
  };
  let buffersMade = 0;
  /** Buffers the thread gave back, for the next sends. */
  const spare: ArrayBuffer[] = [];
  /** A buffer of at least `size` bytes: one given back if any fits, else a new one. */
  const bufferFor = (size: number): ArrayBuffer => {
    let given = false;
    for (let m; !portClosed && (m = receiveMessageOnPort(spentIn)); given = true) spare.push(m.message as ArrayBuffer);
    // The largest kept, largest first: a group larger than every buffer kept would otherwise make a new one each time.
    if (given) spare.sort((a, b) => b.byteLength - a.byteLength).length = Math.min(spare.length, SPARE_BUFFERS);
    if (spare.length > 0 && spare[0].byteLength >= size) return spare.shift()!;
    // Sized up, so that a slightly larger group next time still fits.
    let n = MIN_BUFFER_BYTES;
    while (n < size) n *= 2;
    buffersMade++;
    return new ArrayBuffer(n);
  };
  /** Images asked for and neither taken nor abandoned, by sequence number, with their bytes once arrived. */
  const images = new Map<number, ImageArrival>();
  /** Takes every image that arrived; those given up meanwhile are dropped. */
  const receiveImages = () => {
    for (let m; !portClosed && (m = receiveMessageOnPort(imagesIn)); ) {
      const { seq, buffer, partChecksums } = m.message as ImageMessage;
      const image = images.get(seq);
      if (image) {
        image.bytes = new Uint8Array(buffer);
        image.partChecksums = partChecksums;
      }
    }
  };
  worker.on("exit", () => {
    exited = true;
    // Images the thread finished before it ended are still readable.
    receiveImages();
  });

  /** The failure recorded before terminate(): the kill it sends makes the relay record the exit, which is not the cause. */
  let failureAtEnd: string | undefined;
  const failure = () => (ended ? failureAtEnd : readFailure(control, failureText));
  /** Waits for `seq` until committed (true) or until `until` (a performance.now() time) passed (false). */
  const waitUntil = (seq: number, until: number, what = `batch ${seq}`): boolean => {
    let deadline = performance.now() + SILENCE_MS;
    for (;;) {
      const events = Atomics.load(control, WriterSlot.Events);
      const failed = failure();
      if (failed !== undefined) throw new WeirError("storage_failed", failed);
      if (Atomics.load(control, WriterSlot.Committed) >= seq) return true;
      if (ended || exited) throw new WeirError("storage_failed", `The background writer of the SQLite state file ${path} ${ended ? "was ended" : "exited"} before ${what} was written`);
      const now = performance.now();
      if (now >= until) return false;
      const left = deadline - now;
      if (left <= 0) throw new WeirError("storage_failed", `The background writer of the SQLite state file ${path} gave no sign for ${SILENCE_MS / 1000} s (${what} of ${sent} not written)`);
      if (Atomics.wait(control, WriterSlot.Events, events, Math.min(left, until - now)) !== "timed-out") deadline = performance.now() + SILENCE_MS;
    }
  };
  const waitFor = (seq: number, what = `batch ${seq}`): void => void waitUntil(seq, Infinity, what);

  const ready = () => Atomics.load(control, WriterSlot.State) !== WriterState.Starting;
  return {
    ready,
    waitReady(timeoutMs) {
      for (const end = performance.now() + timeoutMs; !ready(); ) {
        const left = end - performance.now();
        if (left <= 0) return false;
        Atomics.wait(control, WriterSlot.State, WriterState.Starting, left);
      }
      return true;
    },
    async whenReady(timeoutMs) {
      // Polled on timers: the thread may need this event loop to turn before it is up.
      for (const end = performance.now() + timeoutMs; !ready() && performance.now() < end; ) await new Promise((r) => setTimeout(r, 2));
      return ready();
    },
    send(batches) {
      let size = 0;
      for (const b of batches) size += b.length;
      const buffer = bufferFor(size);
      const all = new Uint8Array(buffer);
      size = 0;
      for (const b of batches) {
        all.set(b, size);
        size += b.length;
      }
      post({ kind: "batches", seq: ++sent, buffer, length: size }, [buffer]);
      return sent;
    },
    get buffersMade() {
      return buffersMade;
    },
    committed: () => Atomics.load(control, WriterSlot.Committed),
    applying: () => Atomics.load(control, WriterSlot.Applying) === 1,
    pageImage(what, partBytes): WriterImage {
      const result = new SharedArrayBuffer(IMAGE_RESULT_BYTES);
      const seq = ++sent;
      const entry: ImageArrival = {};
      // Images abandoned since the last look go now, not at the next take().
      receiveImages();
      images.set(seq, entry);
      post({ kind: "image", seq, result, partBytes });
      // An exited thread ends the wait too: take() then says so.
      const done = () => imageState(result) !== ImageState.Pending || failure() !== undefined || ended || exited;
      let taken = false;
      return {
        seq,
        done,
        whenDone: () => new Promise<void>((resolve) => {
          // Polled: on Deno, Atomics.waitAsync with a timeout never resolves when nothing
          // else keeps the event loop alive.
          const poll = () => (done() ? resolve() : setTimeout(poll, IMAGE_POLL_MS));
          poll();
        }),
        take() {
          assert(!taken, () => `${what} was taken twice`);
          taken = true;
          try {
            // Finished, it is the image's outcome, whatever failed after it; a writer that
            // failed before it ignores it, and waitFor() throws why.
            if (imageState(result) !== ImageState.Finished) waitFor(seq, what);
            const r = readImage(result);
            if ("failure" in r) throw new WeirError("storage_failed", `${r.failure} (${what})`);
            for (const end = performance.now() + IMAGE_ARRIVAL_MS; entry.bytes === undefined; ) {
              receiveImages();
              if (entry.bytes !== undefined) break;
              if (performance.now() > end || exited || portClosed) throw new WeirError("storage_failed", `${what} of ${path} was copied, but its bytes never arrived from the writer's thread`);
              Atomics.wait(control, WriterSlot.Events, Atomics.load(control, WriterSlot.Events), 1);
            }
            return { bytes: entry.bytes, rows: r.rows, partChecksums: entry.partChecksums };
          } finally {
            images.delete(seq);
          }
        },
        abandon() {
          images.delete(seq);
          // Arrived already, or on its way: receiveImages() drops it.
          receiveImages();
          return abandonImage(result);
        },
      };
    },
    waitFor,
    waitForAtMost: (seq, timeoutMs) => waitUntil(seq, performance.now() + timeoutMs),
    failure,
    closeConnection() {
      if (sent === 0 || ended) return;
      post({ kind: "close", seq: ++sent });
      waitFor(sent);
    },
    terminate() {
      if (ended) return;
      failureAtEnd = failure();
      ended = true;
      // Killed, not left to read its pipe to the end: it would commit batches still in it.
      const pid = Atomics.load(control, WriterSlot.Process);
      if (pid > 0) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone already.
        }
      }
      // Images finished before keep their bytes: a take() of one still succeeds.
      receiveImages();
      closePort();
      worker.terminate();
    },
  };
}
