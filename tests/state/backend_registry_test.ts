import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { StreamEnvironment, WeirError } from "../../mod.ts";
import { resolvedStateOptions } from "../../state/backend_registry.ts";

describe("state options (DESIGN.md \"State options\")", () => {
  test("state that is not an options object (an array, a string, null) is refused naming the option", () => {
    for (const state of [[], ["sqlite"], "sqlite", null, 1]) {
      assert.throws(() => new StreamEnvironment({ state: state as never }), (e: unknown) =>
        e instanceof WeirError && e.code === "invalid_option" && /Option state must be an object/.test(e.message), JSON.stringify(state));
    }
  });

  test("a bad backend name or a non-boolean incremental names the option and the value", () => {
    for (const [state, option, value] of [
      [{ backend: "rocksdb" }, "state.backend", "\"rocksdb\""],
      [{ backend: "Sqlite" }, "state.backend", "\"Sqlite\""],
      [{ incremental: "yes" }, "state.incremental", "\"yes\""],
      [{ backend: "sqlite", incremental: 1 }, "state.incremental", "1"],
    ] as const) {
      assert.throws(() => new StreamEnvironment({ state: state as never }), (e: unknown) =>
        e instanceof WeirError && e.code === "invalid_option" && e.message.includes(option) && e.message.includes(value), JSON.stringify(state));
    }
  });

  test("without incremental, checkpoints are what the backend does by nature: full for heap, incremental for sqlite", () => {
    assert.deepEqual(resolvedStateOptions(undefined), { backend: "heap", incremental: false });
    assert.deepEqual(resolvedStateOptions({ backend: "heap" }), { backend: "heap", incremental: false });
    assert.deepEqual(resolvedStateOptions({ backend: "sqlite" }), { backend: "sqlite", incremental: true });
    assert.deepEqual(resolvedStateOptions({ backend: "sqlite", incremental: false }), { backend: "sqlite", incremental: false });
    assert.deepEqual(resolvedStateOptions({ incremental: true }), { backend: "heap", incremental: true });
  });
});

