/**
 * Regression (found in a review): jobName validation accepts "." and "..", which are not usable as a storage directory:
 * execute() then fails with a bare TypeError `Invalid storage key "../_current"` instead of
 * the constructor's WeirError invalid_option naming jobName (README: bad options throw a
 * WeirError with a stable code that names the option, before anything runs).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, StreamEnvironment, WeirError } from "../../mod.ts";

describe("jobName validation", () => {
  for (const jobName of [".", ".."]) {
    test(`jobName ${JSON.stringify(jobName)} is refused by the constructor`, () => {
      assert.throws(
        () => new StreamEnvironment({ jobName, storage: new MemoryStorage() }),
        (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && /jobName/.test(e.message),
      );
    });
  }
});
