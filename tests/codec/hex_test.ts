import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { bytesFromHex, bytesFromHexInJs } from "../../codec/hex.ts";
import { WeirError } from "../../errors.ts";

for (const [name, fromHex] of [["bytesFromHex", bytesFromHex], ["bytesFromHexInJs", bytesFromHexInJs]] as const) {
  describe(name, () => {
    test("reads two digits a byte, either case, as SQLite's hex() writes them", () => {
      assert.deepEqual([...fromHex("")], []);
      assert.deepEqual([...fromHex("00017F80fFaB")], [0, 1, 0x7f, 0x80, 0xff, 0xab]);
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      const text = [...all].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join("");
      assert.deepEqual(fromHex(text), all);
    });

    test("refuses an odd length or a character that is no digit, naming the text", () => {
      for (const bad of ["abc", "0g", "zz", "1 "]) {
        assert.throws(() => fromHex(bad), (e: unknown) => e instanceof WeirError && e.code === "invariant_broken" && e.message.includes(JSON.stringify(bad)));
      }
    });
  });
}
