import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseArgs } from "../../cli/args.ts";
import { applyCommandLine, jobCommandLine, jobDefaults, jobFlagsHelp, launchCommand, markStartedByCli, restoreCommand, shellQuote } from "../../cli/job_args.ts";
import { environmentDefaults, setEnvironmentDefaults } from "../../dataflow/environment_defaults.ts";
import { WeirError } from "../../errors.ts";
import process from "node:process";

function usageOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof WeirError && e.code === "usage", String(e));
    return e.message;
  }
  assert.fail("no usage error");
}

describe("parseArgs() over node:util", () => {
  test("parseArgs() reads positionals, values, booleans, repeated flags and -h", () => {
    const a = parseArgs(["in", "--out", "o", "--drop-uid", "a", "--drop-uid=b", "--drain", "-h", "--", "--x"], { out: "string", "drop-uid": "strings", drain: "boolean" });
    assert.deepEqual(a.positional, ["in", "--x"]);
    assert.deepEqual(a.flags, { out: "o", "drop-uid": ["a", "b"], drain: true, help: true });
  });

  test("parseArgs() turns parseArgs' errors into usage errors naming the flag", () => {
    const spec = { port: "string", drain: "boolean" } as const;
    assert.equal(usageOf(() => parseArgs(["--colour"], spec)), "Unknown option --colour");
    assert.equal(usageOf(() => parseArgs(["-x"], spec)), "Unknown option -x");
    assert.equal(usageOf(() => parseArgs(["--port"], spec)), 'Option --port needs a value (write --port=VALUE for a value that starts with "-")');
    assert.equal(usageOf(() => parseArgs(["--port", "--drain"], spec)), 'Option --port needs a value (write --port=VALUE for a value that starts with "-")');
    assert.equal(usageOf(() => parseArgs(["--port="], spec)), "Option --port needs a value");
    assert.equal(usageOf(() => parseArgs(["--drain=no"], spec)), "Option --drain takes no value");
  });
});

describe("job flags", () => {
  test("jobDefaults() maps the flags to environment defaults, resolving the savepoint path", () => {
    const d = jobDefaults({ "from-savepoint": "sp/savepoint-1", "allow-non-restored-state": true, fresh: true, port: "0", host: "::1" });
    assert.equal(d.restoreFrom, `${process.cwd()}/sp/savepoint-1`);
    assert.equal(d.allowNonRestoredState, true);
    assert.equal(d.fresh, true);
    assert.deepEqual(d.http, { port: 0, hostname: "::1" });
    assert.equal(d.parallelism, undefined);
    assert.equal(usageOf(() => jobDefaults({ parallelism: "0" })), 'Option --parallelism must be an integer between 1 and 32768, got "0"');
    // An external_path as the REST API reports a checkpoint, and its _metadata file.
    assert.equal(jobDefaults({ "from-savepoint": "file:/data/j/ab/chk-7" }).restoreFrom, "/data/j/ab/chk-7");
    assert.equal(jobDefaults({ "from-savepoint": "file:/data/j/ab/chk-7/_metadata" }).restoreFrom, "/data/j/ab/chk-7");
  });

  test("launchCommand() drops the restore flags and quotes for the shell; restoreCommand() appends --from-savepoint", () => {
    const argv = ["--from-savepoint", "/a", "--port", "0", "--fresh", "--allow-non-restored-state", "--from-savepoint=/b", "--host", "my host"];
    assert.equal(launchCommand("weir run job.ts", argv), "weir run job.ts --port 0 --host 'my host'");
    assert.equal(restoreCommand("npm start --", "/tmp/it's"), "npm start -- --from-savepoint '/tmp/it'\\''s'");
    assert.equal(shellQuote("/tmp/sp/savepoint-1a"), "/tmp/sp/savepoint-1a");
    assert.equal(shellQuote(""), "''");
  });

  test("applyCommandLine() sets the defaults from a job file's own command line over the file's base", () => {
    const before = environmentDefaults();
    try {
      const d = applyCommandLine({ parallelism: 2, http: { port: 8081 } }, { argv: ["--port", "0", "--from-savepoint", "/sp/x"] });
      assert.equal(d.parallelism, 2);
      assert.equal(d.http?.port, 0);
      assert.equal(d.restoreFrom, "/sp/x");
      assert.match(d.launchCommand ?? "", / --port 0$/);
      assert.deepEqual(environmentDefaults(), d);
      assert.equal(usageOf(() => applyCommandLine({}, { argv: ["extra"] })), 'Unexpected argument "extra"');
    } finally {
      setEnvironmentDefaults(before);
    }
  });

  test("jobCommandLine() reads the job file's own flags beside the job flags, directly and under weir run", () => {
    const before = environmentDefaults();
    try {
      const direct = jobCommandLine({ parallelism: 2 }, { argv: ["--input", "in dir", "--from-savepoint", "/sp/a", "--port", "0"], flags: { input: "string", verbose: "boolean" } });
      assert.deepEqual(direct.flags, { input: "in dir" });
      assert.equal(direct.defaults.restoreFrom, "/sp/a");
      assert.match(direct.defaults.launchCommand ?? "", / --input 'in dir' --port 0$/, "the own flags stay in the command a restore repeats");
      assert.equal(usageOf(() => jobCommandLine({}, { argv: ["--inptu", "x"], flags: { input: "string" } })), "Unknown option --inptu");
      assert.throws(() => jobCommandLine({}, { argv: [], flags: { port: "string" } }), (e: unknown) => e instanceof WeirError && e.code === "invalid_option");

      // As weir run leaves it: its flags in force, the job's arguments (after --) parsed instead of argv.
      setEnvironmentDefaults({ parallelism: 3, http: { port: 0, hostname: "127.0.0.1" }, launchCommand: "weir run job.ts --port 0 -- --input in" });
      markStartedByCli(["--input", "in", "--fresh"]);
      const underCli = jobCommandLine({ parallelism: 2, http: { port: 8081 } }, { argv: ["--ignored"], flags: { input: "string" } });
      assert.deepEqual(underCli.flags, { input: "in" });
      assert.equal(underCli.defaults.parallelism, 3, "weir run's --parallelism wins over the file's default");
      assert.equal(underCli.defaults.http?.port, 0);
      assert.equal(underCli.defaults.fresh, true, "a job flag among the job's arguments counts");
      assert.equal(restoreCommand(underCli.defaults.launchCommand!, "/sp/b"), "weir run job.ts --port 0 --from-savepoint /sp/b -- --input in");
    } finally {
      markStartedByCli(undefined);
      setEnvironmentDefaults(before);
    }
  });
});

describe("job flags help", () => {
  test("jobFlagsHelp() names the defaults the job file passes in, else weir's", () => {
    const mine = jobFlagsHelp({ parallelism: 2, http: { port: 9090, hostname: "0.0.0.0" } });
    assert.match(mine, /--parallelism N +default parallelism \(default 2\)/);
    assert.match(mine, /--port P +REST API port \(default 9090;/);
    assert.match(mine, /--host H +address to bind \(default 0\.0\.0\.0\)/);
    assert.match(jobFlagsHelp(), /\(default 1\)/);
  });
});
