import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FORMAT_VERSION, decode, encode } from "../../codec/cbor.ts";
import { readOperatorSnapshot } from "../../checkpoint/operator_snapshot_read.ts";
import { encodedSource } from "../../state/encoded_tables.ts";
import { BroadcastStateSnapshot } from "../../state/broadcast_state.ts";

/** A snapshot with every shape of keyed table: value, list, map, TTL, empty, a legacy array table. */
function snapshot(): unknown {
  return {
    keyed: {
      v: { kind: "value", groups: [[0, [["a", 1], ["b", { x: [1, 2] }]]], [7, []]] },
      l: { kind: "list", groups: [[3, [[5, ["x", "y"]]]]] },
      m: { kind: "map", groups: [[1, [[{ id: 1 }, [["k", 2.5]]]]]] },
      t: { kind: "value", ttl: true, groups: [[2, [["z", [1000, "old"]]]]] },
      legacy: [[4, [["q", { $map: [["a", 1]] }]]]],
    },
    operator: [new BroadcastStateSnapshot([["rules", [["r", 1]]]]), 7],
  };
}

describe("operator_snapshot_read", () => {
  test("readOperatorSnapshot() gives what decode() gives, keyed groups decoded on first access", () => {
    const bytes = encode(snapshot());
    const lazy = readOperatorSnapshot(bytes, "test state");
    assert.ok(encodedSource(lazy.keyed!.v) !== undefined, "a table of the usual shape stays encoded");
    assert.equal(encodedSource(lazy.keyed!.v)!.groups.length, 2);
    assert.equal(encodedSource(lazy.keyed!.legacy), undefined, "a legacy table is decoded at once");
    assert.deepEqual(lazy, decode(bytes));
    assert.ok(lazy.operator![0] instanceof BroadcastStateSnapshot);
    // Once read (or replaced), the groups are plain values and no longer an encoded source.
    assert.equal(encodedSource(lazy.keyed!.v), undefined);
    const again = readOperatorSnapshot(bytes, "test state");
    again.keyed!.l.groups = [];
    assert.deepEqual(again.keyed!.l.groups, []);
    assert.equal(encodedSource(again.keyed!.l), undefined);
  });

  test("readOperatorSnapshot() refuses truncated state with storage_corrupt and a newer format with format_unsupported", () => {
    const bytes = encode(snapshot());
    for (const cut of [2, 10, Math.floor(bytes.length / 2), bytes.length - 1]) {
      assert.throws(() => readOperatorSnapshot(bytes.subarray(0, cut), "cut state"), (e: Error & { code?: string }) => e.name === "WeirError" && e.code === "storage_corrupt" && e.message.includes("cut state"), `cut at ${cut}`);
    }
    const newer = bytes.slice();
    newer[0] = FORMAT_VERSION + 1;
    assert.throws(() => readOperatorSnapshot(newer, "new state"), { name: "WeirError", code: "format_unsupported" });
  });

  test("readOperatorSnapshot() decodes a snapshot of another shape whole, as decode() does", () => {
    for (const other of [{ operator: [1] }, { keyed: [1, 2] }, { keyed: { n: { kind: "bogus", groups: [] } } }, { keyed: { n: { kind: "value", groups: [[1, 2, 3]] } } }]) {
      const bytes = encode(other);
      assert.deepEqual(readOperatorSnapshot(bytes, "other"), decode(bytes));
    }
    // A state named __proto__ comes back under the name decode() gives it, never as a prototype.
    const proto = encode(JSON.parse('{"keyed": {"__proto__": {"kind": "value", "groups": [[1, [["k", 1]]]]}}, "__proto__": 5}'));
    const read = readOperatorSnapshot(proto, "proto");
    assert.deepEqual(read, decode(proto));
    assert.deepEqual(Object.keys(read.keyed!), ["__proto_"]);
    const mapKeys = encode(new Map<unknown, unknown>([[1, "one"]]));
    assert.deepEqual(readOperatorSnapshot(mapKeys, "numbered"), decode(mapKeys));
  });
});
