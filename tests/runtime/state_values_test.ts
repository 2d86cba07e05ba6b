/**
 * State values keep their shape (issue 8, fault 4): what a job stores in Value-, List- and
 * MapState reads back after a savepoint restored at another parallelism exactly as it
 * was stored — Maps, Sets, Dates, typed arrays, nested objects, field names that look
 * like internal markers, null and undefined in MapState.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, MemoryStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { sleep } from "../helpers.ts";

const KEYS = 6;

/** What key k stores; a function of k, so the restored job knows what to expect. */
function stored(k: number) {
  return {
    value: new Map<unknown, unknown>([["k", k], [k, new Set([k, "x"])]]),
    list: [new Date(1_000 * k), new Uint16Array([k, 65535]), { $map: [[k, k]] }, null, { nested: { deep: [new Set([k])] } }],
    map: [
      ["null", null],
      ["undefined", undefined],
      [new Set([k]), { at: new Date(k), bytes: new Uint8Array([k]) }],
      [{ $map: true }, new Map([["inner", [k]]])],
    ] as [unknown, unknown][],
  };
}

/** Writes each key's state once; then counts records while the savepoint is taken. */
function writer(parallelism: number, seen: Set<number>) {
  const e = new StreamEnvironment({ jobName: "state-values", storage: new MemoryStorage(), parallelism, batchSize: 8 });
  e.fromSource(new SequenceSource(0, 1_000_000, { ratePerSecond: 2_000 }), { uid: "n", parallelism: 1 })
    .keyBy((n) => n % KEYS)
    .process<number>((n, ctx) => {
      const k = n % KEYS;
      const written = ctx.valueState<boolean>("written");
      if (written.value()) return;
      written.update(true);
      const s = stored(k);
      ctx.valueState<unknown>("value").update(s.value);
      for (const v of s.list) ctx.listState<unknown>("list").add(v);
      const m = ctx.mapState<unknown, unknown>("map");
      for (const [mk, mv] of s.map) m.put(mk, mv);
      seen.add(k);
    }, { uid: "store" })
    .sinkTo(new CollectSink<number>(), { uid: "out", parallelism: 1 });
  return e;
}

/** Reads each key's state back once and emits what it found beside what was stored. */
function reader(parallelism: number, restoreFrom: string, sink: CollectSink<unknown>) {
  const e = new StreamEnvironment({
    jobName: "state-values-read", storage: new MemoryStorage(), parallelism, restoreFrom, allowNonRestoredState: true,
  });
  e.fromSource(new SequenceSource(0, KEYS), { uid: "keys", parallelism: 1 })
    .keyBy((n) => n % KEYS)
    .process<unknown>((n, ctx) => {
      const m = ctx.mapState<unknown, unknown>("map");
      ctx.emit({
        k: n,
        value: ctx.valueState<unknown>("value").value(),
        list: ctx.listState<unknown>("list").get(),
        map: m.entries(),
        undefinedIsStored: m.has("undefined"),
        setKey: m.get(new Set([n])),
      });
    }, { uid: "store" })
    .sinkTo(sink, { uid: "read-out", parallelism: 1 });
  return e;
}

describe("state values through a savepoint", () => {
  test("every stored value reads back exactly as it was stored, restored at another parallelism", async () => {
    const seen = new Set<number>();
    const job = await writer(2, seen).execute();
    for (let i = 0; i < 500 && seen.size < KEYS; i++) await sleep(10);
    assert.equal(seen.size, KEYS, "every key wrote its state");
    const savepoint = await job.stop({ savepoint: mkdtempSync(join(tmpdir(), "weir-sv-")) });

    const sink = new CollectSink<unknown>();
    const r = await (await reader(3, savepoint, sink).execute()).done;
    assert.equal(r.status, "finished", String(r.error));
    const got = (sink.committed as { k: number }[]).slice().sort((a, b) => a.k - b.k);
    assert.equal(got.length, KEYS);
    for (const row of got) {
      const s = stored(row.k);
      assert.deepEqual(row, {
        k: row.k,
        value: s.value,
        list: s.list,
        map: s.map,
        undefinedIsStored: true,
        setKey: s.map[2][1],
      });
    }
  });

  test("a state value weir cannot persist faithfully fails the job with an error naming its class, never a plain object", async () => {
    class Session {
      #user = "u";
      get user(): string {
        return this.#user;
      }
    }
    const e = new StreamEnvironment({ jobName: "opaque-state", storage: new MemoryStorage(), restart: { strategy: "none" } });
    e.fromSource(new SequenceSource(0, 20), { uid: "n" })
      .keyBy((n) => n % 2)
      .process<number>((n, ctx) => {
        ctx.valueState<Session>("session").update(new Session());
        ctx.emit(n);
      }, { uid: "sessions" })
      .sinkTo(new CollectSink<number>(), { uid: "out" });
    const r = await (await e.execute()).done;
    assert.equal(r.status, "failed");
    assert.match(String(r.error), /state of operator "sessions"/);
    assert.match(String(r.error), /class Session/);
  });
});
