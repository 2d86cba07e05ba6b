import { test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { base64 } from "../../codec/base64.ts";

test("base64() of 1.2 MB equals node:buffer's (one spread of every byte overflowed the stack: weir savepoint read of a Uint8Array state value)", () => {
  const bytes = new Uint8Array(1_200_001);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
  assert.equal(base64(bytes), Buffer.from(bytes).toString("base64"));
  assert.equal(base64(new Uint8Array()), "");
});
