#!/usr/bin/env node
// The `weir` command as npm installs it: a plain JavaScript shim that node (or bun) can
// start, which runs the CLI entry with bun if it can find one, else deno.
// WEIR_RUNTIME=bun|deno forces a runtime. Exit code and signals are passed through.
// In a checkout the entry is cli/main.ts; in an installed package (weir-stream from npm or a
// tarball) it is the built dist/cli/main.js, which Deno can load from node_modules (it
// strips no types there) and which shares its modules with `import "weir-stream"`, so that
// the job file of `weir run` sees the defaults the CLI sets.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, dirname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import process from "node:process";

const here = dirname(fileURLToPath(import.meta.url));
const built = join(here, "..", "dist", "cli", "main.js");
const installed = here.includes(`${sep}node_modules${sep}`) || !existsSync(join(here, "main.ts"));
const entry = installed && existsSync(built) ? built : join(here, "main.ts");
const args = process.argv.slice(2);
const forced = process.env.WEIR_RUNTIME;

/** Looks for an executable in every node_modules/.bin above the package, then on PATH. */
function find(name) {
  const candidates = [];
  for (let dir = resolve(here, ".."); ; dir = dirname(dir)) {
    candidates.push(join(dir, "node_modules", ".bin", name));
    if (dirname(dir) === dir) break;
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, name));
  return candidates.find((c) => existsSync(c));
}

if (forced !== undefined && forced !== "bun" && forced !== "deno") {
  console.error(`weir: WEIR_RUNTIME must be "bun" or "deno", got "${forced}"`);
  process.exit(2);
}

if (process.versions.bun !== undefined && forced !== "deno") {
  // Already on bun: no second process needed (import.meta.main is false for an imported entry, so call main).
  const { main } = await import(pathToFileURL(entry).href);
  process.exit(await main(args));
} else {
  const bun = forced === "deno" ? undefined : find("bun");
  const deno = bun || forced === "bun" ? undefined : find("deno");
  if (!bun && !deno) {
    console.error(`weir: needs bun or deno${forced ? ` (WEIR_RUNTIME=${forced})` : ""}; install one (npm install bun) and try again`);
    process.exit(1);
  }
  const child = bun
    ? spawn(bun, [entry, ...args], { stdio: "inherit" })
    : spawn(deno, ["run", "-A", "--no-check", entry, ...args], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("error", (e) => {
    console.error(`weir: cannot start ${bun ?? deno}: ${e.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 + 2 : 1)));
}
