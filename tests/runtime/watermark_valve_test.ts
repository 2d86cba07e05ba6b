import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WatermarkValve } from "../../runtime/watermark_valve.ts";

describe("WatermarkValve", () => {
  test("the minimum of the active channels, never backwards; idle and ended channels left out", () => {
    const v = new WatermarkValve(3);
    assert.equal(v.watermark(0, 10).watermark, undefined);
    assert.equal(v.watermark(1, 5).watermark, undefined);
    assert.equal(v.watermark(2, 7).watermark, 5);
    assert.equal(v.watermark(1, 3).watermark, undefined);
    assert.deepEqual(v.status(1, true), { watermark: 7 });
    assert.deepEqual(v.ended(2), { watermark: 10 });
    assert.deepEqual(v.status(0, true), { idle: true });
    assert.equal(v.current, 10);
  });

  test("a channel at +Infinity (a finished source) holds nothing back and makes no idle input active", () => {
    const v = new WatermarkValve(2);
    assert.deepEqual(v.watermark(1, Infinity), {});
    assert.deepEqual(v.watermark(0, 4), { watermark: 4 });
    // The other input idle: the subtask is idle, its watermark stays (not +Infinity).
    assert.deepEqual(v.status(0, true), { idle: true });
    assert.equal(v.current, 4);
    // Active again, then finished too: event time is over.
    assert.deepEqual(v.watermark(0, 6), { idle: false, watermark: 6 });
    assert.deepEqual(v.watermark(0, Infinity), { watermark: Infinity });
  });

  test("every channel at +Infinity or ended: +Infinity; every channel ended: left to the subtask's end of input", () => {
    const a = new WatermarkValve(2);
    a.ended(0);
    assert.deepEqual(a.watermark(1, Infinity), { watermark: Infinity });
    const b = new WatermarkValve(1);
    assert.deepEqual(b.ended(0), {});
  });
});
