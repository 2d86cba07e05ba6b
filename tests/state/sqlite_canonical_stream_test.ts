import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decode } from "../../codec/cbor.ts";
import { KeyedStateCapture } from "../../dataflow/operators/keyed_capture.ts";
import { sqliteDriver } from "../../platforms/sqlite.ts";
import type { KeyedStateSnapshot } from "../../state/backend.ts";
import { SqliteKeyedStateBackend } from "../../state/sqlite_backend.ts";

/**
 * Canonical SQLite snapshots are measured while stepped and read again while their file
 * is written (state/sqlite_canonical.ts): the parts come one at a time, of bounded size,
 * from the snapshot point's rows, whatever the backend wrote since.
 */
const directory = mkdtempSync(join(tmpdir(), "weir-sqlite-stream-"));
const init = { maxParallelism: 128, range: { start: 0, end: 127 }, incremental: false, uid: "stream", subtaskIndex: 0, jobId: "stream" };
const KEYS = 20_000;
const value = (i: number, round: number) => `${round}:${i}:`.padEnd(200, "v");

function filled(): SqliteKeyedStateBackend {
  const b = new SqliteKeyedStateBackend(init, { driver: sqliteDriver, directory, cacheEntriesMax: 1000 });
  for (let i = 0; i < KEYS; i++) {
    b.setCurrentKey(`k${i}`);
    b.valueState<string>("v").update(value(i, 0));
  }
  return b;
}

function captured(snap: KeyedStateSnapshot): KeyedStateCapture {
  const c = new KeyedStateCapture(snap, "the state of operator \"stream\"");
  while (!c.step(512));
  return c;
}

describe("sqlite canonical snapshots read while written", () => {
  test("parts come one at a time, at most about 1 MB each, and join to the file the encoded tables give", () => {
    const b = filled();
    const streamed = captured(b.snapshot(1, { savepoint: true }));
    const file = streamed.streamedParts();
    assert.ok(file, "a sqlite canonical capture streams its parts");
    const parts: Uint8Array[] = [];
    for (const p of file.parts) {
      assert.ok(p.length <= (1 << 20) + 64, `a part of ${p.length} bytes`);
      parts.push(p);
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    assert.equal(total, file.size);
    assert.ok(parts.length > 4, `${parts.length} parts for ${total} bytes`);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const p of parts) joined.set(p, (at += p.length) - p.length);
    // The same state through the collected encoded tables (no stream): the same bytes.
    const snap = b.snapshot(2, { savepoint: true });
    const collected = captured({ ...snap, encodedStream: undefined });
    assert.equal(collected.streamedParts(), undefined);
    assert.deepEqual(collected.bytes(), joined);
    const state = decode<{ keyed: { v: { groups: [number, [string, string][]][] } } }>(joined);
    const entries = state.keyed.v.groups.flatMap(([, e]) => e);
    assert.equal(entries.length, KEYS);
    streamed.release();
    collected.release();
    b.dispose();
  });

  test("what the backend writes after the snapshot point is not in the parts read later", () => {
    const b = filled();
    const capture = captured(b.snapshot(1, { savepoint: true }));
    // After the first pass: changes, enough of them to be evicted into the file.
    for (let i = 0; i < KEYS; i += 2) {
      b.setCurrentKey(`k${i}`);
      b.valueState<string>("v").update(value(i, 1));
    }
    for (let i = KEYS; i < KEYS + 3000; i++) {
      b.setCurrentKey(`k${i}`);
      b.valueState<string>("v").update(value(i, 1));
    }
    const file = capture.streamedParts()!;
    const parts = [...file.parts];
    const joined = new Uint8Array(file.size);
    let at = 0;
    for (const p of parts) joined.set(p, (at += p.length) - p.length);
    assert.equal(at, file.size);
    const state = decode<{ keyed: { v: { groups: [number, [string, string][]][] } } }>(joined);
    const entries = new Map(state.keyed.v.groups.flatMap(([, e]) => e));
    assert.equal(entries.size, KEYS);
    for (let i = 0; i < KEYS; i++) assert.equal(entries.get(`k${i}`), value(i, 0));
    capture.release();
    b.dispose();
  });
});
