import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EntryCache } from "../../state/sqlite_cache.ts";
import { DirtyCapture } from "../../state/sqlite_capture.ts";
import { CacheEntry } from "../../state/sqlite_cache_entry.ts";
import type { StateCodec } from "../../state/sqlite_forms.ts";
import { decode } from "../../codec/cbor.ts";
import { WeirError } from "../../errors.ts";
import { FORMAT_VERSION } from "../../codec/cbor.ts";
import { PendingWrites } from "../../state/sqlite_pending_writes.ts";
import { WriteBatch } from "../../state/sqlite_write_batch.ts";

const plain: StateCodec = { toStored: (v) => v, fromStored: (v) => v };
const codecs = new Map([[0, plain], [1, plain], [2, plain]]);

function cacheOf(capacity: number, sids = [0]): EntryCache {
  const cache = new EntryCache(capacity);
  for (const sid of sids) cache.declare(sid);
  return cache;
}

function put(cache: EntryCache, key: unknown, mem: unknown = key, sid = 0): CacheEntry {
  const e = new CacheEntry(sid, key, 0, undefined, mem, cache.epoch);
  cache.insert(e);
  return e;
}

/** The keys cached now, over every state, counted one by one. */
function cachedKeys(cache: EntryCache, sids = [0]): string[] {
  return sids.flatMap((sid) => cache.entries(sid).map((e) => `${sid}:${String(e.canonical)}`));
}

describe("EntryCache", () => {
  test("takeVictims() spares the keys hit since the hand passed them and takes the others", () => {
    const cache = cacheOf(8);
    assert.equal(cache.batch, 2);
    const es = Array.from({ length: 9 }, (_, i) => put(cache, `k${i}`));
    // Every key is new (hit): the first turn clears them all, the second takes the oldest two.
    assert.deepEqual(cache.takeVictims().map((e) => e.canonical), ["k0", "k1"]);
    assert.ok(es.slice(2).every((e) => !e.hit), "the hand cleared every hit it passed");
    // The hand stands at k2 now: k2 and k4 are used again, k3 and k5 are not.
    es[2].hit = true;
    es[4].hit = true;
    put(cache, "n0");
    put(cache, "n1");
    assert.deepEqual(cache.takeVictims().map((e) => e.canonical), ["k3", "k5"]);
    assert.ok(cache.find(0, "k2") && cache.find(0, "k4"));
    assert.equal(es[2].hit, false, "a spared key loses its second chance");
    assert.equal(cache.size, 7);
    assert.equal(cache.size, cachedKeys(cache).length);
  });

  test("takeVictims() with every key hit clears 8 frames per key wanted per call, so the turn that clears them is spread over calls; then it takes the oldest", () => {
    const cache = new EntryCache(10_000, 16);
    cache.declare(0);
    for (let k = 0; k < 10_016; k++) cache.insert(cache.entry(0, k, 0, undefined, k));
    let calls = 0;
    let victims: CacheEntry[] = [];
    while (victims.length === 0) {
      victims = cache.takeVictims();
      calls++;
      assert.ok(calls < 1000, "victims come once the hand has cleared a turn");
    }
    assert.equal(calls, Math.ceil(10_016 / 128), "128 frames per call: the last call clears the rest of the turn and takes the first victims");
    assert.deepEqual(victims.map((e) => e.canonical), Array.from({ length: 16 }, (_, i) => i), "the oldest keys");
    assert.equal(cache.size, 10_000);
  });

  test("takeVictims() never takes a key twice when the hand comes round again to one it took", () => {
    const cache = cacheOf(8);
    const es = Array.from({ length: 9 }, (_, i) => put(cache, `k${i}`));
    cache.takeVictims(); // k0, k1; every other key's hit cleared; the hand stands at k2
    for (const e of es.slice(3)) e.hit = true;
    put(cache, "n0");
    put(cache, "n1");
    // Only k2 is not hit: the first turn takes it and clears the rest, the second takes k3.
    const victims = cache.takeVictims();
    assert.deepEqual(victims.map((e) => e.canonical), ["k2", "k3"]);
    assert.equal(new Set(victims).size, victims.length, "no key is a victim twice");
    assert.equal(cache.size, cachedKeys(cache).length, "size counts the keys cached");
    assert.ok(cache.size <= cache.capacity);
  });

  test("takeVictims() takes at least a batch and brings the size to the capacity, across states", () => {
    const sids = [0, 1, 2];
    const cache = cacheOf(100, sids);
    assert.equal(cache.batch, 25);
    for (let i = 0; i < 101; i++) put(cache, `k${i}`, i, i % 3);
    assert.ok(cache.overfull);
    const v1 = cache.takeVictims();
    assert.ok(v1.length >= cache.batch, `${v1.length} victims`);
    assert.equal(new Set(v1).size, v1.length);
    assert.ok(cache.size <= 100 && !cache.overfull);
    assert.equal(cache.size, 101 - v1.length);
    assert.equal(cache.size, cachedKeys(cache, sids).length);
    // Far over the capacity (inserts without eviction): down to the capacity in one call.
    for (let i = 0; i < 300; i++) put(cache, `m${i}`, i, i % 3);
    const v2 = cache.takeVictims();
    assert.ok(v2.length >= cache.batch);
    assert.equal(cache.size, 100);
    assert.equal(cache.size, cachedKeys(cache, sids).length);
    for (const v of [...v1, ...v2]) assert.ok(!cache.find(v.sid, v.canonical), `victim ${String(v.canonical)} left the cache`);
    // Many rounds with some keys used between them: the count stays true.
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 40; i++) put(cache, `r${round}-${i}`, i, (round + i) % 3);
      for (const sid of sids) for (const [j, e] of cache.entries(sid).entries()) if (j % 3 === round % 3) e.hit = true;
      while (cache.overfull) {
        const v = cache.takeVictims();
        assert.equal(new Set(v).size, v.length, `round ${round}: no key is a victim twice`);
      }
      assert.equal(cache.size, cachedKeys(cache, sids).length, `round ${round}`);
    }
  });

  test("dirtyCount and the keys a capture takes stay right through changed/cleaned cycles while the dirty list is compacted", () => {
    const cache = cacheOf(10_000);
    const es = Array.from({ length: 5000 }, (_, i) => put(cache, `k${i}`));
    const model = new Set<CacheEntry>();
    let compacted = false;
    for (let round = 0; round < 12; round++) {
      // Change a stripe (some keys twice), then clean nearly all: the list then holds far
      // more clean keys than dirty ones, and the next new key in it compacts it.
      const from = (round * 1700) % es.length;
      for (let j = 0; j < 2500; j++) {
        const e = es[(from + j) % es.length];
        cache.changed(e);
        if (j % 5 === 0) cache.changed(e);
        model.add(e);
      }
      const clean = es.filter((_, i) => (i + round) % 50 !== 0);
      cache.cleaned(clean);
      cache.cleaned(clean); // cleaning a clean key again changes nothing
      for (const e of clean) model.delete(e);
      compacted ||= es.some((e) => !e.dirty && !e.listed && e.epoch > 0);
      assert.equal(cache.dirtyCount, model.size, `round ${round}`);
      // Every dirty key is still in the list a capture walks.
      const capture = cache.capture(false, codecs);
      assert.deepEqual(new Set(entriesOf(capture)), new Set([...model].map((e) => e.canonical)), `round ${round}`);
      capture.release();
    }
    assert.ok(compacted, "the dirty list was compacted on the way");
    const dirty = cache.dirtyEntries();
    assert.deepEqual(new Set(dirty), model);
    cache.cleaned(dirty);
    assert.equal(cache.dirtyCount, 0);
    assert.deepEqual(cache.dirtyEntries(), []);
    // Keys dropped from the list by the compaction come back to it when changed again.
    cache.changed(es[5]);
    assert.deepEqual(cache.dirtyEntries(), [es[5]]);
    assert.equal(cache.dirtyCount, 1);
  });

  test("cleaned() lets go of keys written back, without waiting for a later change (reads alone evict every dirty key)", () => {
    const cache = cacheOf(10_000);
    const es = Array.from({ length: 5000 }, (_, i) => put(cache, `k${i}`));
    for (const e of es) cache.changed(e);
    // Write-backs of 500 keys, each carrying the sweep on by 2 048 keys at most; the second
    // round (keys clean already) stands for later write-backs, which end a sweep begun.
    for (let round = 0; round < 2; round++) for (let i = 0; i < 4000; i += 500) cache.cleaned(es.slice(i, i + 500));
    assert.equal(cache.dirtyCount, 1000);
    // Clean keys may linger in the list up to 1 024 (or an eighth of the dirty ones) before a sweep is due.
    const lingering = es.slice(0, 4000).filter((e) => e.listed).length;
    assert.ok(lingering <= 1024, `the dirty list still holds ${lingering} clean keys`);
    assert.ok(es.slice(4000).every((e) => e.listed && e.dirty));
    const capture = cache.capture(false, codecs);
    assert.deepEqual(entriesOf(capture), es.slice(4000).map((e) => e.canonical));
    capture.release();
  });

  test("one write-back carries the dirty list's sweep on by 2 048 keys at most, however many it cleans", () => {
    const cache = cacheOf(20_000);
    const es = Array.from({ length: 10_000 }, (_, i) => put(cache, `k${i}`));
    for (const e of es) cache.changed(e);
    cache.cleaned(es.slice(0, 4000));
    const dropped = es.slice(0, 4000).filter((e) => !e.listed).length;
    assert.ok(dropped > 0 && dropped <= 2048, `one write-back's sweep dropped ${dropped} keys`);
  });

  test("capture(true) takes the keys changed in the current epoch; capture(false) every dirty one", () => {
    const cache = cacheOf(100);
    const [a, b, c] = ["a", "b", "c"].map((k) => put(cache, k));
    cache.changed(a);
    cache.changed(b);
    const first = cache.capture(false, codecs);
    assert.equal(first.size, 2);
    assert.equal(cache.epoch, 1);
    first.release();
    cache.changed(c); // a and b stay dirty, changed before the epoch began
    const second = cache.capture(true, codecs);
    assert.deepEqual(entriesOf(second), ["c"]);
    second.release();
    cache.changed(a);
    cache.changed(c);
    cache.cleaned([c]);
    const third = cache.capture(true, codecs);
    assert.deepEqual(entriesOf(third), ["a"]);
    third.release();
    // A clean key changed in this epoch is not taken; a dirty one from any epoch is, by capture(false).
    const all = cache.capture(false, codecs);
    assert.deepEqual(entriesOf(all).sort(), ["a", "b"]);
    all.release();
    assert.equal(cache.capture(true, codecs).size, 0, "nothing changed in the new epoch");
    assert.equal(cache.dirtyCount, 2, "a capture leaves the keys dirty");
  });

  test("a key captured again while an earlier capture holds it is encoded for the earlier one first", () => {
    const cache = cacheOf(100);
    const e = put(cache, "k", [1]);
    cache.changed(e);
    const earlier = cache.capture(false, codecs);
    const later = cache.capture(false, codecs);
    // The store hands the value out: the later capture's pass takes the key first (which
    // preserves it for the earlier one), then preserves it for itself; it changes in place.
    cache.use(e);
    assert.equal(e.seenBy, later);
    (e.mem as number[]).push(2);
    const old = earlier.value(0);
    assert.deepEqual(decode(old.bytes!), [1], "the earlier capture keeps the value it took");
    assert.deepEqual(decode(later.value(0).bytes!), [1], "the later capture took [1] too, preserved before the change");
    earlier.release();
    later.release();
  });

  test("a capture passes over the dirty keys in steps; a key used, changed or written back before the pass reaches it is taken with its value of the snapshot point", () => {
    const cache = cacheOf(100);
    const es = Array.from({ length: 8 }, (_, i) => put(cache, `k${i}`, i));
    for (const e of es.slice(0, 6)) cache.changed(e);
    const lingering = es[6];
    cache.changed(lingering);
    cache.cleaned([lingering]); // clean at the snapshot point, still in the dirty list
    const capture = cache.capture(false, codecs);
    assert.equal(capture.passed, false, "nothing is taken at the snapshot point");
    assert.equal(capture.pass(2), false);
    // k3 is replaced (the store's write(): use, then the new value), k4 written back and
    // evicted (its value dropped), k6 changed again though it was clean then, k7 new then.
    cache.use(es[3]);
    es[3].mem = 33;
    cache.changed(es[3]);
    cache.cleaned([es[4]]);
    es[4].mem = undefined;
    cache.use(lingering);
    lingering.mem = 66;
    cache.changed(lingering);
    cache.changed(es[7]);
    assert.equal(capture.pass(Infinity), true);
    const taken = new Map(Array.from({ length: capture.size }, (_, i) => capture.value(i)).map((v) => [v.entry.canonical, v.stored]));
    assert.deepEqual(taken, new Map([["k0", 0], ["k1", 1], ["k2", 2], ["k3", 3], ["k4", 4], ["k5", 5]]));
    capture.release();
    // The next changed-only capture has the keys changed after the snapshot point, with their new values.
    const next = cache.capture(true, codecs);
    assert.deepEqual(new Map(Array.from({ length: next.size }, (_, i) => next.value(i)).map((v) => [v.entry.canonical, v.stored])), new Map([["k3", 33], ["k6", 66], ["k7", 7]]));
    next.release();
  });

  test("a capture with a sink writes its pending keys, then what its pass finds, there and then, unpinned; keys taken before the pass reached them are read out with value()", () => {
    const cache = cacheOf(100);
    const es = Array.from({ length: 8 }, (_, i) => put(cache, `k${i}`, i));
    for (const e of es.slice(0, 6)) cache.changed(e);
    const pending = new PendingWrites();
    const batch = new WriteBatch(1);
    batch.put(0, 0, Uint8Array.of(1), null, Uint8Array.of(FORMAT_VERSION, 17));
    const gone = new CacheEntry(0, "p", 0, undefined, undefined, cache.epoch);
    pending.add([gone], batch.bytes());
    const capture = new DirtyCapture(codecs);
    capture.takePending(pending, 1);
    cache.capture(false, codecs, capture);
    const written: [unknown, unknown][] = [];
    capture.writeTo((e, bytes, stored) => void written.push([e.canonical, bytes ? decode(bytes) : stored]));
    assert.equal(capture.pass(3), false);
    assert.deepEqual(written, [["p", 17], ["k0", 0], ["k1", 1]], "the pending key first, then the list's in order");
    // k3 replaced and k4 written back before the pass reaches them: taken with their old values.
    cache.use(es[3]);
    es[3].mem = 33;
    cache.changed(es[3]);
    cache.cleaned([es[4]]);
    es[4].mem = undefined;
    assert.equal(capture.pass(Infinity), true);
    assert.deepEqual(written, [["p", 17], ["k0", 0], ["k1", 1], ["k2", 2], ["k5", 5]]);
    assert.deepEqual(es.filter((e) => e.pins > 0).map((e) => e.canonical), ["k3", "k4"], "only the keys taken are pinned");
    assert.equal(capture.size, 2);
    assert.deepEqual(Array.from({ length: capture.size }, (_, i) => capture.value(i)).map((v) => [v.entry.canonical, v.stored]), [["k3", 3], ["k4", 4]]);
    assert.equal(capture.failure, undefined);
    capture.release();
    assert.deepEqual(es.filter((e) => e.pins > 0), []);
  });

  test("a capture with a sink whose dirty list was empty at the snapshot point is not over until its pending keys are written", () => {
    const b = new WriteBatch();
    b.put(1, 0, Uint8Array.of(7), null, Uint8Array.of(FORMAT_VERSION, 9));
    const writes = new PendingWrites();
    writes.add([new CacheEntry(0, 7, 1, undefined, 9, 0)], b.bytes());
    const c = new DirtyCapture(codecs);
    c.takePending(writes, 1);
    c.beginPass([], 0, 0, -1);
    const seen: unknown[] = [];
    c.writeTo((e, bytes) => seen.push([e.canonical, decode(bytes!)]));
    assert.equal(c.passed, false, "a pending key is still to be written");
    assert.equal(c.pass(1), true);
    assert.deepEqual(seen, [[7, 9]]);
    assert.equal(c.size, 0, "nothing left to read out");
    c.release();
  });

  test("a sink that throws fails the capture with its first error; the pass ends and writes nothing after it", () => {
    const cache = cacheOf(100);
    const es = Array.from({ length: 4 }, (_, i) => put(cache, `k${i}`, i));
    for (const e of es) cache.changed(e);
    const capture = cache.capture(false, codecs);
    const written: unknown[] = [];
    const bad = new WeirError("value_not_persistable", "k1 cannot be encoded");
    capture.writeTo((e) => {
      if (e.canonical === "k1") throw bad;
      written.push(e.canonical);
    });
    // The next capture finishes this one's pass (as a later snapshot point does).
    cache.capture(true, codecs).release();
    assert.equal(capture.passed, true);
    assert.equal(capture.failure, bad);
    assert.deepEqual(written, ["k0"]);
    capture.release();
  });

  test("a changed-only capture's pass takes only the keys of its epoch, also when they are used before it reaches them", () => {
    const cache = cacheOf(100);
    const [a, b] = ["a", "b"].map((k) => put(cache, k, k));
    cache.changed(a);
    cache.capture(true, codecs).release();
    cache.changed(b); // a stays dirty from the epoch before
    const capture = cache.capture(true, codecs);
    cache.use(a);
    cache.use(b);
    b.mem = "b2";
    cache.changed(b);
    assert.deepEqual(Array.from({ length: capture.size }, (_, i) => capture.value(i).stored), ["b"]);
    capture.release();
  });

  test("clear() refuses with invariant_broken while keys are dirty, and forgets every key once clean", () => {
    const cache = cacheOf(4);
    const es = ["a", "b", "c"].map((k) => put(cache, k));
    cache.changed(es[1]);
    assert.throws(() => cache.clear(), (err: unknown) => err instanceof WeirError && err.code === "invariant_broken" && /1 unwritten/.test(err.message));
    assert.equal(cache.size, 3, "a refused clear() drops nothing");
    cache.cleaned([es[1]]);
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.entries(0).length, 0);
    assert.deepEqual(cache.dirtyEntries(), []);
    // The cache works on after a clear: the hand starts afresh.
    for (let i = 0; i < 5; i++) put(cache, `n${i}`);
    assert.ok(cache.takeVictims().length >= 1);
    assert.equal(cache.size, cachedKeys(cache).length);
  });

  test("an evicted entry is reused for another key only once no capture, dirty list or pending write-back refers to it", () => {
    const cache = cacheOf(4);
    const fresh = (k: string, mem: unknown = k) => {
      const e = cache.entry(0, k, 0, undefined, mem);
      cache.insert(e);
      return e;
    };
    const a = fresh("a", [1]);
    cache.changed(a);
    const capture = cache.capture(false, codecs);
    assert.equal(capture.pass(Infinity), true);
    for (const k of ["b", "c", "d", "e"]) fresh(k);
    // Every key is new (hit): the first turn of the hand clears them, the second takes a.
    assert.deepEqual(cache.takeVictims(), [a]);
    cache.cleaned([a]); // written back
    cache.evicted([a]);
    assert.equal(a.mem, undefined, "an evicted entry drops its value");
    assert.notEqual(cache.entry(0, "x", 0, undefined, 0), a, "still in the dirty list and taken by a capture: not reused");
    cache.dirtyEntries(); // sweeps the dirty list: a leaves it
    assert.equal(a.listed, false);
    const pending = new PendingWrites();
    const batch = new WriteBatch(1);
    batch.put(0, 0, Uint8Array.of(1), null, Uint8Array.of(FORMAT_VERSION, 7));
    pending.add([a], batch.bytes());
    pending.hold(); // a capture of a base reads it
    capture.release();
    assert.notEqual(cache.entry(0, "y", 0, undefined, 0), a, "pending in a write-back group: not reused");
    pending.drop(); // committed
    assert.notEqual(cache.entry(0, "z", 0, undefined, 0), a, "a capture still reads the group: not reused");
    assert.deepEqual(pending.entry(0), a);
    assert.equal(decode(pending.value(0)!), 7);
    pending.letGo();
    const reused = cache.entry(0, "w", 5, undefined, 9);
    assert.equal(reused, a, "free of every reference: reused");
    assert.deepEqual(
      { canonical: reused.canonical, keyGroup: reused.keyGroup, mem: reused.mem, dirty: reused.dirty, capture: reused.capture, pins: reused.pins, epoch: reused.epoch },
      { canonical: "w", keyGroup: 5, mem: 9, dirty: false, capture: undefined, pins: 0, epoch: cache.epoch },
    );
    // Changed under its new key, it is listed once.
    cache.insert(reused);
    cache.changed(reused);
    assert.equal(cache.dirtyEntries().filter((e) => e === reused).length, 1);
  });

  test("a victim whose write-back group commits before it is marked clean stays its key's until then", () => {
    // A background writer may commit a group in the write() that sent it, before the store
    // calls cleaned(): the victim is unpinned while still dirty, and cleaned() then lets the
    // capture's pass take it.
    const cache = cacheOf(4);
    const a = cache.entry(0, "a", 0, undefined, "va");
    cache.insert(a);
    cache.changed(a);
    const capture = cache.capture(false, codecs); // its pass has not reached a
    for (const k of ["b", "c", "d", "e"]) cache.insert(cache.entry(0, k, 0, undefined, k));
    assert.deepEqual(cache.takeVictims(), [a]);
    const pending = new PendingWrites();
    const batch = new WriteBatch(1);
    batch.put(0, 0, Uint8Array.of(1), null, Uint8Array.of(FORMAT_VERSION, 7));
    pending.add([a], batch.bytes());
    pending.drop(); // committed at once
    assert.equal(a.free, false, "dirty: not free");
    cache.cleaned([a]);
    cache.evicted([a]);
    assert.equal(capture.size, 1);
    const { entry, stored } = capture.value(0);
    assert.deepEqual([entry, entry.canonical, stored], [a, "a", "va"], "the capture took a with its value at the snapshot point");
    assert.notEqual(cache.entry(0, "x", 0, undefined, 0), a, "held by the capture: not reused");
    capture.release();
    cache.dirtyEntries(); // sweeps the dirty list: a leaves it
    assert.equal(cache.entry(0, "y", 0, undefined, 0), a, "free once the capture lets go and the list is swept");
  });

  test("entries the full pool drops give their ids back, which later entries take: ids stay as many as the entries cached or pooled", () => {
    const cache = cacheOf(8);
    const made: CacheEntry[] = [];
    for (let k = 0; k < 40; k++) {
      const e = cache.entry(0, k, 0, undefined, k);
      cache.insert(e);
      made.push(e);
    }
    assert.equal(cache.entriesWithIds, 40);
    const victims = cache.takeVictims();
    assert.equal(victims.length, 32);
    cache.evicted(victims);
    assert.equal(cache.entriesWithIds, 16, "8 cached, 8 pooled; the 24 dropped gave their ids back");
    assert.deepEqual(victims.filter((e) => e.id === 0).length, 24);
    for (let k = 40; k < 60; k++) cache.insert(cache.entry(0, k, 0, undefined, k));
    const ids = new Set(cache.entries(0).map((e) => e.id));
    assert.ok([...ids].every((id) => id >= 1 && id <= 40), "new entries take ids given back, not new ones");
    for (let k = 40; k < 60; k++) assert.equal(cache.find(0, k)?.mem, k);
    for (const e of made.slice(32)) assert.equal(cache.find(0, e.canonical), e, "the keys not taken are still found by their ids");
  });

  test("clear() frees the evicted keys still on the dirty list: they go to the pool rather than stay held", () => {
    const cache = cacheOf(8);
    const all = Array.from({ length: 16 }, (_, k) => {
      const e = cache.entry(0, k, 0, undefined, k);
      cache.insert(e);
      cache.changed(e);
      return e;
    });
    const victims = cache.takeVictims();
    assert.equal(victims.length, 8);
    cache.cleaned(victims);
    cache.evicted(victims); // still listed: not free yet
    cache.cleaned(all.filter((e) => !victims.includes(e)));
    cache.clear();
    assert.equal(cache.entriesWithIds, 8, "the cached keys' ids went; the evicted keys are pooled with theirs");
    assert.ok(victims.includes(cache.entry(0, "x", 0, undefined, 1)), "a new key takes an evicted key's entry");
  });

  test("entries made outside a cache (no pool) are never reused; an entry freed twice is pooled once", () => {
    const cache = cacheOf(4);
    const outside = put(cache, "o");
    const pooled = ["p", "q", "r", "s"].map((k) => {
      const e = cache.entry(0, k, 0, undefined, 1);
      cache.insert(e);
      return e;
    });
    const first = cache.takeVictims();
    const second = (cache.insert(cache.entry(0, "t", 0, undefined, 1)), cache.takeVictims());
    assert.deepEqual([...first, ...second], [outside, pooled[0]], "the hand takes the oldest keys");
    cache.evicted(first);
    cache.evicted(second);
    cache.evicted(second); // freed twice: one place in the pool
    const a = cache.entry(0, "a", 0, undefined, 1);
    const b = cache.entry(0, "b", 0, undefined, 1);
    assert.equal(a, pooled[0], "the pooled entry is reused");
    assert.ok(b !== a && b !== outside, "once, and never the entry made outside the cache");
  });

  test("a capture whose snapshot point falls in a sweep of the dirty list, with entries reused before it and evictions and reuse after it, takes exactly the keys dirty then", () => {
    const cache = cacheOf(6000);
    const live = new Map<string, CacheEntry>();
    const add = (k: string) => {
      const e = cache.entry(0, k, 0, undefined, k);
      cache.insert(e);
      cache.changed(e);
      live.set(k, e);
      return e;
    };
    const evict = () => {
      const victims = cache.takeVictims();
      cache.cleaned(victims.filter((e) => e.dirty));
      cache.evicted(victims);
      for (const e of victims) live.delete(e.canonical as string);
      return victims;
    };
    const es = Array.from({ length: 6000 }, (_, i) => add(`a${i}`));
    // Written back one at a time: once the clean keys outnumber the dirty ones, a sweep of
    // the list begins and passes over a few keys per call.
    let at = 0;
    while (es.every((e) => e.listed)) cache.cleaned([es[at++]]);
    assert.ok(es.slice(0, at).some((e) => e.listed), "the sweep is partway");
    // The oldest keys (all clean) are evicted: those the sweep passed are free at once.
    const victims = evict();
    assert.ok(victims.every((e) => !e.dirty));
    const reusedBefore = Array.from({ length: 300 }, (_, i) => add(`b${i}`)).filter((e) => victims.includes(e)).length;
    assert.ok(reusedBefore > 0, "entries were reused before the snapshot point");
    const dirtyThen = new Map([...live.values()].filter((e) => e.dirty).map((e) => [e.canonical, e.mem]));
    const capture = cache.capture(false, codecs);
    capture.pass(50);
    // After the snapshot point: keys written back before the pass reaches them, evictions,
    // and new keys in reused entries the capture's list may still name under their former keys.
    const clean = [...live.values()].filter((e) => e.dirty).slice(1000, 1100);
    cache.cleaned(clean);
    // (Victims dirty at the snapshot point are the capture's until its release: only the
    // others can be reused meanwhile.)
    for (let round = 0; round < 3; round++) {
      evict();
      cache.dirtyEntries(); // a whole sweep: the evicted keys leave the list
      for (let i = 0; i < 200; i++) add(`c${round}-${i}`);
    }
    capture.pass(Infinity);
    const taken = new Map(Array.from({ length: capture.size }, (_, i) => capture.value(i)).map((v) => [v.entry.canonical, v.stored]));
    assert.deepEqual(taken, dirtyThen);
    capture.release();
  });

  test("find() refuses a state id that was never declared", () => {
    const cache = cacheOf(4);
    assert.throws(() => cache.find(7, "k"), (err: unknown) => err instanceof WeirError && err.code === "invariant_broken" && /7/.test(err.message));
  });

  test("a large cache of two states' keys: every key is found, victims leave, keys used every turn stay, and the size stays true", () => {
    const sids = [0, 1];
    const cache = cacheOf(20_000, sids);
    const keyOf = (sid: number, i: number): unknown => (sid === 0 ? i : `user-${i}`);
    const hot = new Set<unknown>();
    for (let i = 0; i < 100; i++) hot.add(keyOf(i % 2, i * 7));
    const taken = new Set<CacheEntry>();
    for (let i = 0; i < 60_000; i++) {
      const sid = i % 2;
      const e = put(cache, keyOf(sid, i), i, sid);
      // A hot key missing is read in again, as a store does; once the cache is full and
      // turning, every key used between turns stays.
      for (const k of hot) {
        const hsid = typeof k === "number" ? 0 : 1;
        const h = cache.find(hsid, k);
        if (h) h.hit = true;
        else if (i > 30_000) assert.fail(`hot key ${String(k)} was evicted at ${i}`);
        else if (taken.size > 0) put(cache, k, 0, hsid);
      }
      if (!cache.overfull) continue;
      for (const v of cache.takeVictims(e)) {
        assert.ok(!taken.has(v), `key ${String(v.canonical)} taken twice`);
        taken.add(v);
        assert.equal(cache.find(v.sid, v.canonical), undefined, `victim ${String(v.canonical)} is still found`);
      }
      if (i % 5000 === 4999) assert.equal(cache.size, cachedKeys(cache, sids).length, `after ${i + 1} keys`);
    }
    assert.ok(taken.size >= 40_000, `${taken.size} victims`);
    for (const sid of sids) for (const e of cache.entries(sid)) assert.equal(cache.find(sid, e.canonical), e);
  });
});

function entriesOf(capture: { size: number; value(i: number): { entry: CacheEntry } }): unknown[] {
  return Array.from({ length: capture.size }, (_, i) => capture.value(i).entry.canonical);
}
