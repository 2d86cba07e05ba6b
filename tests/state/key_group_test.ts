import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hashKey, keyGroupOf, keyGroupRangeFor, subtaskForKeyGroup } from "../../state/key_group.ts";
import { WeirError } from "../../errors.ts";

describe("key groups", () => {
  test("hashKey() is stable: these values must never change (savepoints depend on them)", () => {
    // Golden values, computed once; a change here breaks every existing savepoint.
    assert.equal(keyGroupOf(0, 128), GOLDEN[0]);
    assert.equal(keyGroupOf(42, 128), GOLDEN[1]);
    assert.equal(keyGroupOf("user-17", 128), GOLDEN[2]);
    assert.equal(keyGroupOf([1, 2], 128), GOLDEN[3]);
  });

  test("keys compare by value: equal arrays hash alike", () => {
    assert.equal(hashKey([1, 2]), hashKey([1, 2]));
    assert.notEqual(hashKey([1, 2]), hashKey([2, 1]));
  });

  test("key groups spread keys over all groups", () => {
    const counts = new Array(128).fill(0);
    for (let k = 0; k < 12_800; k++) counts[keyGroupOf(k, 128)]++;
    assert.ok(Math.min(...counts) > 50 && Math.max(...counts) < 150, `uneven spread ${Math.min(...counts)}..${Math.max(...counts)}`);
  });

  test("ranges of subtasks cover every key group exactly once and agree with subtaskForKeyGroup()", () => {
    for (const [p, maxP] of [[1, 128], [3, 128], [4, 128], [7, 10], [128, 128]]) {
      let next = 0;
      for (let i = 0; i < p; i++) {
        const r = keyGroupRangeFor(i, p, maxP);
        assert.equal(r.start, next);
        for (let g = r.start; g <= r.end; g++) assert.equal(subtaskForKeyGroup(g, p, maxP), i);
        next = r.end + 1;
      }
      assert.equal(next, maxP);
    }
  });
});

const GOLDEN = [0, 92, 9, 79];

test("a key nested deeper than weir compares is refused as invalid_key naming the depth, not as a type a key cannot be", () => {
  let deep: unknown = new Map([["leaf", 1]]);
  for (let i = 0; i < 600; i++) deep = [deep];
  assert.throws(() => hashKey(deep), (e: unknown) => e instanceof WeirError && e.code === "invalid_key" && /nested deeper than \d+ levels/.test(e.message));
});

