/** The checkers catch what they are meant to catch (a checker that never fails proves nothing). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encodeMetadata } from "../../checkpoint/metadata.ts";
import { WeirError } from "../../errors.ts";
import { checkMetadataAtCommit, checkOutput, checkRestoredOutput, checkWindows, expectedCount, type Pair, unexpectedError, type WindowCount } from "../../sim/checkers.ts";

function counts(records: number, keys: number): Pair[] {
  const out: Pair[] = [];
  const c = new Array(keys).fill(0);
  for (let n = 0; n < records; n++) out.push([n % keys, ++c[n % keys]]);
  return out;
}

describe("sim checkers", () => {
  test("checkOutput() accepts exactly-once output and reports duplicates, gaps and over-counts", () => {
    assert.deepEqual(checkOutput(counts(10, 3), 10, 3, false), []);
    assert.equal(expectedCount(10, 3, 0), 4);
    assert.match(checkOutput([...counts(10, 3), [1, 2]], 10, 3, false)[0], /key 1.*duplicated 2/);
    assert.match(checkOutput(counts(10, 3).filter((p) => !(p[0] === 2 && p[1] === 1)), 10, 3, false)[0], /key 2.*missing 1/);
    assert.match(checkOutput([...counts(10, 3), [0, 5]], 10, 3, false)[0], /out of range 5/);
  });

  test("checkOutput() at-least-once allows duplicates and over-counts but not gaps", () => {
    assert.deepEqual(checkOutput([...counts(10, 2), [0, 3], [0, 6]], 10, 2, true), []);
    assert.match(checkOutput(counts(10, 2).filter((p) => p[1] !== 4), 10, 2, true)[0], /missing 4/);
  });

  test("checkRestoredOutput() wants each key's counts to continue up to its total, once each", () => {
    const tail = counts(12, 2).filter((p) => p[1] > 3);
    assert.deepEqual(checkRestoredOutput(tail, 12, 2, false), []);
    assert.match(checkRestoredOutput(tail.filter((p) => p[1] !== 6), 12, 2, false)[0], /missing 6/);
    assert.match(checkRestoredOutput([...tail, [1, 5]], 12, 2, false)[0], /duplicated 5/);
  });

  test("checkMetadataAtCommit() reports a state file that is not durable yet", () => {
    const m = encodeMetadata({
      magic: "weir-checkpoint", jobName: "j", jobId: "x", checkpointId: 1, type: "CHECKPOINT", unaligned: false,
      triggerTimestamp: 0, completedTimestamp: 0, maxParallelism: 128,
      vertices: [{ id: "v0", name: "a", parallelism: 2, uids: ["a"] }],
      subtasks: [
        { vertexId: "v0", subtaskIndex: 0, file: "v0-0", stateSize: 1, checksum: "crc32c:00000000" },
        { vertexId: "v0", subtaskIndex: 1, file: "v0-1", stateSize: 1, checksum: "crc32c:00000000" },
      ],
    });
    assert.equal(checkMetadataAtCommit("j/x/chk-1/_metadata", m, new Set(["j/x/chk-1/v0-0", "j/x/chk-1/v0-1"])), undefined);
    assert.match(checkMetadataAtCommit("j/x/chk-1/_metadata", m, new Set(["j/x/chk-1/v0-0"]))!, /v0-1/);
  });

  test("unexpectedError() lets injected faults pass and flags everything else", () => {
    assert.equal(unexpectedError(new WeirError("sim_crash", "Injected")), undefined);
    assert.match(unexpectedError(new WeirError("invariant_broken", "Channel queue holds 5 batches"))!, /invariant_broken/);
    assert.match(unexpectedError(new TypeError("x is undefined"))!, /TypeError/);
  });

  test("checkWindows() holds each key and window to one firing with its count; after a drain, to parts adding up", () => {
    // 10 records, 2 keys, windows of 4: [0,4) [4,8) [8,10).
    const right: WindowCount[] = [[0, 0, 2], [1, 0, 2], [0, 4, 2], [1, 4, 2], [0, 8, 1], [1, 8, 1]];
    assert.deepEqual(checkWindows(right, 10, 2, 4, false), []);
    assert.match(checkWindows([...right, [0, 4, 2]], 10, 2, 4, false).join(), /more than once.*0@4/);
    assert.match(checkWindows(right.map((w): WindowCount => (w[1] === 8 && w[0] === 1 ? [1, 8, 2] : w)), 10, 2, 4, false).join(), /1@8 counted 2, expected 1/);
    assert.match(checkWindows(right.slice(1), 10, 2, 4, false).join(), /never fired: 0@0/);
    assert.deepEqual(checkWindows([...right.slice(1), [0, 0, 1], [0, 0, 1]], 10, 2, 4, false, true), [], "a drained window fired in parts");
    assert.match(checkWindows([...right.slice(1), [0, 0, 1]], 10, 2, 4, false, true).join(), /counting 1 in all, expected 2/);
  });
});
