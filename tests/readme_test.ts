import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { collect, ROOT, onDeno } from "./cli/helpers.ts";
import { spawn } from "node:child_process";
import process from "node:process";

/** The first ```ts block after a heading of the README. */
function exampleAfter(heading: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const at = readme.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has no heading ${heading}`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, `no ts block after ${heading}`);
  return m[1];
}

test("README's API example runs as written, in a directory of its own, and stops with a savepoint", { timeout: 60_000 }, async () => {
  const code = exampleAfter("## The API");
  const name = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).name;
  assert.match(code, new RegExp(`from "${name}"`), "the README imports the package by its name");
  const dir = mkdtempSync(join(tmpdir(), "weir-readme-"));
  try {
    // Run twice in the same directory: a leftover of the first run (storage, savepoints)
    // must not break the second, as the shared .weir of the demo once did.
    const file = join(dir, "example.ts");
    writeFileSync(file, code.replace(`"${name}"`, JSON.stringify(pathToFileURL(join(ROOT, "mod.ts")).href)));
    for (const round of [1, 2]) {
      // Deno finds the repository's npm dependencies through its config, not the temp directory.
      const args = onDeno ? ["run", "-A", "--no-check", "--config", join(ROOT, "deno.json"), file] : [file];
      const child = spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      const r = await collect(child, 45_000);
      assert.equal(r.code, 0, `round ${round}: ${r.stderr}`);
      const m = /^stopped (\S+) (\d+)$/m.exec(r.stdout);
      assert.ok(m, `round ${round}: ${r.stdout} ${r.stderr}`);
      assert.ok(existsSync(join(resolve(dir, m[1]), "_metadata")), `savepoint ${m[1]} has metadata`);
      assert.ok(Number(m[2]) > 0, "the checkpoint committed records before the stop");
    }
    assert.ok(existsSync(join(dir, ".weir-api-example")), "the example's own storage");
    assert.ok(!existsSync(join(dir, ".weir")), "not the demo's storage");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("README's event-time example counts clicks per user per minute as written", { timeout: 60_000 }, async () => {
  const code = exampleAfter("### Event time, timers and windows");
  const name = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).name;
  assert.match(code, new RegExp(`from "${name}"`), "the README imports the package by its name");
  const dir = mkdtempSync(join(tmpdir(), "weir-readme-windows-"));
  try {
    const file = join(dir, "windows.ts");
    writeFileSync(file, code.replace(`"${name}"`, JSON.stringify(pathToFileURL(join(ROOT, "mod.ts")).href)));
    const args = onDeno ? ["run", "-A", "--no-check", "--config", join(ROOT, "deno.json"), file] : [file];
    const r = await collect(spawn(process.execPath, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] }), 45_000);
    assert.equal(r.code, 0, r.stderr);
    // The same counts from a plain loop over the example's clicks.
    const want = new Map<string, number>();
    for (let n = 0; n < 60; n++) {
      const at = n * 7_000 - (n % 5 === 4 ? 9_000 : 0);
      const minute = `00:${String(Math.floor(at / 60_000)).padStart(2, "0")}`;
      const id = `${minute} user-${n % 3}`;
      want.set(id, (want.get(id) ?? 0) + 1);
    }
    const lines = [...want].sort(([a], [b]) => a.localeCompare(b)).map(([id, c]) => `${id} ${c}`);
    assert.deepEqual(r.stdout.trim().split("\n"), [...lines, "too late: 0"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
