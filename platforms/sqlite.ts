/**
 * Embedded SQLite on whichever runtime weir runs on: `bun:sqlite` on Bun, `node:sqlite` on
 * Deno and Node. The implementation is loaded once, when this module is first imported,
 * so that a Deno process never evaluates Bun code and the backend can open databases
 * synchronously afterwards. File operations use `node:fs`, which all three provide.
 * @module
 */
import { appendFileSync, closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import process from "node:process";
import { ownBytes } from "../storage/adapter.ts";
import { currentRuntime } from "./serve.ts";
import type { SqliteDriver } from "../state/sqlite_driver.ts";
import { openSqliteWriter } from "./sqlite_writer.ts";

const runtime = currentRuntime();
async function loadOpener(): Promise<SqliteDriver["open"]> {
  if (runtime !== "bun") return (await import("./sqlite_node.ts")).openSqlite;
  const bun = await import("./sqlite_bun.ts");
  await bun.loadBunSqlite();
  return bun.openSqlite;
}
const open = await loadOpener();

/**
 * Whether a process of this host runs: signal 0 checks without sending anything. ESRCH is
 * the only answer that means gone; EPERM (another user's) and a runtime's permission error
 * (Deno without --allow-run) mean alive or unknown, and keep its files.
 */
function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== "ESRCH";
  }
}

/** Linux's id of this process's pid namespace ("pid:[4026531836]"); "" elsewhere. */
function pidNamespace(): string {
  try {
    return readlinkSync("/proc/self/ns/pid");
  } catch {
    return "";
  }
}

/**
 * The runtime's SQLite driver.
 *
 * @example
 * ```ts
 * import { sqliteDriver } from "./sqlite.ts";
 * const db = sqliteDriver.open(":memory:");
 * db.exec("CREATE TABLE t (x INTEGER)");
 * db.prepare("INSERT INTO t VALUES (?)").run(7);
 * console.assert(db.prepare("SELECT x FROM t").get()?.x === 7);
 * db.close();
 * ```
 */
export const sqliteDriver: SqliteDriver = {
  name: runtime === "bun" ? "bun:sqlite" : "node:sqlite",
  open,
  removeFiles: (path) => {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(path + suffix, { force: true });
  },
  ensureDirectory: (path) => void mkdirSync(path, { recursive: true }),
  tempDirectory: () => tmpdir(),
  readFile: (path) => ownBytes(readFileSync(path)),
  writeFile: (path, bytes, append) => (append ? appendFileSync(path, bytes) : writeFileSync(path, bytes)),
  writeFileAt: (path, offset, bytes) => {
    const fd = openSync(path, "r+");
    try {
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at, offset + at);
    } finally {
      closeSync(fd);
    }
  },
  fileSize: (path) => statSync(path).size,
  readFileRange: (path, offset, length) => {
    const fd = openSync(path, "r");
    try {
      // Sized to what the file holds: a short last part keeps no megabyte alive where it is stored.
      const out = new Uint8Array(Math.max(0, Math.min(length, fstatSync(fd).size - offset)));
      let at = 0;
      while (at < out.length) {
        const n = readSync(fd, out, at, out.length - at, offset + at);
        if (n === 0) break;
        at += n;
      }
      return at === out.length ? out : out.subarray(0, at);
    } finally {
      closeSync(fd);
    }
  },
  renameFile: (from, to) => renameSync(from, to),
  listDirectory: (path) => readdirSync(path),
  removeFile: (path) => rmSync(path, { force: true }),
  process: { pid: process.pid, host: hostname(), pidNamespace: pidNamespace(), isAlive: processIsAlive },
  openWriter: openSqliteWriter,
};
