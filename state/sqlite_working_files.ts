/**
 * Names of the SQLite backend's working files, and the sweep of those a dead process left.
 *
 * Every working file (the database, its `-wal`/`-shm`, changelogs, a base's image, a restore
 * download) starts with its owner's tag, `weir.<host>.<pid>.<id>_`: where its pid means
 * something (the host's name, shortened, and a hash of the whole name and the pid
 * namespace), the process id, and a random id per copy of this module (a worker thread has
 * its own). A process that ends normally removes its files as its operators close; one
 * killed (kill -9, out of memory) cannot, so the first backend a process opens in a
 * directory removes the files of every process of the same host and pid namespace that no
 * longer runs. Files of another host or pid namespace (a directory on a shared file system,
 * containers of one pod sharing a volume under one host name) and names without a tag are
 * never touched; a pid taken again by a live process keeps its dead owner's files until that
 * process ends too. Flink's TaskManager likewise deletes the local state directories of its
 * own id at start.
 * @module
 */
import type { SqliteDriver } from "./sqlite_driver.ts";

/** Matches a working file's owner tag: host, pid, id. */
const TAG = /^weir\.([A-Za-z0-9-]+)\.(\d+)\.([0-9a-f]{8})_/;

/** This copy of the module's id: another thread or process in the same directory has another. */
const ownerId = crypto.randomUUID().slice(0, 8);
let openedFiles = 0;
/** Directories this copy of the module swept already. */
const swept = new Set<string>();

/**
 * Where a pid means one process, as a tag part (no dot, no underscore): the host name's
 * first 24 characters, readable, and an FNV-1a hash of the whole name and the pid namespace,
 * so hosts whose names share a prefix, or containers with one host name, differ.
 */
export function hostPart(proc: { host: string; pidNamespace: string }): string {
  let h = 0x811c9dc5;
  for (const c of `${proc.host}\0${proc.pidNamespace}`) h = Math.imul(h ^ c.codePointAt(0)!, 0x01000193) >>> 0;
  return `${proc.host.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 24) || "host"}-${h.toString(16).padStart(8, "0")}`;
}

/** Text that is safe in a file name. */
function safe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 60);
}

/**
 * The path of a new working database file in `directory` for one subtask's operator:
 * `weir.<host>.<pid>.<id>_<job>-<uid>-<subtask>-<n>.db`, where n counts the files this
 * copy of the module opened (a restart in this process opens another).
 */
export function workingFilePath(driver: SqliteDriver, directory: string, job: string, uid: string, subtaskIndex: number): string {
  const tag = `weir.${hostPart(driver.process)}.${driver.process.pid}.${ownerId}`;
  return `${directory}/${tag}_${safe(job)}-${safe(uid)}-${subtaskIndex}-${++openedFiles}.db`;
}

/**
 * Removes, once per directory for this copy of the module, the working files in `directory`
 * whose owner ran on this host, in this pid namespace, and runs no more. Returns the names removed. A file that
 * cannot be removed (gone meanwhile, no permission) is skipped: a sweep never fails the
 * backend that runs it.
 */
export function sweepAbandonedFiles(driver: SqliteDriver, directory: string): string[] {
  if (swept.has(directory)) return [];
  swept.add(directory);
  const host = hostPart(driver.process);
  const alive = new Map<number, boolean>();
  const removed: string[] = [];
  let names: string[];
  try {
    names = driver.listDirectory(directory);
  } catch {
    return removed;
  }
  for (const name of names) {
    const tag = TAG.exec(name);
    if (tag === null || tag[1] !== host) continue;
    const pid = Number(tag[2]);
    if (pid === driver.process.pid) continue;
    let live = alive.get(pid);
    if (live === undefined) alive.set(pid, (live = driver.process.isAlive(pid)));
    if (live) continue;
    try {
      driver.removeFile(`${directory}/${name}`);
      removed.push(name);
    } catch {
      // Removed by another process's sweep meanwhile, or not ours to remove.
    }
  }
  return removed;
}
