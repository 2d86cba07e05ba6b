import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { csvRow, parseCsv } from "../../connectors/csv.ts";

describe("csv", () => {
  test("a row of one empty or blank field is written quoted, so a reader does not skip it as a blank line", () => {
    assert.equal(csvRow([""]), '""');
    assert.equal(csvRow([null]), '""');
    assert.equal(csvRow([" "]), '" "');
    assert.equal(csvRow(["", ""]), ",");
    for (const row of [[""], [" "], ["a", ""], ["x,y", 'q"']]) {
      assert.deepEqual(parseCsv(`${csvRow(row)}\n`, "t.csv"), [row], JSON.stringify(row));
    }
  });
});
