import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { NativeChainTracker } from "../../state/sqlite_native_chain.ts";
import type { NativeChain, NativeFile } from "../../state/sqlite_native_format.ts";
import type { SharedStateRef } from "../../state/backend.ts";

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

  test("without materializations a checkpoint writes the base once the chain is long", () => {
    const t = new NativeChainTracker();
    t.begin(1).onResult(chain(8));
    assert.equal(t.beginMaterialization(), undefined);
    assert.equal(t.begin(2).previous, undefined);
  });
});

/** A file of one part, its ref named `key`. */
function file(kind: NativeFile["kind"], key: string, rows = 10): { file: NativeFile; ref: SharedStateRef } {
  return { file: { kind, parts: 1, rows }, ref: { key, size: 1, checksum: "c" } };
}

/** The chain of `files` in order. */
function chainOf(...files: { file: NativeFile; ref: SharedStateRef }[]): NativeChain {
  return { files: files.map((f) => f.file), shared: files.map((f) => f.ref) };
}

/** `previous` extended by a changelog named `key`. */
function extended(previous: NativeChain, key: string): NativeChain {
  const log = file("changelog", key);
  return { files: [...previous.files, log.file], shared: [...previous.shared, log.ref] };
}

/** A tracker that materializes, whose chain is a base (checkpoint 1) and `logs` changelogs (checkpoints 2…); the files it dropped. */
function longChain(logs: number): { t: NativeChainTracker; dropped: string[]; next: number } {
  const dropped: string[] = [];
  const t = new NativeChainTracker({ materializes: true, drop: (refs) => dropped.push(...refs.map((r) => r.key)) });
  const first = t.begin(1);
  let c = chainOf(file("base", "1-base", 1000), file("changelog", "1-captured", 0));
  first.onResult(c);
  for (let id = 2; id < 2 + logs; id++) {
    const s = t.begin(id);
    c = extended(s.previous!, `${id}-changelog`);
    s.onResult(c);
  }
  return { t, dropped, next: 2 + logs };
}

const materializedBase = (id: number) => chainOf(file("base", `${id}-materialized-base`, 1000), file("changelog", `${id}-materialized-changelog`, 5));

describe("NativeChainTracker with materializations", () => {
  test("none is due on a short chain, while a snapshot is in flight, or after an abort; one at a time", () => {
    const { t, next } = longChain(3);
    assert.equal(t.beginMaterialization(), undefined, "3 changelogs: not due");
    const long = longChain(8);
    const inFlight = long.t.begin(long.next);
    assert.notEqual(inFlight.previous, undefined, "8 changelogs: still a changelog while materializations run");
    assert.equal(long.t.beginMaterialization(), undefined, "a snapshot in flight");
    inFlight.onAbort();
    assert.equal(long.t.beginMaterialization(), undefined, "the next checkpoint writes a base anyway");
    const other = longChain(8);
    assert.notEqual(other.t.beginMaterialization(), undefined);
    assert.equal(other.t.beginMaterialization(), undefined, "one runs already");
    assert.equal(next, 5);
  });

  test("its base replaces the files before its point; the changelogs begun after it stay, and the next extends them", () => {
    const { t, next } = longChain(8);
    const m = t.beginMaterialization()!;
    // A checkpoint begun after the point, completed before the base is written.
    const after = t.begin(next);
    const withAfter = extended(after.previous!, `${next}-changelog`);
    after.onResult(withAfter);
    assert.equal(m.fileId(), next + 2, "named when the upload starts: two above the newest begun");
    assert.equal(m.onResult(materializedBase(m.fileId())), true);
    const following = t.begin(next + 1);
    assert.deepEqual(following.previous!.shared.map((r) => r.key), [`${next + 2}-materialized-base`, `${next + 2}-materialized-changelog`, `${next}-changelog`]);
    assert.deepEqual(following.previous!.files.map((f) => f.kind), ["base", "changelog", "changelog"]);
  });

  test("a changelog begun before the base was taken in, finishing after, extends the rebased chain", () => {
    const { t, next } = longChain(8);
    const m = t.beginMaterialization()!;
    m.fileId();
    const during = t.begin(next);
    const ended = extended(during.previous!, `${next}-changelog`);
    assert.equal(m.onResult(materializedBase(next + 2)), true);
    during.onResult(ended); // its own checkpoint refers to the old chain; the next extends the new one
    assert.deepEqual(t.begin(next + 1).previous!.shared.map((r) => r.key), [`${next + 2}-materialized-base`, `${next + 2}-materialized-changelog`, `${next}-changelog`]);
  });

  test("not taken in when a checkpoint above its id began meanwhile, which is no failure; after two failed writes a checkpoint writes the base", async () => {
    const { t, next } = longChain(8);
    let id = next;
    for (let unsafe = 0; unsafe < 3; unsafe++) {
      const m = t.beginMaterialization()!;
      const fileId = m.fileId();
      for (; id <= fileId + 1; id++) t.begin(id).onResult(extended(chain(8), `${id}-changelog`));
      assert.equal(m.onResult(materializedBase(fileId)), false, "checkpoint id + 1 may complete without it");
    }
    const stopped = t.beginMaterialization()!;
    stopped.onAbort(false);
    stopped.onAbort(false);
    const after = t.begin(id);
    assert.notEqual(after.previous, undefined, "stopped or outrun materializations are no reason for a base");
    after.onResult(extended(after.previous!, `${id++}-changelog`));
    for (let failed = 0; failed < 2; failed++) t.beginMaterialization()!.onAbort(true);
    assert.equal(t.begin(id).previous, undefined, "the writes keep failing: the checkpoint writes the base");
  });

  test("aborted, or begun before a restore, it is not taken in", () => {
    const { t } = longChain(8);
    const aborted = t.beginMaterialization()!;
    aborted.onAbort(true);
    const restored = t.beginMaterialization()!;
    restored.fileId();
    t.restored();
    assert.equal(restored.onResult(materializedBase(20)), false);
  });

  test("a chain four times too long has the checkpoint write the base", () => {
    const { t, next } = longChain(31);
    assert.notEqual(t.begin(next).previous, undefined);
    const { t: t2, next: n2 } = longChain(32);
    assert.equal(t2.begin(n2).previous, undefined);
  });

  test("a materialized base no checkpoint extended is dropped when a base supersedes it or the backend closes; an extended one stays", () => {
    const a = longChain(8);
    const m = a.t.beginMaterialization()!;
    m.fileId();
    assert.equal(m.onResult(materializedBase(a.next + 1)), true);
    a.t.close();
    assert.deepEqual(a.dropped, [`${a.next + 1}-materialized-base`, `${a.next + 1}-materialized-changelog`]);

    const b = longChain(8);
    const mb = b.t.beginMaterialization()!;
    mb.fileId();
    assert.equal(mb.onResult(materializedBase(b.next + 1)), true);
    const aborted = b.t.begin(b.next);
    aborted.onAbort(); // the chain's changes went with it: the next is a base
    const base = b.t.begin(b.next + 1);
    assert.equal(base.previous, undefined);
    base.onResult(chain(0));
    // The aborted changelog had extended it; the coordinator's sweep deletes it once a checkpoint above its id completes.
    assert.equal(b.dropped.length, 0);

    const c = longChain(8);
    const mc = c.t.beginMaterialization()!;
    mc.fileId();
    assert.equal(mc.onResult(materializedBase(c.next + 1)), true);
    c.t.begin(c.next).onResult(extended(chain(0), "x"));
    c.t.close();
    assert.deepEqual(c.dropped, [], "a checkpoint refers to it: the coordinator deletes it once none does");
  });
});
