/**
 * The sqlite backend's working files carry their owner's tag, and the files of a process
 * that was killed are removed by the next backend opened in their directory
 * (state/sqlite_working_files.ts); a live process's, another host's and untagged files stay.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";
import { keyGroupRangeFor } from "../../state/key_group.ts";
import { hostPart, sweepAbandonedFiles, workingFilePath } from "../../state/sqlite_working_files.ts";
import { MemoryStorage } from "../../storage/memory.ts";
import { runChildJob } from "../child_job.ts";

const directory = mkdtempSync(join(sqliteDriver.tempDirectory(), "weir-sqlite-working-files-"));
const fixture = new URL("./fixtures/sqlite_working_files_owner.ts", import.meta.url).pathname;
const host = hostPart(sqliteDriver.process);
const sweeper = new URL("./fixtures/sqlite_working_files_sweeper.ts", import.meta.url).pathname;
const canUnshare = spawnSync("unshare", ["-p", "-f", "--mount-proc", "true"]).status === 0;

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.on("exit", resolve));
  assert.equal(sqliteDriver.process.isAlive(child.pid!), false);
  return child.pid!;
}

const backend = (dir: string) =>
  new SqliteKeyedStateBackend(
    { maxParallelism: 128, range: keyGroupRangeFor(0, 1, 128), incremental: true, storage: new MemoryStorage(), uid: "count", subtaskIndex: 0, jobId: "next" },
    { driver: sqliteDriver, directory: dir },
  );

describe("sqlite working files", () => {
  test("a working file's name starts with this process's tag: host, pid and an id per module copy", () => {
    const a = workingFilePath(sqliteDriver, "/d", "job/1", "op", 3);
    const b = workingFilePath(sqliteDriver, "/d", "job/1", "op", 3);
    const tag = new RegExp(`^/d/weir\\.${host}\\.${process.pid}\\.[0-9a-f]{8}_job_1-op-3-\\d+\\.db$`);
    assert.match(a, tag);
    assert.match(b, tag);
    assert.notEqual(a, b, "each file opened gets a name of its own");
  });

  test("removes the files of a dead process of this host, once per directory, and nothing else", async () => {
    const dir = mkdtempSync(join(directory, "sweep-"));
    const dead = await deadPid();
    const sleeper = spawn("sleep", ["60"]);
    try {
      const deadTag = `weir.${host}.${dead}.0123abcd_`;
      const gone = [`${deadTag}j-op-0-1.db`, `${deadTag}j-op-0-1.db-wal`, `${deadTag}j-op-0-1.db.log-2`, `${deadTag}j-op-0-1.db-7-base.db`];
      const kept = [
        `weir.${host}.${sleeper.pid}.0123abcd_j-op-0-1.db`, // alive
        `weir.${host}.${process.pid}.fedcba98_j-op-0-1.db`, // this process, another thread
        `weir.another-host.${dead}.0123abcd_j-op-0-1.db`, // another host's, on a shared directory
        `j-op-0-0123abcd-1.db`, // untagged (a name of weir before tags)
        `notes.txt`,
      ];
      for (const name of [...gone, ...kept]) writeFileSync(join(dir, name), "x");
      assert.deepEqual(sweepAbandonedFiles(sqliteDriver, dir).sort(), [...gone].sort());
      assert.deepEqual(readdirSync(dir).sort(), [...kept].sort());
      writeFileSync(join(dir, gone[0]), "x");
      assert.deepEqual(sweepAbandonedFiles(sqliteDriver, dir), [], "a directory is swept once per process");
    } finally {
      sleeper.kill("SIGKILL");
    }
  });

  test("the host part tells apart hosts whose names share a prefix, and pid namespaces of one host name", () => {
    const name = "weir-taskmanager-deployment-7d9f8c6b5-long-pod-name";
    const parts = [
      hostPart({ host: name, pidNamespace: "pid:[1]" }),
      hostPart({ host: `${name}-other`, pidNamespace: "pid:[1]" }),
      hostPart({ host: name, pidNamespace: "pid:[2]" }),
    ];
    assert.equal(new Set(parts).size, 3, parts.join(" "));
    for (const p of parts) assert.match(p, /^[A-Za-z0-9-]+$/, "no dot or underscore: the tag stays parseable");
    assert.equal(hostPart({ host: name, pidNamespace: "pid:[1]" }), parts[0], "the same for the same process");
    // Another host with the same prefix: its pids are not this host's, its files stay.
    const dir = mkdtempSync(join(directory, "long-host-"));
    writeFileSync(join(dir, `weir.${parts[1]}.4242.0123abcd_j-op-0-1.db`), "x");
    const driver = { ...sqliteDriver, process: { pid: 7, host: name, pidNamespace: "pid:[1]", isAlive: () => false } };
    assert.deepEqual(sweepAbandonedFiles(driver, dir), []);
  });

  test("a live process's files stay when a process of the same host name in another pid namespace opens a backend in the directory", { skip: canUnshare ? false : "needs unshare -p (root on Linux)" }, async () => {
    const dir = mkdtempSync(join(directory, "pid-ns-"));
    let ownerPid = 0;
    let kill: (() => void) | undefined;
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    const run = runChildJob(fixture, [dir], (line, k) => {
      ownerPid = line.pid as number;
      kill = k;
      ready();
    }, 60_000);
    try {
      await isReady;
      const mine = () => readdirSync(dir).filter((n) => n.includes(`.${ownerPid}.`));
      assert.ok(mine().some((n) => n.endsWith(".db")));
      // Containers of one Kubernetes pod, or docker --network host: one host name, pid namespaces of their own.
      const runtime = "Deno" in globalThis ? [process.execPath, "run", "-A", "--no-check"] : [process.execPath];
      const out = spawnSync("unshare", ["-p", "-f", "--mount-proc", ...runtime, sweeper, dir], { encoding: "utf8" });
      assert.equal(out.status, 0, out.stderr);
      assert.deepEqual(JSON.parse(out.stdout.trim().split("\n").pop()!).removed, [], "nothing of the live process is removed");
      assert.ok(mine().some((n) => n.endsWith(".db")), "the live process still has its database");
    } finally {
      kill?.();
      await run;
    }
  });

  test("a directory that cannot be listed is no error", () => {
    assert.deepEqual(sweepAbandonedFiles(sqliteDriver, join(directory, "absent")), []);
  });

  test("a process killed while it holds state leaves files that the next backend in the directory removes; a live one's stay", async () => {
    const dir = mkdtempSync(join(directory, "killed-"));
    const filesOf = (pid: number) => readdirSync(dir).filter((n) => n.startsWith(`weir.${host}.${pid}.`));
    let live: (() => void) | undefined;
    let livePid = 0;
    let liveRun: Promise<unknown> = Promise.resolve();
    const liveReady = new Promise<void>((resolve, reject) => {
      liveRun = runChildJob(fixture, [dir], (line, kill) => {
        live = kill;
        livePid = line.pid as number;
        resolve();
      }, 60_000).then((run) => reject(new Error(`the process meant to stay alive ended: ${JSON.stringify(run)}`)));
    });
    try {
      let killedPid = 0;
      const killed = await runChildJob(fixture, [dir], (line, kill) => {
        killedPid = line.pid as number;
        kill();
      }, 60_000);
      assert.equal(killed.signal, "SIGKILL");
      await liveReady;
      const left = filesOf(killedPid);
      assert.ok(left.some((n) => n.endsWith(".db")) && left.some((n) => /\.log-\d+$/.test(n)), `the killed process left its database and changelog: ${left}`);
      assert.ok(filesOf(livePid).length > 0);
      const next = backend(dir);
      try {
        assert.deepEqual(filesOf(killedPid), [], "the killed process's files are removed");
        assert.ok(filesOf(livePid).some((n) => n.endsWith(".db")), "the live process's files stay");
        assert.ok(filesOf(process.pid).some((n) => n.endsWith(".db")), "the new backend has its own file");
      } finally {
        next.dispose();
      }
    } finally {
      live?.();
      await liveRun;
    }
  });
});
