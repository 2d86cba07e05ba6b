import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileStorage, SequenceSource, StreamEnvironment } from "../../mod.ts";
import { until } from "../helpers.ts";

const KEYS = 200;
type Out = [key: number, i: number, value: number | null, map: [number, number][], list: number[]];

/** What the i-th record of a key does to its state: updates, clears, puts and removes. */
function step(i: number, v: { value: number | null }, m: Map<number, number>, l: number[]): void {
  if (i % 3 === 2) v.value = null;
  else v.value = i;
  m.set(i % 5, i);
  if (i % 4 === 3) m.delete((i + 1) % 5);
  if (i % 6 === 5) l.length = 0;
  else l.push(i);
}

/** The state of a key after its records 0..i, as the job emits it. */
function model(key: number, i: number): Out {
  const v = { value: null as number | null };
  const m = new Map<number, number>();
  const l: number[] = [];
  for (let j = 0; j <= i; j++) step(j, v, m, l);
  return [key, i, v.value, [...m].sort((a, b) => a[0] - b[0]), l];
}

function job(o: { dir: string; backend: "heap" | "sqlite"; parallelism: number; jobName: string; restoreFrom?: string }) {
  const env = new StreamEnvironment({
    jobName: o.jobName, parallelism: o.parallelism, storage: new FileStorage(o.dir), restoreFrom: o.restoreFrom,
    checkpoint: { retained: 1 }, state: { backend: o.backend, incremental: true },
  });
  const sink = new CollectSink<Out>();
  const seen = { n: 0 };
  // One source subtask: a key's records arrive in order, so the model knows its state.
  env.fromSource(new SequenceSource(0, 1e9, { ratePerSecond: 20_000 }), { uid: "n", parallelism: 1 })
    .map((n) => (seen.n++, n), { uid: "seen", parallelism: 1 })
    .keyBy((n) => n % KEYS)
    .process<Out>((n, ctx) => {
      const vs = ctx.valueState<number>("v");
      const ms = ctx.mapState<number, number>("m");
      const ls = ctx.listState<number>("l");
      const i = Math.floor(n / KEYS);
      const v = { value: vs.value() ?? null };
      const m = new Map(ms.entries());
      const l = ls.get();
      step(i, v, m, l);
      if (v.value === null) vs.clear();
      else vs.update(v.value);
      for (const k of ms.keys()) if (!m.has(k)) ms.remove(k);
      for (const [k, x] of m) if (ms.get(k) !== x) ms.put(k, x);
      if (l.length === 0) ls.clear();
      else if (l.length === ls.get().length + 1) ls.add(l[l.length - 1]);
      else ls.update(l);
      ctx.emit([n % KEYS, i, vs.value() ?? null, ms.entries().sort((a, b) => a[0] - b[0]), ls.get()]);
    }, { uid: "state" })
    .sinkTo(sink, { uid: "out" });
  return { env, sink, seen };
}

describe("incremental checkpoints restore base + changelogs exactly (value, map and list state; clears and removes)", () => {
  for (const backend of ["heap", "sqlite"] as const) {
    test(`${backend}: every record after a restore at another parallelism sees the state the model says`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "weir-incremental-replay-"));
      try {
        const first = job({ dir, backend, parallelism: 2, jobName: "replay" });
        const running = await first.env.execute();
        let latest: { external_path?: string } = {};
        // Several checkpoints while every key changes: a base, then changelogs on it.
        for (let c = 0; c < 5; c++) {
          const seen = first.seen.n;
          await until("records flow", () => first.seen.n > seen + 3 * KEYS);
          const committed = first.sink.committed.length;
          const d = await running.triggerCheckpoint();
          assert.equal(d.status, "COMPLETED", d.failure_message);
          latest = d as typeof d & { external_path?: string };
          await until("the sink committed the checkpoint", () => first.sink.committed.length > committed);
        }
        await running.cancel();
        await running.done;
        for (const out of first.sink.committed) assert.deepEqual(out, model(out[0], out[1]));

        const second = job({ dir, backend, parallelism: 3, jobName: "replay-restored", restoreFrom: latest.external_path });
        const restored = await second.env.execute();
        const seen = second.seen.n;
        await until("records flow after the restore", () => second.seen.n > seen + 3 * KEYS);
        const d = await restored.triggerCheckpoint();
        assert.equal(d.status, "COMPLETED", d.failure_message);
        const lastBefore = new Map<number, number>();
        for (const [k, i] of first.sink.committed) lastBefore.set(k, i);
        // Each key's records after the checkpoint it was restored from, not only the ones the restore committed again.
        await until("every key went on after the restore", () => {
          const after = new Set(second.sink.committed.filter(([k, i]) => i > (lastBefore.get(k) ?? -1)).map(([k]) => k));
          return after.size === KEYS;
        });
        await restored.cancel();
        await restored.done;
        const keys = new Set<number>();
        for (const out of second.sink.committed) {
          assert.deepEqual(out, model(out[0], out[1]), `key ${out[0]}, its record ${out[1]}`);
          keys.add(out[0]);
        }
        assert.equal(keys.size, KEYS);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
