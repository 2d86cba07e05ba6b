import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { WEIR_VERSION } from "../../version.ts";
import { runCli } from "./helpers.ts";

const SLOW = { timeout: 240_000 };

/** A savepoint of a keyed count (uid "count", state "n", keys "k0".."k2") and a map state. */
async function savepoint(dir: string): Promise<string> {
  const env = new StreamEnvironment({ jobName: "cli-tools", parallelism: 2, storage: new FileStorage(join(dir, "store")) });
  const sink = new CollectSink<number>();
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 2000 }), { uid: "numbers" })
    .keyBy((n) => `k${n % 3}`)
    .process<number>((n, ctx) => {
      const c = ctx.valueState<number>("n");
      c.update((c.value() ?? 0) + 1);
      ctx.mapState<string, bigint>("last").put("v", BigInt(n));
      ctx.emit(n);
    }, { uid: "count" })
    .sinkTo(sink, { uid: "out" });
  const job = await env.execute();
  // Until a record of every key is in a checkpoint: the two source subtasks start apart, and
  // on a loaded machine one may not have emitted a record yet.
  do await job.triggerCheckpoint();
  while (new Set(sink.committed.map((n) => n % 3)).size < 3);
  return await job.stop({ savepoint: join(dir, "sp") });
}

describe("weir savepoint inspect|read|rewrite", () => {
  test("inspect shows operators, key groups, states and sizes; read prints JSON lines; rewrite prints the new savepoint", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-tools-"));
    try {
      const sp = await savepoint(dir);
      const shown = await runCli(["savepoint", "inspect", sp]);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, new RegExp(`^Savepoint ${sp}$`, "m"));
      assert.match(shown.stdout, /^ {2}type +SAVEPOINT \(stop-with-savepoint: its sink transactions are committed\), checkpoint \d+$/m);
      assert.match(shown.stdout, /^ {2}maxParallelism +128$/m);
      assert.match(shown.stdout, new RegExp(`^ {2}weir version +${WEIR_VERSION.replaceAll(".", "\\.")}, format version 1$`, "m"));
      assert.match(shown.stdout, /^ {2}checksums +verified$/m);
      assert.match(shown.stdout, /^Operator count {2}\(vertex v\d "[^"]+", parallelism 2\)$/m);
      assert.match(shown.stdout, /^ {2}0 +0-63 +[\d.]+ (B|KiB)/m);
      assert.match(shown.stdout, /^ {2}1 +64-127 +[\d.]+ (B|KiB)/m);
      assert.match(shown.stdout, /n \(value\??, \d keys\)/);
      assert.match(shown.stdout, /last \(map\??, \d keys\)/);
      const json = await runCli(["savepoint", "inspect", sp, "--json"]);
      const info = JSON.parse(json.stdout);
      assert.deepEqual(info.operators.map((o: { uid: string }) => o.uid), ["numbers", "count", "out"]);

      const read = await runCli(["savepoint", "read", sp, "--uid", "count", "--state", "n"]);
      assert.equal(read.code, 0, read.stderr);
      const rows = read.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(rows.map((r) => r.key).sort(), ["k0", "k1", "k2"]);
      for (const r of rows) assert.ok(r.uid === "count" && r.state === "n" && r.kind === "value" && Number.isInteger(r.value) && r.value > 0, JSON.stringify(r));
      const one = await runCli(["savepoint", "read", `${sp}/_metadata`, "--uid", "count", "--state", "last", "--key", "k1"]);
      assert.equal(one.code, 0, one.stderr);
      const last = JSON.parse(one.stdout);
      assert.equal(last.key, "k1");
      assert.ok(/^\d+$/.test(last.value.$map[0][1].$bigint), one.stdout);

      const out = join(dir, "rewritten");
      const rewritten = await runCli(["savepoint", "rewrite", sp, "--out", out, "--rename-uid", "count=counter", "--max-parallelism", "64"]);
      assert.equal(rewritten.code, 0, rewritten.stderr);
      assert.equal(rewritten.stdout, `${out}\n`);
      assert.match(rewritten.stderr, /renamed count to counter, maxParallelism 128 to 64 \(6 keyed entries re-partitioned\)/);
      const after = await runCli(["savepoint", "inspect", out]);
      assert.match(after.stdout, /^ {2}maxParallelism +64$/m);
      assert.match(after.stdout, /^Operator counter /m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a foreign, corrupt or partial directory is refused with an error naming the file; rewrite never writes into its input", SLOW, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-cli-tools-bad-"));
    try {
      const sp = await savepoint(dir);
      const foreign = join(dir, "foreign");
      mkdirSync(foreign);
      writeFileSync(join(foreign, "notes.txt"), "hello");
      const stateFile = readdirSync(sp).find((n) => n !== "_metadata")!;
      const copy = (name: string, damage: (d: string) => void) => {
        const d = join(dir, name);
        cpSync(sp, d, { recursive: true });
        damage(d);
        return d;
      };
      const badMeta = copy("bad-meta", (d) => writeFileSync(join(d, "_metadata"), "not cbor at all"));
      const missing = copy("missing", (d) => rmSync(join(d, stateFile)));
      const truncated = copy("truncated", (d) => truncateSync(join(d, stateFile), 3));
      const flipped = copy("flipped", (d) => {
        const bytes = readFileSync(join(d, stateFile));
        bytes[bytes.length - 2] ^= 0x01;
        writeFileSync(join(d, stateFile), bytes);
      });
      const cases: [string, RegExp][] = [
        [foreign, new RegExp(`_metadata.*${foreign}`)],
        [join(dir, "nowhere"), /_metadata/],
        [badMeta, new RegExp(`_metadata.*${badMeta}|${badMeta}.*_metadata`)],
        [missing, new RegExp(`${stateFile}`)],
        [truncated, new RegExp(`${stateFile}`)],
        [flipped, new RegExp(`${stateFile}`)],
      ];
      // inspect meets every case; read and rewrite open through the same code, so two cases each.
      const runs: string[][] = cases.map(([path]) => ["savepoint", "inspect", path]);
      for (const path of [foreign, flipped]) runs.push(["savepoint", "read", path, "--uid", "count"], ["savepoint", "rewrite", path, "--out", join(dir, "out-of-bad")]);
      for (const args of runs) {
        const names = cases.find(([path]) => args[2] === path)![1];
        {
          const r = await runCli(args);
          assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
          assert.equal(r.stdout, "");
          assert.match(r.stderr, /^weir: /);
          assert.match(r.stderr, names, args.join(" "));
          assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        }
      }

      const original = readdirSync(sp).map((n) => [n, readFileSync(join(sp, n)).toString("base64")]);
      const into = await runCli(["savepoint", "rewrite", sp, "--out", join(sp, "inner")]);
      assert.equal(into.code, 2);
      assert.match(into.stderr, /must be a directory apart from the savepoint/);
      const onto = await runCli(["savepoint", "rewrite", sp, "--out", join(dir, "bad-meta")]);
      assert.equal(onto.code, 1);
      assert.match(onto.stderr, /^weir: The rewrite target .*bad-meta is not empty; choose a new directory\n$/);
      assert.deepEqual(readdirSync(sp).map((n) => [n, readFileSync(join(sp, n)).toString("base64")]), original, "the input is untouched");

      const usages: [string[], RegExp][] = [
        [["savepoint", "read", sp], /^weir: weir savepoint read needs --uid U/],
        [["savepoint", "rewrite", sp], /^weir: weir savepoint rewrite needs --out DIR2/],
        [["savepoint", "rewrite", sp, "--out", join(dir, "x"), "--rename-uid", "count"], /^weir: Option --rename-uid takes OLD=NEW, got "count"/],
        [["savepoint", "inspect"], /^weir: weir savepoint inspect needs exactly one savepoint directory\nRun "weir savepoint inspect --help" for usage\.\n$/],
      ];
      for (const [args, text] of usages) {
        const r = await runCli(args);
        assert.equal(r.code, 2, args.join(" "));
        assert.match(r.stderr, text);
      }
      const unknownUid = await runCli(["savepoint", "read", sp, "--uid", "nope"]);
      assert.equal(unknownUid.code, 1);
      assert.match(unknownUid.stderr, /has no operator uid "nope"; it has "numbers", "count", "out"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
