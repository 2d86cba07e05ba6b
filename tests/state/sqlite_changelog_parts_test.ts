import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WeirError } from "../../errors.ts";
import { scanChangelog, writeRecord } from "../../state/sqlite_changelog.ts";
import { scanChangelogParts } from "../../state/sqlite_changelog_parts.ts";
import { SimPrng } from "../../sim/prng.ts";

/** A changelog file of `count` records: puts with and without an original key, tombstones, values up to `valueMax` B. */
function logOf(prng: SimPrng, count: number, valueMax: number): Uint8Array {
  const records: Uint8Array[] = [];
  const buf = new Uint8Array(64 + 2 * valueMax);
  const view = new DataView(buf.buffer);
  for (let i = 0; i < count; i++) {
    const k = Uint8Array.from({ length: prng.range(0, 9) }, () => prng.range(0, 255));
    const tombstone = prng.chance(0.2);
    const ok = !tombstone && prng.chance(0.3) ? Uint8Array.from({ length: prng.range(0, 5) }, () => prng.range(0, 255)) : null;
    const v = tombstone ? null : Uint8Array.from({ length: prng.range(0, valueMax) }, () => prng.range(0, 255));
    const end = writeRecord(buf, view, 0, prng.range(0, 1000), prng.range(0, 3), k, ok, v);
    records.push(buf.slice(0, end));
  }
  const out = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of records) {
    out.set(r, at);
    at += r.length;
  }
  return out;
}

/** Each record scanChangelog() finds in the whole file: its bytes, key group, state id and key. */
function recordsOfWhole(log: Uint8Array): string[] {
  const out: string[] = [];
  scanChangelog(log, "whole", (at, end, kg, s, kAt, kLength) => out.push(`${[...log.subarray(at, end)]}|${kg}|${s}|${[...log.subarray(kAt, kAt + kLength)]}`));
  return out;
}

/** The same, read from `parts` with scanChangelogParts(). */
function recordsOfParts(parts: Uint8Array[], what = "parts"): string[] {
  const out: string[] = [];
  let bytes: Uint8Array = new Uint8Array(0);
  scanChangelogParts(parts, what, (b) => (bytes = b), (at, end, kg, s, kAt, kLength) => out.push(`${[...bytes.subarray(at, end)]}|${kg}|${s}|${[...bytes.subarray(kAt, kAt + kLength)]}`));
  return out;
}

/** `log` cut at the given offsets (ascending; repeats give empty parts). */
function cut(log: Uint8Array, at: number[]): Uint8Array[] {
  const bounds = [0, ...at, log.length];
  return bounds.slice(1).map((end, i) => log.slice(bounds[i], end));
}

describe("scanChangelogParts()", () => {
  test("finds the records of a file cut at every byte, in two parts, as scanChangelog() finds them in the whole", () => {
    const log = logOf(new SimPrng(1), 12, 20);
    const whole = recordsOfWhole(log);
    assert.equal(whole.length, 12);
    for (let at = 0; at <= log.length; at++) assert.deepEqual(recordsOfParts(cut(log, [at])), whole, `cut at ${at}`);
  });

  for (const seed of [2, 3, 4]) {
    test(`finds the records of a file in random parts, some empty and some inside one record, as in the whole (seed ${seed})`, () => {
      const prng = new SimPrng(seed);
      // Values up to 300 B in parts of at most 64 B: a record may cross several parts.
      const log = logOf(prng, 200, 300);
      const at: number[] = [];
      for (let x = prng.range(0, 64); x < log.length; x += prng.range(0, 64)) at.push(x);
      assert.ok(at.length > 50);
      assert.deepEqual(recordsOfParts(cut(log, at)), recordsOfWhole(log));
    });
  }

  test("a file whose end cuts a record that crosses parts is checkpoint_corrupt, naming the file's byte", () => {
    const log = logOf(new SimPrng(5), 3, 40);
    const starts: number[] = [];
    scanChangelog(log, "whole", (at) => starts.push(at));
    const last = starts[2];
    // The last record cut one byte short, its start in one part and the rest in the next.
    const parts = cut(log.subarray(0, log.length - 1), [last + 2]);
    assert.throws(() => recordsOfParts(parts, "cut.log"), (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes("cut.log") && e.message.includes(`byte ${last}`));
  });

  test("an unknown record tag in a later part is checkpoint_corrupt, naming the file's byte", () => {
    const log = logOf(new SimPrng(6), 4, 10);
    const starts: number[] = [];
    scanChangelog(log, "whole", (at) => starts.push(at));
    const bad = log.slice();
    bad[starts[3]] = 7;
    assert.throws(() => recordsOfParts(cut(bad, [starts[1] + 1, starts[3]])), (e: unknown) => e instanceof WeirError && e.code === "checkpoint_corrupt" && e.message.includes(`byte ${starts[3]}`) && e.message.includes("tag 7"));
  });
});
