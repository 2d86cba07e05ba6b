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
import { joinParts } from "../../storage/adapter.ts";

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

describe("sqlite canonical entries", () => {
  test("two snapshots' parts read in turns are each what it gives read alone", () => {
    const a = filled();
    const b = new SqliteKeyedStateBackend({ ...init, jobId: "turns" }, { driver: sqliteDriver, directory, cacheEntriesMax: 1000 });
    // Keys of other lengths than a's, so that an entry measured for one and written for the other would not fit.
    for (let i = 0; i < KEYS; i++) {
      b.setCurrentKey(`other key ${i} `.repeat(3));
      b.valueState<string>("v").update(`${i}`);
    }
    const alone = [a, b].map((x, i) => {
      const c = captured(x.snapshot(10 + i, { savepoint: true }));
      const bytes = joinParts([...c.streamedParts()!.parts]);
      c.release();
      return bytes;
    });
    const captures = [a, b].map((x, i) => captured(x.snapshot(20 + i, { savepoint: true })));
    const iterators = captures.map((c) => c.streamedParts()!.parts[Symbol.iterator]());
    const read: Uint8Array[][] = [[], []];
    for (let open = 2; open > 0; ) {
      open = 0;
      for (let i = 0; i < 2; i++) {
        const next = iterators[i].next();
        if (next.done) continue;
        read[i].push(next.value);
        open++;
      }
    }
    assert.deepEqual(read.map((parts) => joinParts(parts)), alone);
    for (const c of captures) c.release();
    a.dispose();
    b.dispose();
  });

  test("keys of every CBOR head size (UTF-8, numbers, objects) and values come back as the heap backend writes them", async () => {
    const { HeapKeyedStateBackend } = await import("../../state/heap_backend.ts");
    const sqlite = new SqliteKeyedStateBackend({ ...init, jobId: "entries" }, { driver: sqliteDriver, directory, cacheEntriesMax: 16 });
    const heap = new HeapKeyedStateBackend(init);
    // Text heads of 1, 2, 3 and 5 bytes (lengths 0, 23, 24, 255, 256, 65 535 and 65 536).
    const keys: unknown[] = [0, 23, 24, 255, 256, 65_535, 65_536].map((n) => "é".repeat(Math.floor(n / 2)) + "x".repeat(n % 2));
    keys.push(7, -1, 2 ** 40, 1.5, { id: 3, tags: ["a"] }, ["k", 1]);
    keys.forEach((k, i) => {
      for (const b of [sqlite, heap]) {
        b.setCurrentKey(k);
        b.valueState<unknown>("v").update(i % 2 === 0 ? `value ${i}`.repeat(i) : { n: i, list: [i, "x"] });
      }
    });
    const tables = (b: { snapshot(id: number, o: { savepoint: true }): KeyedStateSnapshot }) => {
      const snap = b.snapshot(1, { savepoint: true });
      while (!snap.step(Infinity));
      const r = snap.result();
      snap.release();
      assert.equal(r.format, "canonical");
      return r.format === "canonical" ? r.tables : undefined;
    };
    const sort = (t: ReturnType<typeof tables>) => JSON.stringify(t!.v.groups.map(([g, e]) => [g, [...e].map((x) => JSON.stringify(x)).sort()]).sort((a, b) => Number(a[0]) - Number(b[0])));
    assert.equal(sort(tables(sqlite)), sort(tables(heap)));
    sqlite.dispose();
  });
});
