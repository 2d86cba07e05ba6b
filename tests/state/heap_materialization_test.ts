/**
 * Materialization of incremental heap state (heap_changelog.ts): once a chain is long, the
 * backend writes a new base between checkpoints, on its scheduler's turns, and later
 * changelogs chain onto it; no checkpoint after the first writes a base itself.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage } from "../../storage/memory.ts";
import type { IncrementalKeyedState, KeyedStateSnapshot, ReducingState } from "../../state/backend.ts";
import type { Clock, Scheduler } from "../../actors/time.ts";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { finishSnapshot, restoredSums } from "./heap_steps.ts";

const ALL = { start: 0, end: 127 };
/** More keys than a materialization visits in one turn (4096). */
const KEYS = 6000;

/** A scheduler whose deferred turns the test runs, one at a time or all. */
class TurnScheduler implements Scheduler {
  readonly #turns: (() => void)[] = [];
  after(): never {
    throw new Error("not used");
  }
  defer(fn: () => void): void {
    this.#turns.push(fn);
  }
  get waiting(): number {
    return this.#turns.length;
  }
  /** Runs one turn; false when none waits. */
  turn(): boolean {
    const fn = this.#turns.shift();
    fn?.();
    return fn !== undefined;
  }
  /** Runs turns, and lets storage writes land, until nothing is left to do. */
  async drain(): Promise<void> {
    for (let idle = 0; idle < 3; ) {
      if (this.turn()) idle = 0;
      else {
        idle++;
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  }
}

function backend(storage: MemoryStorage, scheduler?: Scheduler, clock?: Clock): HeapKeyedStateBackend {
  return new HeapKeyedStateBackend({ maxParallelism: 128, range: ALL, incremental: true, storage, scheduler, clock, uid: "count", subtaskIndex: 0, jobId: "j" });
}

/** A clock 10 ms further on at every reading: each turn of a materialization looks slow, so its budget stays at its first. */
function slowClock(): Clock {
  let t = 0;
  return { now: () => (t += 10) };
}

const finish = (snap: KeyedStateSnapshot, between?: () => void) => finishSnapshot(snap, between);
/** What a handle restores, for every key ever written. */
const restored = (storage: MemoryStorage, handle: IncrementalKeyedState) => restoredSums(storage, handle, KEYS + 100);

const ownBase = (h: IncrementalKeyedState, id: number) => h.shared.some((r) => r.key.endsWith(`/${id}-base`));
const materializedBase = (h: IncrementalKeyedState) => h.shared[0].materialized === true;

/**
 * A backend on storage of its own filled with `keys` counts (KEYS), the model of its state,
 * and the scheduler its materializations run on (none with `scheduled: false`).
 */
function filled(o: { scheduled?: boolean; keys?: number; clock?: Clock } = {}) {
  const storage = new MemoryStorage();
  const scheduler = new TurnScheduler();
  const b = backend(storage, o.scheduled === false ? undefined : scheduler, o.clock);
  const sum: ReducingState<number> = b.reducingState<number>("sum", (a, x) => a + x);
  const expected = new Map<number, number>();
  const add = (k: number, n: number) => {
    sum.addFor(k, n);
    expected.set(k, (expected.get(k) ?? 0) + n);
  };
  const remove = (k: number) => {
    b.setCurrentKey(k);
    sum.clear();
    expected.delete(k);
  };
  for (let k = 0; k < (o.keys ?? KEYS); k++) add(k, k);
  return { storage, scheduler, b, add, remove, expected };
}

/**
 * Checkpoints, one key changed before each, until one leaves a materialization begun (its
 * turns waiting); returns the last checkpoint's id.
 */
async function untilMaterializing(b: HeapKeyedStateBackend, add: (k: number, n: number) => void, scheduler: TurnScheduler): Promise<number> {
  let id = 0;
  while (scheduler.waiting === 0) {
    add(++id, 1);
    await finish(b.snapshot(id));
    assert.ok(id < 20, "a materialization began");
  }
  return id;
}

/** Holds every materialized base's write back until the function returned is called. */
function holdMaterializedWrites(storage: MemoryStorage): () => void {
  const put = storage.put.bind(storage);
  let land!: () => void;
  const landed = new Promise<void>((r) => (land = r));
  storage.put = (key: string, bytes: Uint8Array) => (key.endsWith("-materialized") ? landed.then(() => put(key, bytes)) : put(key, bytes));
  return land;
}

describe("materialization of incremental heap state", () => {
  test("a base is written between checkpoints, updates and deletes racing it; every checkpoint after the first writes only a changelog and restores its point", async () => {
    const { storage, scheduler, b, add, remove, expected } = filled();
    let round = 0;
    let rebased = 0;
    for (let id = 1; id <= 30; id++) {
      for (let k = id % 7; k < KEYS; k += 97) add(k, 1);
      remove((id * 31) % KEYS);
      add(KEYS + id, id);
      const atPoint = new Map(expected);
      const h = await finish(b.snapshot(id), () => add(round++ % KEYS, 1000));
      if (id > 1) assert.ok(!ownBase(h, id), `checkpoint ${id} wrote a base: ${h.shared.map((r) => r.key).join(", ")}`);
      if (materializedBase(h)) {
        rebased++;
        assert.ok(h.shared.length <= 9, `chain of ${h.shared.length}`);
      }
      assert.deepEqual(await restored(storage, h), atPoint, `restore of checkpoint ${id}`);
      // The materialization runs between checkpoints, records changing keys between its turns.
      while (scheduler.turn()) {
        add(round++ % KEYS, 7);
        remove((round * 17) % KEYS);
      }
      await scheduler.drain();
    }
    assert.ok(rebased >= 15, `${rebased} checkpoints chained onto a materialized base`);
    b.dispose();
  });

  test("a checkpoint after half the keys or more changed writes the base itself: no materialization writes it again", async () => {
    const { storage, scheduler, b, add, expected } = filled();
    for (let id = 1; id <= 6; id++) {
      for (let k = 0; k < KEYS; k += id % 2 === 0 ? 2 : 3) add(k, 1);
      const h = await finish(b.snapshot(id));
      // Every other key (half of them) changed before the even checkpoints, a third before the odd.
      if (id > 1) assert.equal(ownBase(h, id), id % 2 === 0, `checkpoint ${id}: ${h.shared.map((r) => r.key).join(", ")}`);
      assert.deepEqual(await restored(storage, h), expected);
      await scheduler.drain();
    }
    assert.deepEqual((await storage.list("shared/")).filter((k) => k.endsWith("-materialized")), []);
  });

  test("keys written both before and after a materialization's point count once: under half the keys changed, the checkpoint writes a changelog", async () => {
    const { storage, scheduler, b, add, expected } = filled();
    const third = Math.floor(KEYS / 3);
    const writeThird = () => {
      for (let k = 0; k < third; k++) add(k, 1);
    };
    // A third of the keys written during each checkpoint's steps: the changelogs soon
    // outgrow half the base, and a materialization begins as the last one's file is written.
    let id = 0;
    while (scheduler.waiting === 0) {
      let written = false;
      await finish(b.snapshot(++id), () => {
        if (!written) writeThird();
        written = true;
      });
      assert.ok(id < 20, "a materialization began");
    }
    // The same third again, after the materialization's point: noted twice since the last checkpoint.
    writeThird();
    const h = await finish(b.snapshot(++id));
    assert.ok(!ownBase(h, id), h.shared.map((x) => x.key).join(", "));
    await scheduler.drain();
    assert.deepEqual(await restored(storage, h), expected);
  });

  test("keys written both before and after a savepoint's point count once: under half the keys changed, the checkpoint writes a changelog", async () => {
    const { storage, b, add, expected } = filled();
    await finish(b.snapshot(1));
    const third = Math.floor(KEYS / 3);
    for (let k = 0; k < third; k++) add(k, 1);
    const sp = b.snapshot(2, { savepoint: true });
    while (!(await sp.step(1000)));
    sp.release();
    // The same third again, after the savepoint's point: noted twice since the last checkpoint.
    for (let k = 0; k < third; k++) add(k, 1);
    const h = await finish(b.snapshot(3));
    assert.ok(!ownBase(h, 3), h.shared.map((x) => x.key).join(", "));
    assert.deepEqual(await restored(storage, h), expected);
  });

  test("a materialized base no checkpoint extended is deleted when the backend closes; one a checkpoint extended stays", async () => {
    for (const extended of [false, true]) {
      const { storage, scheduler, b, add } = filled();
      let id = await untilMaterializing(b, add, scheduler);
      await scheduler.drain();
      const materialized = async () => (await storage.list("shared/")).filter((k) => k.endsWith("-materialized"));
      assert.equal((await materialized()).length, 1);
      if (extended) assert.ok(materializedBase(await finish(b.snapshot(++id))));
      b.dispose();
      await new Promise((r) => setTimeout(r, 0));
      assert.equal((await materialized()).length, extended ? 1 : 0, extended ? "extended" : "not extended");
    }
  });

  test("a base that lands after the next checkpoint began, or the one after that, is taken in behind the changelogs begun after its point", async () => {
    for (const later of [1, 2]) {
      const { storage, scheduler, b, add, expected } = filled();
      const land = holdMaterializedWrites(storage);
      let id = await untilMaterializing(b, add, scheduler);
      // Visited and encoded; its write waits while `later` checkpoints begin and finish (the
      // last of them begins at its file's id, which is still safe), with changes between them.
      while (scheduler.waiting > 0) scheduler.turn();
      const during: IncrementalKeyedState[] = [];
      for (let i = 0; i < later; i++) {
        add(100 + i, 1000);
        during.push(await finish(b.snapshot(++id)));
      }
      land();
      await scheduler.drain();
      for (const h of during) assert.ok(!materializedBase(h), "begun before it landed");
      add(7, 1000);
      const h = await finish(b.snapshot(++id));
      assert.ok(materializedBase(h), h.shared.map((r) => r.key).join(", "));
      assert.equal(h.shared.length, 2 + later, "the base, the changelogs begun after its point, this one");
      assert.deepEqual(await restored(storage, h), expected);
    }
  });

  test("an older base that lands after a newer snapshot was aborted leaves the next snapshot a base (the aborted one took the dirty lists)", async () => {
    const storage = new MemoryStorage();
    const b = backend(storage);
    const sum = b.reducingState<number>("sum", (a, x) => a + x);
    for (let k = 0; k < 100; k++) sum.addFor(k, 1);
    const first = b.snapshot(1);
    first.step(1000);
    sum.addFor(7, 100);
    const second = b.snapshot(2); // a base too: the first is in flight
    second.release(); // aborted
    await finish(first);
    sum.addFor(8, 1);
    const third = await finish(b.snapshot(3));
    assert.ok(ownBase(third, 3), third.shared.map((r) => r.key).join(", "));
    const r = backend(storage);
    await r.restore([third]);
    const v = (k: number) => (r.setCurrentKey(k), r.valueState<number>("sum").value());
    assert.deepEqual([v(7), v(8)], [101, 2]);
  });

  test("without a scheduler, checkpoints write the bases as before", async () => {
    const { b, add } = filled({ scheduled: false });
    const bases: number[] = [];
    for (let id = 1; id <= 12; id++) {
      add(id, 1);
      const h = await finish(b.snapshot(id));
      if (ownBase(h, id)) bases.push(id);
      assert.ok(!materializedBase(h));
    }
    assert.ok(bases.length >= 2 && bases[0] === 1, `bases at ${bases.join(", ")}`);
  });

  test("a changelog checkpoint or a savepoint that comes during the visit visits beside it, records racing both: each restores its point, and the base, whose visit spanned them, is taken in", async () => {
    const keys = 20_000;
    const { storage, scheduler, b, add, remove, expected } = filled({ keys, clock: slowClock() });
    let id = await untilMaterializing(b, add, scheduler);
    const points: [IncrementalKeyedState, Map<number, number>, string][] = [];
    for (let i = 0; i < 4; i++) {
      // 4096 more slots of the visit (20 000 keys take five turns): keys on both sides of it change.
      scheduler.turn();
      assert.ok(scheduler.waiting > 0, `the visit is still going at checkpoint ${id + 1}`);
      for (const k of [i, 3000 + i, keys - 1 - i, 15_000 + i]) add(k, 100);
      remove(keys - 300 - i);
      remove(30 + i);
      add(keys + 10 + i, 5);
      const atPoint = new Map(expected);
      const savepoint = i === 2;
      let r = 0;
      const h = await finish(b.snapshot(++id, savepoint ? { savepoint: true } : undefined), () => {
        add(keys - 1 - (r % 700), 1);
        add((r * 7) % keys, 1);
        remove((r * 13 + 11) % keys);
        r++;
      });
      if (!savepoint) assert.ok(!ownBase(h, id) && !materializedBase(h), `checkpoint ${id}: ${h.shared.map((x) => x.key).join(", ")}`);
      points.push([h, atPoint, savepoint ? `savepoint ${id}` : `checkpoint ${id}`]);
    }
    const materialized = async () => (await storage.list("shared/")).filter((k) => k.endsWith("-materialized"));
    assert.deepEqual(await materialized(), [], "not written before its visit ended");
    await scheduler.drain();
    assert.equal((await materialized()).length, 1);
    add(5, 5);
    const after = await finish(b.snapshot(++id));
    assert.ok(materializedBase(after), after.shared.map((x) => x.key).join(", "));
    assert.equal(after.shared.length, 2 + 3, "the base, the three changelogs begun after its point, this one");
    points.push([after, new Map(expected), `checkpoint ${id}`]);
    for (const [h, atPoint, what] of points) assert.deepEqual(await restoredSums(storage, h, keys + 100), atPoint, `restore of ${what}`);
  });

  test("a checkpoint that writes a base itself (half the keys changed) stops the visit: no materialized base is written", async () => {
    const { storage, scheduler, b, add, expected } = filled({ clock: slowClock() });
    let id = await untilMaterializing(b, add, scheduler);
    scheduler.turn();
    assert.ok(scheduler.waiting > 0, "the visit is still going");
    for (let k = 0; k < KEYS; k += 2) add(k, 1);
    const h = await finish(b.snapshot(++id));
    assert.ok(ownBase(h, id), h.shared.map((x) => x.key).join(", "));
    await scheduler.drain();
    assert.deepEqual((await storage.list("shared/")).filter((k) => k.endsWith("-materialized")), []);
    assert.deepEqual(await restored(storage, h), expected);
  });

  test("a base is not taken in when a checkpoint above its id began while it was written (the coordinator could delete it): its file goes", async () => {
    const { storage, scheduler, b, add, expected } = filled();
    const land = holdMaterializedWrites(storage);
    let id = await untilMaterializing(b, add, scheduler);
    // Its file is named for the checkpoint after the next when its write starts: the visit
    // and encoding happen now, and three checkpoints begin before its write lands, the last a savepoint (which
    // counts as much as a checkpoint: the coordinator's ids are one sequence).
    while (scheduler.waiting > 0) scheduler.turn();
    for (let i = 0; i < 3; i++) {
      add(++id, 1);
      const snap = b.snapshot(id, i === 2 ? { savepoint: true } : undefined);
      if (i === 2) {
        while (!(await snap.step(1000)));
        snap.release();
      } else await finish(snap);
    }
    land();
    await scheduler.drain();
    const h = await finish(b.snapshot(++id));
    assert.ok(!materializedBase(h), h.shared.map((r) => r.key).join(", "));
    assert.deepEqual(await restored(storage, h), expected);
    const bases = (await storage.list("shared/")).filter((k) => k.endsWith("-materialized"));
    assert.deepEqual(bases, [], "the late base was deleted");
  });

  test("a materialization whose write fails leaves the chain as it was; after two lost in a row a checkpoint writes the base; later ones are taken in", async () => {
    const { storage, scheduler, b, add, expected } = filled();
    const put = storage.put.bind(storage);
    let failBases = true;
    storage.put = (key: string, bytes: Uint8Array) => (failBases && key.endsWith("-materialized") ? Promise.reject(new Error("ENOSPC: no space left on device")) : put(key, bytes));
    let id = 0;
    let tried = 0;
    let ownBaseAfterFailures: number | undefined;
    while (ownBaseAfterFailures === undefined) {
      add(++id, 1);
      const h = await finish(b.snapshot(id));
      assert.ok(!materializedBase(h));
      assert.deepEqual(await restored(storage, h), expected);
      if (id > 1 && ownBase(h, id)) ownBaseAfterFailures = id;
      if (scheduler.waiting > 0) tried++;
      await scheduler.drain();
      assert.ok(id < 20, "a checkpoint wrote the base");
    }
    assert.equal(tried, 2, "two materializations failed before a checkpoint wrote the base");
    failBases = false;
    let taken: IncrementalKeyedState | undefined;
    for (let i = 0; i < 12 && !taken; i++) {
      add(++id, 1);
      const h = await finish(b.snapshot(id));
      assert.ok(!ownBase(h, id), `checkpoint ${id} wrote a base`);
      if (materializedBase(h)) taken = h;
      await scheduler.drain();
    }
    assert.ok(taken, "a materialization after the failures was taken in");
    assert.deepEqual(await restored(storage, taken), expected);
  });
});
