import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { WEIR_VERSION } from "../version.ts";
import { ROOT } from "./cli/helpers.ts";

test("WEIR_VERSION is the version of package.json and deno.json", () => {
  for (const file of ["package.json", "deno.json"]) {
    assert.equal(JSON.parse(readFileSync(join(ROOT, file), "utf8")).version, WEIR_VERSION, file);
  }
});
