/**
 * Regression (found in a review): a key selector returning undefined or null fails the
 * job with an internal TypeError text instead of saying what is wrong.
 *
 * OutputGate.emit -> keyGroupOf -> hashKey (state/key_group.ts:44-51): canonicalKey()
 * returns undefined/null unchanged and hashString() reads `.length` of it, so the job fails
 * with `Operator "keyBy key selector of sum" (uid "sum") failed: undefined is not an
 * object (evaluating 's.length')` (Bun) / `Cannot read properties of undefined` (Deno).
 * Fix: hashKey (or OutputGate before hashing) should reject undefined/null keys with a
 * clear message, e.g. "keyBy key selector of sum returned undefined; keys must not be
 * null or undefined".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";

for (const key of [undefined, null]) {
  test(`a key selector returning ${key} fails the job with a message naming the ${key} key`, async () => {
    const env = new StreamEnvironment({ jobName: "nullkey", parallelism: 2, storage: new MemoryStorage(), restart: { strategy: "none" } });
    env.fromSource(new SequenceSource(0, 10), { uid: "n" })
      .keyBy(() => key)
      .reduce((a, b) => a + b, { uid: "sum" })
      .sinkTo(new CollectSink<number>(), { uid: "o" });
    const r = await (await env.execute()).done;
    assert.equal(r.status, "failed");
    assert.match(String(r.error), /key selector/);
    assert.doesNotMatch(String(r.error), /s\.length|reading 'length'/, "internal TypeError text leaks");
    assert.match(String(r.error), new RegExp(`returned ${key}|${key} key|key is ${key}|must not be (null|undefined)`));
  });
}
