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

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env: Record<string, string> = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env, PATH: `${BIN}${delimiter}${process.env.PATH}` }, stdio: ["ignore", "pipe", "pipe"] });
  return collect(child, timeoutMs);
}

test(`npm pack → npm install → import { StreamEnvironment } from "${NAME}" runs a job under Bun and Deno; its weir bin works`, { timeout: 900_000, skip: onDeno ? "runs once, under Bun (it starts Deno itself)" : false }, async () => {
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
