import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { subjectWithin } from "../../connectors/nats_subjects.ts";

describe("subjectWithin", () => {
  test("a filter is within a pattern when every subject it matches the pattern matches", () => {
    const within: [string, string][] = [["a.b", "a.b"], ["a.b", "a.*"], ["a.*", "a.*"], ["a.b.c", "a.>"], ["a.*.c", "a.>"], ["a.>", "a.>"], ["a.b", ">"], ["a.b", "*.b"]];
    const outside: [string, string][] = [["a.b", "a.c"], ["a.>", "a.*"], ["a", "a.>"], ["a.b.c", "a.*"], ["b.x", "a.>"], ["a.*", "a.b"], ["a.b", "a"]];
    for (const [f, p] of within) assert.equal(subjectWithin(f, p), true, `${f} within ${p}`);
    for (const [f, p] of outside) assert.equal(subjectWithin(f, p), false, `${f} outside ${p}`);
  });
});
