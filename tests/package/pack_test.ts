/**
 * The package as another project gets it: `npm pack` (which builds dist/), installed from
 * the tarball into a temporary project, imported by its name under Bun and under Deno, and
 * its `weir` bin run there. Slow (a TypeScript build and an npm install), so it runs once,
 * under Bun, and starts both runtimes itself; `npm run test:package` runs it alone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import { collect, onDeno, ROOT } from "../cli/helpers.ts";

const NAME = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).name as string;
const BIN = join(ROOT, "node_modules", ".bin");

const JOB = `import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "${NAME}";
const env = new StreamEnvironment({ jobName: "consumer", storage: new MemoryStorage() });
const sink = new CollectSink<[number, number]>();
env.fromSource(new SequenceSource(0, 1000), { uid: "numbers" })
  .map((n): [number, number] => [n % 3, n], { uid: "pair" })
  .keyBy((p) => p[0])
  .reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: "sum" })
  .sinkTo(sink, { uid: "out" });
const result = await (await env.execute()).done;
const last: Record<number, number> = {};
for (const [k, v] of sink.committed) last[k] = v;
console.log("RESULT", result.status, env.parallelism, JSON.stringify(last));
`;

// A job whose keyed stage runs in a Worker thread, wired as the README shows: the Worker
// imports job.ts, which imports the package by name; worker_entry.js must ship in dist/.
const WORKER_JOB = `import { CollectSink, FileStorage, SequenceSource, StreamEnvironment } from "${NAME}";
export const results = new CollectSink<[number, number]>();
export function buildJob(args: { dir: string }): StreamEnvironment {
  const env = new StreamEnvironment({ jobName: "workers", parallelism: 2, storage: new FileStorage(args.dir) });
  env.fromSource(new SequenceSource(0, 1000), { uid: "numbers" })
    .map((n): [number, number] => [n % 3, n], { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: "sum", parallelism: 3 })
    .sinkTo(results, { uid: "out" });
  return env;
}
`;
const WORKER_MAIN = `import { WorkerHost, WorkerThreadTransport } from "${NAME}/worker-threads";
import { buildJob, results } from "./worker_job.ts";
const args = { dir: ".weir-workers" };
const env = buildJob(args);
const keyed = env.jobGraph().vertices.find((v) => v.uids.includes("sum"))!.id;
const hostOf = (s: { vertexId: string }) => (s.vertexId === keyed ? "w1" : "main");
const transport = new WorkerThreadTransport({ threadOf: hostOf });
const w1 = new WorkerHost({ hostId: "w1", module: new URL("./worker_job.ts", import.meta.url).href, export: "buildJob", args, transport });
env.options.runtime = { transport, hostOf, remoteHosts: { w1 } };
try {
  const result = await (await env.execute()).done;
  const last: Record<number, number> = {};
  // Running sums only grow; two sink subtasks commit a key's sums in either order.
  for (const [k, v] of results.committed) last[k] = Math.max(last[k] ?? 0, v);
  console.log("RESULT", result.status, w1.started, JSON.stringify(last));
} finally {
  w1.terminate();
}
`;

// A Worker's entry as the Cloudflare docs show it: the platform under "${NAME}/cloudflare".
const CLOUDFLARE_WORKER = `import { SequenceSource, StreamEnvironment, WeirJob, WeirSubtask, weirWorker } from "${NAME}/cloudflare";
export { WeirJob, WeirSubtask };
const worker = weirWorker(({ storage }) => {
  const env = new StreamEnvironment({ jobName: "edge", storage });
  env.fromSource(new SequenceSource(0, 10), { uid: "numbers" }).map((n) => n * 2, { uid: "double" });
  return env;
});
console.log("CLOUDFLARE", typeof worker.fetch, typeof WeirJob.prototype.alarm, typeof WeirSubtask);
`;

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env: Record<string, string> = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env, PATH: `${BIN}${delimiter}${process.env.PATH}` }, stdio: ["ignore", "pipe", "pipe"] });
  return collect(child, timeoutMs);
}

test(`npm pack → npm install → import { StreamEnvironment } from "${NAME}" runs a job under Bun and Deno, one with a Worker host from "${NAME}/worker-threads" too; "${NAME}/cloudflare" imports; its weir bin works`, { timeout: 900_000, skip: onDeno ? "runs once, under Bun (it starts Deno itself)" : false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "weir-pack-"));
  try {
    const packed = spawnSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: ROOT, encoding: "utf8", timeout: 600_000 });
    assert.equal(packed.status, 0, packed.stderr);
    const tarball = join(dir, packed.stdout.trim().split("\n").pop()!);
    assert.ok(existsSync(tarball), tarball);

    const app = join(dir, "app");
    spawnSync("mkdir", [app]);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "weir-consumer", private: true, type: "module", dependencies: { [NAME]: `file:${tarball}` } }));
    const installed = spawnSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline"], { cwd: app, encoding: "utf8", timeout: 600_000 });
    assert.equal(installed.status, 0, installed.stderr);
    const pkg = join(app, "node_modules", NAME);
    assert.ok(existsSync(join(pkg, "dist", "mod.js")) && existsSync(join(pkg, "dist", "mod.d.ts")), "built JavaScript and types ship");
    assert.ok(!existsSync(join(pkg, "tests")) && !existsSync(join(pkg, "mod.ts")), "sources and tests stay home");
    writeFileSync(join(app, "job.ts"), JOB);
    writeFileSync(join(app, "worker_job.ts"), WORKER_JOB);
    writeFileSync(join(app, "worker_main.ts"), WORKER_MAIN);
    writeFileSync(join(app, "cloudflare_worker.ts"), CLOUDFLARE_WORKER);
    assert.ok(existsSync(join(pkg, "dist", "platforms", "worker_threads", "worker_entry.js")), "the Worker's entry ships");

    const sums = (() => {
      const t: Record<number, number> = { 0: 0, 1: 0, 2: 0 };
      for (let n = 0; n < 1000; n++) t[n % 3] += n;
      return JSON.stringify(t);
    })();
    const onBun = await run(join(BIN, "bun"), ["job.ts"], app, 120_000);
    assert.equal(onBun.code, 0, onBun.stderr);
    assert.equal(onBun.stdout.trim(), `RESULT finished 1 ${sums}`);
    const onDenoRun = await run(join(BIN, "deno"), ["run", "-A", "job.ts"], app, 120_000);
    assert.equal(onDenoRun.code, 0, onDenoRun.stderr);
    assert.equal(onDenoRun.stdout.trim(), `RESULT finished 1 ${sums}`);

    // weir-stream/worker-threads: the keyed stage in a Worker that imports the package too.
    const onWorkers = [await run(join(BIN, "bun"), ["worker_main.ts"], app, 120_000), await run(join(BIN, "deno"), ["run", "-A", "worker_main.ts"], app, 120_000)];
    for (const [i, r] of onWorkers.entries()) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `RESULT finished 1 ${sums}`, i === 0 ? "bun" : "deno");
    }

    // weir-stream/cloudflare: the Durable Object classes and weirWorker, built JavaScript and types.
    assert.ok(existsSync(join(pkg, "dist", "platforms", "cloudflare", "mod.js")) && existsSync(join(pkg, "dist", "platforms", "cloudflare", "mod.d.ts")), "the Cloudflare platform ships");
    for (const [name, r] of [["bun", await run(join(BIN, "bun"), ["cloudflare_worker.ts"], app, 120_000)], ["deno", await run(join(BIN, "deno"), ["run", "-A", "cloudflare_worker.ts"], app, 120_000)]] as const) {
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), "CLOUDFLARE function function function", name);
    }

    // The bin runs the built CLI; weir run's --parallelism reaches the job file, which
    // imports the package by name: one module graph, not two.
    for (const runtime of ["bun", "deno"]) {
      const r = await run("node", [join(app, "node_modules", ".bin", "weir"), "run", "job.ts", "--port", "0", "--parallelism", "3"], app, 120_000, { WEIR_RUNTIME: runtime });
      assert.equal(r.code, 0, `${runtime}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^RESULT finished 3 ${sums.replace(/[{}]/g, "\\$&")}$`, "m"), runtime);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
