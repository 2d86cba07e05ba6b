import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { WatermarkValve } from "../../runtime/watermark_valve.ts";

describe("WatermarkValve at the end of event time", () => {
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
