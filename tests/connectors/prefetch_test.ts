import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Prefetch } from "../../connectors/prefetch.ts";

/** A fetch the test resolves by hand. */
function gate<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe("Prefetch", () => {
  test("take() hands out buffered records in order, at most max at a time", async () => {
    const p = new Prefetch<number>();
    assert.equal(p.take(10), undefined);
    p.fetch(async () => ({ records: [1, 2, 3, 4, 5], end: false }), () => true, (e) => e);
    await settle();
    assert.deepEqual(p.take(2), [1, 2]);
    assert.deepEqual(p.take(2), [3, 4]);
    assert.deepEqual(p.take(2), [5]);
    assert.equal(p.take(2), undefined);
    assert.equal(p.ended, false);
  });

  test("fetch() runs one fetch at a time", async () => {
    const p = new Prefetch<number>();
    const first = gate<{ records: number[]; end: boolean }>();
    let runs = 0;
    const run = () => {
      runs++;
      return first.promise;
    };
    p.fetch(run, () => true, (e) => e);
    p.fetch(run, () => true, (e) => e);
    assert.equal(runs, 1);
    first.resolve({ records: [7], end: false });
    await settle();
    p.fetch(run, () => true, (e) => e);
    assert.equal(runs, 2);
    assert.deepEqual(p.take(10), [7]);
  });

  test("a fetch whose position went stale is dropped", async () => {
    const p = new Prefetch<number>();
    let current = true;
    const g = gate<{ records: number[]; end: boolean }>();
    p.fetch(() => g.promise, () => current, (e) => e);
    current = false;
    g.resolve({ records: [1, 2], end: true });
    await settle();
    assert.equal(p.take(10), undefined);
    assert.equal(p.ended, false);
  });

  test("a failed fetch is thrown, mapped, by the next take()", async () => {
    const p = new Prefetch<number>();
    p.fetch(() => Promise.reject(new Error("reset")), () => true, (e) => new Error(`server gone: ${(e as Error).message}`));
    await settle();
    assert.throws(() => p.take(1), /server gone: reset/);
  });

  test("ended holds only after every record of the last fetch was taken", async () => {
    const p = new Prefetch<number>();
    p.fetch(async () => ({ records: [1, 2], end: true }), () => true, (e) => e);
    await settle();
    assert.equal(p.ended, false);
    assert.deepEqual(p.take(1), [1]);
    assert.equal(p.ended, false);
    assert.deepEqual(p.take(1), [2]);
    assert.equal(p.ended, true);
  });

  test("after close() nothing is delivered and failures are ignored", async () => {
    const p = new Prefetch<number>();
    const g = gate<{ records: number[]; end: boolean }>();
    p.fetch(() => g.promise, () => true, (e) => e);
    p.close();
    g.resolve({ records: [1], end: false });
    p.fail(new Error("closed connection"));
    await settle();
    assert.equal(p.take(1), undefined);
  });
});
