/**
 * DenoKvStorage against a real local Deno KV (SQLite file). Deno-only: under Bun the
 * KV tests skip and one test checks the refusal instead. Run by `npm run test:deno-deploy`.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DenoKvStorage, WeirError } from "../../../mod.ts";
import { assertExactlyOnce, countingJob, FailOnce } from "../../helpers.ts";
import { runStorageConformance } from "../../storage/conformance.ts";

const isDeno = "Deno" in globalThis;
const skip = isDeno ? false : "Deno KV exists only under Deno";

/** A raw handle on the same database, to look under the adapter. */
type RawKv = {
  list(s: { prefix: unknown[] }): AsyncIterable<{ key: unknown[]; value: unknown }>;
  set(k: unknown[], v: unknown): Promise<unknown>;
  close(): void;
};
function openRaw(path: string): Promise<RawKv> {
  return (globalThis as unknown as { Deno: { openKv(p: string): Promise<RawKv> } }).Deno.openKv(path);
}
async function rawKeys(path: string, prefix: unknown[]): Promise<{ key: unknown[]; size: number }[]> {
  const kv = await openRaw(path);
  const out: { key: unknown[]; size: number }[] = [];
  for await (const e of kv.list({ prefix })) out.push({ key: e.key, size: e.value instanceof Uint8Array ? e.value.length : 0 });
  kv.close();
  return out;
}

function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), "weir-denokv-")), "kv.db");
}

/** Bytes whose every position matters, so a misplaced chunk shows. */
function pattern(sizeBytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(sizeBytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < sizeBytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

if (isDeno) {
  runStorageConformance("DenoKvStorage (file)", () => new DenoKvStorage(tempDb()));
  runStorageConformance("DenoKvStorage (:memory:)", () => new DenoKvStorage(":memory:"));
}

describe("DenoKvStorage", { skip }, () => {
  test("put() and get() of 1 MiB and 10 MiB values: chunked below KV's 64 KiB value limit, read back byte for byte", async () => {
    const path = tempDb();
    const s = new DenoKvStorage(path);
    const oneMiB = pattern(1024 * 1024, 1);
    const tenMiB = pattern(10 * 1024 * 1024, 2);
    await s.put("job/chk-1/one", oneMiB);
    await s.put("job/chk-1/ten", tenMiB);
    assert.deepEqual(await s.get("job/chk-1/one"), oneMiB);
    assert.deepEqual(await s.get("job/chk-1/ten"), tenMiB);
    s.close();
    const chunks = await rawKeys(path, ["weir", "chunk"]);
    assert.ok(chunks.length >= Math.ceil((11 * 1024 * 1024) / 65_536), `${chunks.length} chunks`);
    assert.ok(chunks.every((c) => c.size <= 65_536), "every stored value fits KV's limit");
    assert.equal(chunks.reduce((n, c) => n + c.size, 0), 11 * 1024 * 1024);
  });

  test("put() over a chunked value and delete() leave no chunks behind", async () => {
    const path = tempDb();
    const s = new DenoKvStorage(path);
    await s.put("k/v", pattern(3 * 1024 * 1024, 3));
    await s.put("k/v", pattern(2 * 1024 * 1024, 4));
    assert.deepEqual(await s.get("k/v"), pattern(2 * 1024 * 1024, 4));
    assert.equal((await rawKeys(path, ["weir", "chunk"])).reduce((n, c) => n + c.size, 0), 2 * 1024 * 1024, "only the new generation's chunks remain");
    await s.put("k/v", new Uint8Array([7]));
    assert.deepEqual(await rawKeys(path, ["weir", "chunk"]), [], "a small value lives in its entry");
    await s.put("k/w", pattern(200_000, 5));
    await s.delete("k/w");
    assert.equal(await s.get("k/w"), undefined);
    assert.deepEqual(await rawKeys(path, ["weir", "chunk"]), []);
    s.close();
  });

  test("a reader during a large put sees the old bytes or the new, never a mix", async () => {
    const s = new DenoKvStorage(tempDb());
    const before = new Uint8Array(2 * 1024 * 1024).fill(1);
    const after = new Uint8Array(2 * 1024 * 1024).fill(2);
    await s.put("x", before);
    let done = false;
    const writing = s.put("x", after).then(() => (done = true));
    const seen = new Set<number>();
    while (!done) {
      const got = (await s.get("x"))!;
      assert.equal(got.length, before.length);
      assert.ok(got.every((b) => b === got[0]), "one generation per read");
      seen.add(got[0]);
    }
    await writing;
    assert.deepEqual(await s.get("x"), after);
    assert.ok(seen.has(1), "a read overlapped the write");
    s.close();
  });

  test("concurrent puts to one key: the last flip wins and no generation's chunks leak", async () => {
    const path = tempDb();
    const s = new DenoKvStorage(path);
    const values = [1, 2, 3, 4].map((i) => new Uint8Array(300_000).fill(i));
    await Promise.all(values.map((v) => s.put("same", v)));
    const got = (await s.get("same"))!;
    assert.ok(values.some((v) => v[0] === got[0]) && got.every((b) => b === got[0]));
    assert.equal((await rawKeys(path, ["weir", "chunk"])).reduce((n, c) => n + c.size, 0), 300_000);
    s.close();
  });

  test("chunks left by a crash before the flip are invisible, and deletePrefix() removes them", async () => {
    const path = tempDb();
    const s = new DenoKvStorage(path);
    await s.put("job/chk-2/state", new Uint8Array([1, 2, 3]));
    s.close();
    const raw = await openRaw(path);
    await raw.set(["weir", "chunk", "job/chk-2/state", "crashed-generation", 0], new Uint8Array(1000));
    await raw.set(["weir", "chunk", "job/chk-2/other", "crashed-generation", 0], new Uint8Array(1000));
    raw.close();
    const t = new DenoKvStorage(path);
    assert.deepEqual(await t.get("job/chk-2/state"), new Uint8Array([1, 2, 3]));
    assert.deepEqual(await t.list("job/"), ["job/chk-2/state"]);
    await t.deletePrefix("job/chk-2/");
    assert.deepEqual(await rawKeys(path, ["weir"]), []);
    t.close();
  });

  test("a missing chunk of the current generation is reported as storage_corrupt naming the key", async () => {
    const path = tempDb();
    const s = new DenoKvStorage(path);
    await s.put("c/big", pattern(500_000, 6));
    s.close();
    const raw = await openRaw(path);
    const [first] = await rawKeys(path, ["weir", "chunk", "c/big"]);
    await (raw as unknown as { delete(k: unknown[]): Promise<void> }).delete(first.key);
    raw.close();
    const t = new DenoKvStorage(path);
    await assert.rejects(t.get("c/big"), (e: unknown) => e instanceof WeirError && e.code === "storage_corrupt" && e.message.includes("c/big"));
    t.close();
  });

  test("data survives reopening, and a prefix keeps two tenants apart in one database", async () => {
    const path = tempDb();
    const a = new DenoKvStorage(path);
    await a.put("x/y", pattern(100_000, 7));
    a.close();
    const b = new DenoKvStorage(path);
    assert.deepEqual(await b.get("x/y"), pattern(100_000, 7));
    b.close();
    const other = new DenoKvStorage(path, { prefix: ["tenant-2"] });
    assert.deepEqual(await other.list(""), []);
    other.close();
  });

  test("a fence: once a newer adapter opens under the same name, the older one's writes and deletes are refused with storage_fenced", async () => {
    const path = tempDb();
    const older = await DenoKvStorage.open(path, { fence: "job" });
    await older.put("job/a", new Uint8Array([1]));
    await older.put("job/big", pattern(200_000, 8));
    const newer = await DenoKvStorage.open(path, { fence: "job" });
    const fenced = (e: unknown) => e instanceof WeirError && e.code === "storage_fenced" && e.message.includes('"job"');
    await assert.rejects(older.put("job/a", new Uint8Array([2])), fenced);
    await assert.rejects(older.put("job/big", pattern(300_000, 9)), fenced);
    await assert.rejects(older.put("job/new", new Uint8Array([3])), fenced);
    await assert.rejects(older.delete("job/a"), fenced);
    await assert.rejects(older.deletePrefix("job/"), fenced);
    // Reads still work for the older one; the newer one sees the state as the older left it and writes on.
    assert.deepEqual(await older.get("job/a"), new Uint8Array([1]));
    assert.deepEqual(await newer.get("job/big"), pattern(200_000, 8));
    assert.deepEqual(await newer.list("job/"), ["job/a", "job/big"]);
    await newer.put("job/a", new Uint8Array([4]));
    assert.deepEqual(await newer.get("job/a"), new Uint8Array([4]));
    // Another fence name, and no fence at all, are not affected.
    const other = await DenoKvStorage.open(path, { fence: "other-job" });
    await other.put("other/x", new Uint8Array([5]));
    const plain = new DenoKvStorage(path);
    await plain.put("plain/x", new Uint8Array([6]));
    for (const s of [older, newer, other, plain]) s.close();
  });

  test("open() of a path in a missing directory fails with storage_failed naming the path", async () => {
    const bad = join(tempDb(), "no-such-dir", "kv.db");
    await assert.rejects(DenoKvStorage.open(bad), (e: unknown) => e instanceof WeirError && e.code === "storage_failed" && e.message.includes(bad));
  });

  test("a closed adapter refuses calls", async () => {
    const s = await DenoKvStorage.open(":memory:");
    s.close();
    await assert.rejects(s.get("a"), (e: unknown) => e instanceof WeirError && e.code === "storage_failed");
  });

  test("a job on Deno KV recovers exactly-once from its checkpoints", async () => {
    const storage = new DenoKvStorage(tempDb());
    // The failure waits for a completed checkpoint on KV, so that the restart restores one
    // however slowly this machine writes.
    let completed = 0;
    const fail = new FailOnce((x) => x >= 6000 && completed >= 1);
    const { env, sink, n } = countingJob({ storage, checkpoint: { interval: 10 }, failInMap: fail, ratePerSecond: 20_000, n: 12_000 });
    const job = await env.execute();
    job.on((e) => void (e.type === "checkpoint_completed" && completed++));
    const result = await job.done;
    assert.equal(result.status, "finished");
    assert.ok(fail.fired, "the injected failure fired after a completed checkpoint");
    assert.ok((job.checkpointStats().latest.restored?.id ?? 0) >= 1);
    assertExactlyOnce(sink.committed, n);
    storage.close();
  });
});

describe("DenoKvStorage outside Deno", { skip: isDeno ? "this runtime is Deno" : false }, () => {
  test("importing is harmless and the first call rejects with storage_unavailable", async () => {
    const s = new DenoKvStorage();
    await assert.rejects(s.get("a/b"), (e: unknown) => e instanceof WeirError && e.code === "storage_unavailable");
  });
});

describe("DenoKvStorage options", () => {
  test("a bad path or prefix is refused with invalid_option", () => {
    assert.throws(() => new DenoKvStorage(""), (e: unknown) => e instanceof WeirError && e.code === "invalid_option");
    assert.throws(() => new DenoKvStorage(":memory:", { prefix: [] }), (e: unknown) => e instanceof WeirError && e.code === "invalid_option");
    assert.throws(() => new DenoKvStorage(":memory:", { fence: "" }), (e: unknown) => e instanceof WeirError && e.code === "invalid_option");
  });
});
