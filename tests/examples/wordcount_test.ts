import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { FileSink } from "../../mod.ts";
import { sleep } from "../helpers.ts";

const isDeno = "Deno" in globalThis;
const example = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..", "examples", "wordcount.ts");

/** The latest count per word in the committed CSV output. */
async function counts(out: string): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  if (!existsSync(out)) return m;
  for (const row of (await FileSink.readCommitted(out)) as string[][]) m.set(row[0], Math.max(m.get(row[0]) ?? 0, Number(row[1])));
  return m;
}

test("the quick start counts the words of its input folder, picks up a dropped-in file, and stops with a savepoint on Ctrl-C", async () => {
  const dir = mkdtempSync(join(tmpdir(), "weir-quickstart-"));
  const input = join(dir, "in");
  const out = join(dir, "out");
  mkdirSync(input);
  writeFileSync(join(input, "a.txt"), "The barrier overtakes\nthe data\n");
  const cmd = isDeno ? [process.execPath, "run", "-A", "--no-check", example] : [process.execPath, example];
  const child = spawn(cmd[0], [...cmd.slice(1), "--input", input, "--output", out, "--port", "0"], { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<number | string | null>((r) => child.on("exit", (code, signal) => r(code ?? signal)));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const until = async (cond: () => Promise<boolean>, what: string) => {
      const end = Date.now() + 40_000;
      while (!(await cond())) {
        if (Date.now() > end) assert.fail(`timed out waiting for ${what}; output:\n${stdout}`);
        await sleep(50);
      }
    };
    await until(async () => (await counts(out)).get("the") === 2, "the first file's counts");
    writeFileSync(join(input, "b.txt"), "the end\n");
    await until(async () => (await counts(out)).get("end") === 1, "the dropped-in file's counts");
    const c = await counts(out);
    assert.equal(c.get("the"), 3);
    assert.equal(c.get("barrier"), 1);
    assert.ok(existsSync(join(dir, ".weir")), "checkpoints on FileStorage in .weir/");
    if (isDeno) {
      // A deno child spawned from deno test dies of SIGINT before its listener runs (a
      // started-by-hand one stops cleanly), so under Deno the stop goes through the REST API.
      const url = /dashboard at (\S+)/.exec(stdout)![1];
      const id = /job "wordcount" \((\w+)\)/.exec(stdout)![1];
      const res = await fetch(`${url}/jobs/${id}/stop`, { method: "POST", body: JSON.stringify({ targetDirectory: join(dir, "sp") }), headers: { "Content-Type": "application/json" } });
      assert.equal(res.status, 202, await res.text());
    } else child.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.match(stdout, /job ended: stopped, savepoint /);
    assert.match(stdout, /restore with: .*--input .*--from-savepoint /);
  } finally {
    clearTimeout(killer);
    child.kill("SIGKILL");
  }
});
