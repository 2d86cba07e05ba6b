/**
 * A SQLite keyed state backend in a thread of its own, driven by messages from
 * sqlite_backend_test.ts: the thread loads its own copy of every module, as another
 * process running the same job does (two runs side by side, tests of two runtimes at once).
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";

/** What the thread is told. */
export type PeerMessage = { kind: "open"; key: string; value: number } | { kind: "snapshot" } | { kind: "dispose" };
/** What it answers (one reply per message). */
export type PeerReply = { ok: true; tables?: Record<string, KeyedTableSnapshot> } | { ok: false; error: string };

const { directory } = workerData as { directory: string };
let backend: SqliteKeyedStateBackend | undefined;

parentPort!.on("message", (m: PeerMessage) => {
  let reply: PeerReply;
  try {
    if (m.kind === "open") {
      // Job, operator and subtask the same in every thread; on this thread's own writes only.
      backend = new SqliteKeyedStateBackend(
        { maxParallelism: 16, range: { start: 0, end: 15 }, incremental: false, uid: "op", subtaskIndex: 0, jobId: "side-by-side" },
        { driver: sqliteDriver, directory, backgroundWrites: false },
      );
      backend.setCurrentKey(m.key);
      backend.valueState<number>("v").update(m.value);
      backend.store.flush();
      reply = { ok: true };
    } else if (m.kind === "snapshot") {
      const snap = backend!.snapshot(1, { savepoint: true });
      try {
        snap.step(Infinity);
        const r = snap.result();
        reply = { ok: true, tables: r.format === "canonical" ? r.tables : undefined };
      } finally {
        snap.release();
      }
    } else {
      backend?.dispose();
      backend = undefined;
      reply = { ok: true };
    }
  } catch (e) {
    reply = { ok: false, error: (e as Error)?.message ?? String(e) };
  }
  parentPort!.postMessage(reply);
});
