import { test } from "node:test";
import assert from "node:assert/strict";
import { SlotList } from "../../state/slot_list.ts";

test("SlotList keeps slots in order across growth and starts over after clear", () => {
  const l = new SlotList();
  for (let s = 0; s < 1000; s++) l.push(s * 7);
  assert.equal(l.length, 1000);
  assert.equal(l.at(0), 0);
  assert.equal(l.at(16), 112);
  assert.equal(l.at(999), 6993);
  l.clear();
  assert.equal(l.length, 0);
  l.push(5);
  assert.equal(l.length, 1);
  assert.equal(l.at(0), 5);
});
