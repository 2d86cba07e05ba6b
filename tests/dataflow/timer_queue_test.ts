import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
import { InternalTimerService } from "../../dataflow/timer_service.ts";

function service() {
  const backend = new HeapKeyedStateBackend({ maxParallelism: 128, range: { start: 0, end: 127 } });
  return { backend, timers: new InternalTimerService(backend, { now: () => 0 }, "timer-queue-test") };
}

/** Every due timer as [key, timestamp], taken one at a time. */
function drain(timers: InternalTimerService, backend: HeapKeyedStateBackend, upTo: number): [unknown, number][] {
  const fired: [unknown, number][] = [];
  for (let t = timers.nextDue("event", upTo); !Number.isNaN(t); t = timers.nextDue("event", upTo)) fired.push([backend.currentKey, t]);
  return fired;
}

describe("timer queue (timers bucketed by timestamp)", () => {
  test("timers fire in timestamp order, keys of one timestamp in registration order, each once per key and timestamp", () => {
    const { backend, timers } = service();
    for (const [key, ts] of [["a", 20], ["b", 10], ["c", 20], ["a", 20], ["d", 10], ["e", 30]] as const) {
      backend.setCurrentKey(key);
      timers.register("event", ts);
    }
    assert.deepEqual(drain(timers, backend, 20), [["b", 10], ["d", 10], ["a", 20], ["c", 20]]);
    assert.deepEqual(drain(timers, backend, Infinity), [["e", 30]]);
    assert.deepEqual(drain(timers, backend, Infinity), []);
  });

  test("a deleted timer is skipped; one registered again after its deletion fires once", () => {
    const { backend, timers } = service();
    for (const key of ["a", "b", "c"]) {
      backend.setCurrentKey(key);
      timers.register("event", 10);
    }
    backend.setCurrentKey("b");
    timers.delete("event", 10);
    backend.setCurrentKey("c");
    timers.delete("event", 10);
    timers.register("event", 10);
    assert.deepEqual(drain(timers, backend, 10), [["a", 10], ["c", 10]]);
  });

  test("a timer registered while a timestamp's keys are being taken fires in timestamp order", () => {
    const { backend, timers } = service();
    for (const key of ["a", "b", "c"]) {
      backend.setCurrentKey(key);
      timers.register("event", 10);
    }
    assert.equal(timers.nextDue("event", 10), 10);
    assert.equal(backend.currentKey, "a");
    // While firing a: an earlier timer (event time may be behind it) and one at the same timestamp.
    backend.setCurrentKey("early");
    timers.register("event", 5);
    backend.setCurrentKey("late");
    timers.register("event", 10);
    assert.deepEqual(drain(timers, backend, 10), [["early", 5], ["b", 10], ["c", 10], ["late", 10]]);
  });

  test("timers with several per key keep the others when one fires", () => {
    const { backend, timers } = service();
    backend.setCurrentKey("k");
    for (const ts of [30, 10, 20]) timers.register("event", ts);
    assert.deepEqual(drain(timers, backend, 10), [["k", 10]]);
    timers.register("event", 10); // fired already: registering it again is a new timer
    assert.deepEqual(drain(timers, backend, 30), [["k", 10], ["k", 20], ["k", 30]]);
  });

  test("a bucket of 300 000 keys whose taking an earlier timer interrupts, with more keys at its timestamp meanwhile, goes on in order (no spread of the rest, which overflowed the stack)", () => {
    const { backend, timers } = service();
    const n = 300_000;
    for (let k = 0; k < n; k++) {
      backend.setCurrentKey(k);
      timers.register("event", 10);
    }
    const fired: unknown[] = [];
    assert.equal(timers.nextDue("event", 10), 10);
    fired.push(backend.currentKey);
    // While the bucket of 10 is being taken: a key more at 10, and one at 5.
    backend.setCurrentKey("late");
    timers.register("event", 10);
    backend.setCurrentKey("early");
    timers.register("event", 5);
    for (let t = timers.nextDue("event", 10); !Number.isNaN(t); t = timers.nextDue("event", 10)) fired.push(backend.currentKey);
    assert.equal(fired.length, n + 2);
    assert.deepEqual([fired[0], fired[1], fired[2], fired[n], fired[n + 1]], [0, "early", 1, n - 1, "late"]);
  });
});

