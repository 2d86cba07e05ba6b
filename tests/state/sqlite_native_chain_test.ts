import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NativeChainTracker } from "../../state/sqlite_native_chain.ts";
import type { NativeChain } from "../../state/sqlite_native.ts";

/** A chain of a base of 1 000 rows and `logs` changelogs of 10 records. */
function chain(logs: number): NativeChain {
  const files: NativeChain["files"] = [{ kind: "base", parts: 1, rows: 1000 }, { kind: "changelog", parts: 1, rows: 0 }];
  for (let i = 0; i < logs; i++) files.push({ kind: "changelog", parts: 1, rows: 10 });
  return { files, shared: [] };
}

describe("NativeChainTracker", () => {
  test("a base first, then changelogs extending the newest chain whose result was taken", () => {
    const t = new NativeChainTracker();
    const first = t.begin(1);
    assert.equal(first.previous, undefined);
    first.onResult(chain(0));
    const second = t.begin(2);
    assert.deepEqual(second.previous, chain(0));
    second.onResult(chain(1));
    assert.deepEqual(t.begin(3).previous, chain(1));
  });

  test("a snapshot in flight makes the next one a base", () => {
    const t = new NativeChainTracker();
    t.begin(1).onResult(chain(0));
    const inFlight = t.begin(2);
    assert.notEqual(inFlight.previous, undefined);
    assert.equal(t.begin(3).previous, undefined, "started while 2 is in flight");
  });

  test("after an abort the next one is a base, and a base started before the abort does not lift that", () => {
    const t = new NativeChainTracker();
    const older = t.begin(1); // a base, in flight
    const newer = t.begin(2); // a base too (1 is in flight)
    newer.onAbort(); // took the changes since 1's snapshot point with it
    older.onResult(chain(0));
    assert.equal(t.begin(3).previous, undefined, "the changes handed to 2 are in no chain");
  });

  test("a snapshot that failed at its snapshot point (onAbort, no release) is no longer in flight", () => {
    const t = new NativeChainTracker();
    t.begin(1).onResult(chain(0));
    const failed = t.begin(2);
    failed.onAbort();
    failed.onAbort(); // settled once only
    const base = t.begin(3);
    assert.equal(base.previous, undefined);
    base.onResult(chain(0));
    assert.notEqual(t.begin(4).previous, undefined, "changelogs again after the base");
  });

  test("after a restore the next snapshot is a base; an older result taken later changes nothing", () => {
    const t = new NativeChainTracker();
    const a = t.begin(5);
    t.restored();
    a.onResult(chain(0));
    assert.equal(t.begin(6).previous, undefined);
  });

  test("a result older than the chain's is ignored", () => {
    const t = new NativeChainTracker();
    const one = t.begin(1);
    const two = t.begin(2); // a base (1 in flight)
    two.onResult(chain(3));
    one.onResult(chain(0));
    assert.deepEqual(t.begin(3).previous, chain(3));
  });
});
