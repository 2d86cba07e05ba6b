import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, SequenceSource, StreamEnvironment, WeirError } from "../../mod.ts";
import { describeSavepoint, openSavepoint, stateRows } from "../../checkpoint/savepoint_reader.ts";
import { rewriteSavepoint } from "../../checkpoint/savepoint_rewrite.ts";
import { keyGroupOf } from "../../state/key_group.ts";

const COUNT = 6000;

interface Shape {
  sumUid: string;
  extra: boolean;
  maxParallelism: number;
  parallelism: number;
  rate?: number;
  restoreFrom?: string;
  allowNonRestoredState?: boolean;
}

/** n % 5 keyed running sums; `extra` adds a stateful operator that counts per key. */
function build(dir: string, shape: Shape) {
  const env = new StreamEnvironment({
    jobName: `sp-tools-${shape.sumUid}`,
    parallelism: shape.parallelism,
    maxParallelism: shape.maxParallelism,
    storage: new FileStorage(join(dir, "store")),
    restoreFrom: shape.restoreFrom,
    allowNonRestoredState: shape.allowNonRestoredState,
  });
  const sink = new CollectSink<[number, number]>();
  let s = env.fromSource(new SequenceSource(0, COUNT, shape.rate ? { ratePerSecond: shape.rate } : {}), { uid: "numbers" })
    .map((n): [number, number] => [n % 5, n], { uid: "pair" })
    .keyBy((p) => p[0])
    .reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: shape.sumUid });
  if (shape.extra) {
    s = s.keyBy((p) => p[0]).process<[number, number]>((p, ctx) => {
      const seen = ctx.valueState<number>("seen");
      seen.update((seen.value() ?? 0) + 1);
      ctx.listState<number>("recent").add(p[1]);
      ctx.emit(p);
    }, { uid: "extra" });
  }
  s.sinkTo(sink, { uid: "out" });
  return { env, sink };
}

function totals(): Record<number, number> {
  const t: Record<number, number> = {};
  for (let n = 0; n < COUNT; n++) t[n % 5] = (t[n % 5] ?? 0) + n;
  return t;
}

function lastPerKey(sink: CollectSink<[number, number]>): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [k, v] of sink.committed) out[k] = v;
  return out;
}

/** Every file under dir with its bytes, to prove a directory unchanged. */
function snapshotDir(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const p = join(dir, name);
    if (statSync(p).isFile()) out.set(name, Buffer.from(readFileSync(p)).toString("base64"));
  }
  return out;
}

async function takeSavepoint(dir: string): Promise<string> {
  const { env, sink } = build(dir, { sumUid: "sum", extra: true, maxParallelism: 128, parallelism: 2, rate: 3000 });
  const job = await env.execute();
  // Every key committed once, so the savepoint surely holds state of every key (a fixed
  // number of records in could all be of four keys on a loaded machine).
  while (new Set(sink.committed.map(([k]) => k)).size < 5) await job.triggerCheckpoint();
  return await job.stop({ savepoint: join(dir, "sp") });
}

describe("savepoint inspect, read and rewrite", () => {
  test("describeSavepoint() and stateRows() show operators, key-group ranges, states and values", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-read-"));
    try {
      const location = await takeSavepoint(dir);
      const sp = await openSavepoint(`${location}/_metadata`);
      const info = describeSavepoint(sp);
      assert.equal(info.type, "SAVEPOINT");
      assert.equal(info.maxParallelism, 128);
      assert.deepEqual(info.operators.map((o) => o.uid), ["numbers", "pair", "sum", "extra", "out"]);
      const sum = info.operators.find((o) => o.uid === "sum")!;
      assert.equal(sum.parallelism, 2);
      assert.deepEqual(sum.subtasks.map((s) => s.keyGroupRange), [{ start: 0, end: 63 }, { start: 64, end: 127 }]);
      const keys = sum.subtasks.reduce((n, s) => n + s.keyed.reduce((m, k) => m + k.keys, 0), 0);
      assert.equal(keys, 5, "one entry per key over both subtasks");
      const extra = info.operators.find((o) => o.uid === "extra")!;
      const names = new Set(extra.subtasks.flatMap((s) => s.keyed.map((k) => `${k.name}:${k.kind}`)));
      assert.ok(names.has("seen:value") && names.has("recent:list"), [...names].join());
      assert.ok(info.totalBytes > 0);
      assert.equal(info.operators.find((o) => o.uid === "numbers")!.subtasks.reduce((n, s) => n + s.operatorStateEntries, 0), 2, "one split per source subtask");

      const seen = [...stateRows(sp, { uid: "extra", state: "seen" })];
      assert.equal(seen.length, 5);
      for (const row of seen) {
        assert.ok("key" in row && row.keyGroup === keyGroupOf(row.key, 128), "each entry sits in its key's group");
      }
      const three = [...stateRows(sp, { uid: "sum", key: "3" })];
      assert.equal(three.length, 1);
      assert.ok("value" in three[0] && Array.isArray(three[0].value) && (three[0].value as number[])[0] === 3);
      assert.deepEqual([...stateRows(sp, { uid: "sum", key: '"3"' })], [], "the string \"3\" is another key");
      const splits = [...stateRows(sp, { uid: "numbers" })];
      assert.equal(splits.length, 2);
      assert.throws(() => [...stateRows(sp, { uid: "nope" })], (e: unknown) => e instanceof WeirError && e.code === "uid_not_found" && /"sum"/.test(e.message));
      assert.throws(() => [...stateRows(sp, { uid: "extra", state: "nope" })], (e: unknown) => e instanceof WeirError && e.code === "state_not_found" && /"seen"/.test(e.message));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("rewrite drops and renames uids and re-partitions key groups; the job restores at a new maxParallelism and parallelism, exactly-once; the input is untouched", { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-rewrite-"));
    try {
      const location = await takeSavepoint(dir);
      const before = snapshotDir(location);

      // A restore alone refuses another maxParallelism.
      const refused = build(dir, { sumUid: "sum", extra: true, maxParallelism: 32, parallelism: 3, restoreFrom: location });
      await assert.rejects(refused.env.execute(), (e: unknown) => e instanceof WeirError && e.code === "incompatible_restore" && /^Savepoint \d+ was taken with maxParallelism/.test(e.message));

      const out = join(dir, "rewritten");
      const summary = await rewriteSavepoint(await openSavepoint(location), { storage: new FileStorage(out), dir: "", location: out }, {
        dropUids: ["extra"],
        renameUids: [["sum", "total"]],
        maxParallelism: 32,
      });
      assert.equal(summary.keyedEntries, 5, "the five keys of the reduce moved");
      assert.deepEqual(snapshotDir(location), before, "the input savepoint is unchanged");

      const info = describeSavepoint(await openSavepoint(out));
      assert.equal(info.maxParallelism, 32);
      assert.deepEqual(info.operators.map((o) => o.uid), ["numbers", "pair", "total", "out"]);
      for (const s of info.operators.find((o) => o.uid === "total")!.subtasks) {
        for (const row of stateRows(await openSavepoint(out), { uid: "total" })) {
          if ("keyGroup" in row) assert.equal(row.keyGroup, keyGroupOf(row.key, 32));
        }
        assert.ok(s.keyGroupRange.end <= 31);
      }

      // No extra, uid total, maxParallelism 32, parallelism 3, and no allowNonRestoredState needed.
      const { env, sink } = build(dir, { sumUid: "total", extra: false, maxParallelism: 32, parallelism: 3, restoreFrom: out });
      const result = await (await env.execute()).done;
      assert.equal(result.status, "finished", String(result.error));
      assert.deepEqual(lastPerKey(sink), totals(), "sums continue from the savepoint: nothing lost, nothing twice");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("rewrite refuses clashes, unknown uids, a too small maxParallelism and a non-empty target, writing nothing", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-refuse-"));
    try {
      const sp = await openSavepoint(await takeSavepoint(dir));
      const target = () => ({ storage: new FileStorage(join(dir, "out")), dir: "", location: join(dir, "out") });
      const refuses = async (options: Parameters<typeof rewriteSavepoint>[2], code: string, text: RegExp) => {
        await assert.rejects(rewriteSavepoint(sp, target(), options), (e: unknown) => e instanceof WeirError && e.code === code && text.test(e.message));
      };
      await refuses({ dropUids: ["nope"] }, "uid_not_found", /--drop-uid names uid "nope"/);
      await refuses({ renameUids: [["sum", "extra"]] }, "invalid_rewrite", /Two operators would have uid "extra"/);
      await refuses({ dropUids: ["sum"], renameUids: [["sum", "x"]] }, "invalid_rewrite", /both dropped and renamed/);
      await refuses({ maxParallelism: 1 }, "invalid_rewrite", /below the parallelism 2/);
      assert.deepEqual(readdirSync(dir).filter((n) => n === "out"), [], "nothing written");
      writeFileSync(join(dir, "occupied"), "x");
      await assert.rejects(
        rewriteSavepoint(sp, { storage: new FileStorage(dir), dir: "", location: dir }, {}),
        (e: unknown) => e instanceof WeirError && e.code === "savepoint_exists",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a retained sqlite checkpoint (incremental by default): inspect names its backend's own files, read and rewrite refuse it naming why", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "weir-sp-incremental-"));
    try {
      const env = new StreamEnvironment({ jobName: "sp-tools-sqlite", parallelism: 2, storage: new FileStorage(join(dir, "store")), state: { backend: "sqlite" } });
      env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 3000 }), { uid: "numbers" })
        .map((n): [number, number] => [n % 5, n], { uid: "pair" })
        .keyBy((p) => p[0])
        .reduce((a, b): [number, number] => [a[0], a[1] + b[1]], { uid: "sum" })
        .sinkTo(new CollectSink<[number, number]>(), { uid: "out" });
      const job = await env.execute();
      const d = await job.triggerCheckpoint();
      assert.equal(d.status, "COMPLETED", d.failure_message);
      await job.cancel();
      const sp = await openSavepoint((d as typeof d & { external_path: string }).external_path);
      const sum = describeSavepoint(sp).operators.find((o) => o.uid === "sum")!;
      for (const s of sum.subtasks) {
        assert.equal(s.incrementalKeyed?.backend, "sqlite");
        assert.ok(s.incrementalKeyed.sharedFiles > 0);
      }
      assert.throws(() => [...stateRows(sp, { uid: "sum" })], (e: unknown) =>
        e instanceof WeirError && e.code === "format_unsupported" && /"sqlite" backend's own incremental files/.test(e.message) && /savepoint/.test(e.message));
      await assert.rejects(rewriteSavepoint(sp, { storage: new FileStorage(join(dir, "out")), dir: "", location: join(dir, "out") }, { dropUids: ["pair"] }), (e: unknown) =>
        e instanceof WeirError && e.code === "invalid_rewrite" && /own incremental files/.test(e.message));
      assert.deepEqual(readdirSync(dir).filter((n) => n === "out"), [], "nothing written");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

