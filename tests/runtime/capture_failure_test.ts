import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { OperatorError, WeirError } from "../../errors.ts";
import { captureFailure, isStorageFailure } from "../../runtime/capture_failure.ts";

describe("capture failures", () => {
  test("isStorageFailure() finds storage_failed on the error or in what it wraps, and nothing else", () => {
    const disk = new WeirError("storage_failed", "Cannot append to the changelog file x: ENOSPC");
    assert.equal(isStorageFailure(disk), true);
    assert.equal(isStorageFailure(new OperatorError("sum", "sum", disk)), true);
    assert.equal(isStorageFailure(new Error("outer", { cause: new OperatorError("sum", "sum", disk) })), true);
    assert.equal(isStorageFailure(new OperatorError("sum", "sum", new WeirError("value_not_persistable", "no"))), false);
    assert.equal(isStorageFailure(new TypeError("x is undefined")), false);
    assert.equal(isStorageFailure("storage_failed"), false);
  });

  test("captureFailure() says the operator could not write its state, not that it failed", () => {
    assert.equal(captureFailure(new OperatorError("sum", "s", new Error("disk full"))), 'operator "sum" (uid "s") could not write its state: disk full');
    assert.equal(captureFailure(new Error("plain")), "plain");
  });
});
