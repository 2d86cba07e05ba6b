import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { assert as invariant, WeirError } from "../errors.ts";
import { Channel } from "../actors/channel.ts";

describe("assert()", () => {
  test("assert() throws invariant_broken with the message when the condition is false", () => {
    assert.throws(() => invariant(1 > 2, () => "One is not above two"), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken" && e.message === "One is not above two");
    invariant(true, "never built");
  });

  test("a channel refuses to drop an output-buffer item it does not hold", () => {
    const endpoint = { wake() {} };
    const ch = new Channel(endpoint, endpoint, 0, 1);
    ch.send([1]);
    ch.send([2]); // no credit left: waits in the output buffer
    assert.equal(ch.pending.length, 1);
    assert.throws(() => ch.removePending(1), /no item 1/);
    ch.removePending(0);
    assert.equal(ch.pending.length, 0);
  });
});
