/**
 * Every state file's checksum, and one of `_metadata` itself, is recorded and verified on
 * restore (issue 8, fault 5: a changed byte of an encoded count went unnoticed and one key
 * continued from 1001 instead of 1000).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, StreamEnvironment, WeirError } from "../../mod.ts";
import type { EnvironmentOptions, JobEvent, JobHandle } from "../../mod.ts";
import { ChecksumInSlices, checksumOf, crc32c } from "../../checkpoint/checksum.ts";
import { decodeMetadata } from "../../checkpoint/metadata.ts";
import { encode } from "../../codec/cbor.ts";
import { GatedSequence } from "../gated_sequence.ts";

type Count = [key: number, count: number];

/** Counts records per key (n % 2) in keyed ValueState. */
function start(source: GatedSequence, options: EnvironmentOptions, sink = new CollectSink<Count>()): Promise<JobHandle> {
  const env = new StreamEnvironment({ jobName: "crc", restart: { strategy: "none" }, batchSize: 64, ...options });
  env.fromSource<number>(source, { uid: "numbers", parallelism: 1 })
    .keyBy((n) => n % 2)
    .process<Count>((n, ctx) => {
      const count = ctx.valueState<number>("count");
      count.update((count.value() ?? 0) + 1);
      source.seen = Math.max(source.seen, n);
      ctx.emit([n % 2, count.value()!]);
    }, { uid: "counter", parallelism: 1 })
    .sinkTo(sink, { uid: "out", parallelism: 1 });
  return env.execute();
}

/** A retained checkpoint in which each of the two keys has counted exactly 1000. */
async function retainedCheckpoint(): Promise<{ root: string; dir: string }> {
  const root = mkdtempSync(join(tmpdir(), "weir-crc-"));
  const source = new GatedSequence(10_000);
  const h = await start(source, { storage: new FileStorage(root) });
  await source.allow(2000);
  const chk = await h.triggerCheckpoint();
  assert.equal(chk.status, "COMPLETED");
  await h.cancel();
  return { root, dir: join(root, "crc", h.id, `chk-${chk.id}`) };
}

/** The state file of the checkpoint's counter subtask (the only non-source file). */
function stateFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f !== "_metadata").map((f) => join(dir, f));
}

function restoring(dir: string): Promise<JobHandle> {
  const source = new GatedSequence(10_000);
  source.allowed = 2500;
  return start(source, { restoreFrom: dir });
}

/** The bitwise definition of CRC-32C, to check the table-driven one against. */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe("checkpoint checksums", () => {
  test("crc32c() matches RFC 3720's test vectors and the bitwise definition at every length", () => {
    assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7919 + 13) & 0xff);
    for (let n = 0; n <= bytes.length; n += 1) assert.equal(crc32c(bytes.subarray(0, n)), crc32cBitwise(bytes.subarray(0, n)), `length ${n}`);
    assert.equal(checksumOf(new TextEncoder().encode("123456789")), "crc32c:e3069283");
  });

  test("crc32c() and ChecksumInSlices agree with the bitwise definition at every alignment of the bytes and every slice", () => {
    const bytes = Uint8Array.from({ length: 200 }, (_, i) => (i * 2654435761) >>> 24);
    for (let offset = 0; offset < 8; offset++) {
      for (const n of [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 191]) {
        const view = bytes.subarray(offset, offset + n);
        const expected = crc32cBitwise(view);
        assert.equal(crc32c(view), expected, `offset ${offset}, length ${n}`);
        for (const slice of [1, 3, 8, 13]) {
          const c = new ChecksumInSlices(view);
          while (!c.step(slice));
          assert.equal(c.value, `crc32c:${expected.toString(16).padStart(8, "0")}`, `offset ${offset}, length ${n}, slices of ${slice}`);
        }
      }
    }
  });

  test("_metadata records a checksum of every state file and of itself", async () => {
    const { dir } = await retainedCheckpoint();
    const { metadata, checksummed } = decodeMetadata(readFileSync(join(dir, "_metadata")), "_metadata");
    assert.equal(checksummed, true);
    assert.ok(metadata.subtasks.length >= 2);
    for (const ref of metadata.subtasks) assert.equal(ref.checksum, checksumOf(readFileSync(join(dir, ref.file))), ref.file);
  });

  test("a changed byte of an encoded count is refused, naming the file (the issue's input)", async () => {
    const { dir } = await retainedCheckpoint();
    // 1000 in CBOR is 19 03 e8; make it 1001 in whichever state file holds it.
    let patched: string | undefined;
    for (const file of stateFiles(dir)) {
      const bytes = readFileSync(file);
      const at = bytes.findIndex((b, i) => b === 0x19 && bytes[i + 1] === 0x03 && bytes[i + 2] === 0xe8);
      if (at < 0) continue;
      bytes[at + 2] = 0xe9;
      writeFileSync(file, bytes);
      patched = file;
      break;
    }
    assert.ok(patched, "no state file holds the count 1000");
    const name = patched.slice(patched.lastIndexOf("/") + 1);
    await assert.rejects(restoring(dir), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(name) && e.message.includes("checksum"));
  });

  test("any single changed byte of a state file or of _metadata is refused, naming the file", async () => {
    const { dir } = await retainedCheckpoint();
    for (const file of [...stateFiles(dir), join(dir, "_metadata")]) {
      const original = readFileSync(file);
      for (const at of [0, 1, Math.floor(original.length / 2), original.length - 1]) {
        const bytes = Uint8Array.from(original);
        bytes[at] ^= 0x01;
        writeFileSync(file, bytes);
        const name = file.slice(file.lastIndexOf("/") + 1);
        await assert.rejects(restoring(dir), (e: unknown) =>
          e instanceof WeirError && ["checkpoint_corrupt", "storage_corrupt", "format_unsupported"].includes(e.code) && e.message.includes(name),
        `${name} byte ${at}`);
      }
      writeFileSync(file, original);
    }
    // Put back, it restores: the refusals were about the bytes.
    const h = await restoring(dir);
    assert.equal(h.checkpointStats().latest.restored?.id !== undefined, true);
    await h.cancel();
  });

  test("missing and truncated state files keep their own clear errors", async () => {
    const { dir } = await retainedCheckpoint();
    const [file] = stateFiles(dir);
    const name = file.slice(file.lastIndexOf("/") + 1);
    const original = readFileSync(file);
    writeFileSync(file, original.subarray(0, original.length - 3));
    await assert.rejects(restoring(dir), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(name) && e.message.includes("truncated"));
    writeFileSync(file, new Uint8Array(0));
    await assert.rejects(restoring(dir), (e: unknown) => e instanceof WeirError && e.message.includes(name) && e.message.includes("truncated"));
    const { rmSync } = await import("node:fs");
    rmSync(file);
    await assert.rejects(restoring(dir), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(name) && e.message.includes("missing"));
  });

  test("a truncated _metadata is checkpoint_corrupt naming the file and its directory", async () => {
    const { dir } = await retainedCheckpoint();
    const file = join(dir, "_metadata");
    writeFileSync(file, readFileSync(file).subarray(0, 10));
    await assert.rejects(restoring(dir), (e: unknown) =>
      e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes("_metadata") && e.message.includes(dir.slice(dir.lastIndexOf("/") + 1)) && e.message.includes("truncated"));
  });

  test("metadata of an older weir (no checksums) restores, with a checksums_missing warning", async () => {
    const { dir } = await retainedCheckpoint();
    const { metadata } = decodeMetadata(readFileSync(join(dir, "_metadata")), "_metadata");
    for (const ref of metadata.subtasks) delete ref.checksum;
    writeFileSync(join(dir, "_metadata"), encode(metadata)); // the unframed format before checksums
    const h = await restoring(dir);
    const events: JobEvent[] = [];
    h.on((e) => events.push(e));
    assert.ok(h.checkpointStats().latest.restored);
    assert.deepEqual(h.warnings().map((w) => w.code), ["checksums_missing"]);
    assert.ok(events.some((e) => e.type === "warning" && e.code === "checksums_missing" && e.message.includes("_metadata")));
    await h.cancel();
  });
});
