import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemoryStorage, StreamEnvironment, WeirError } from "../../mod.ts";
import type { EnvironmentOptions } from "../../mod.ts";

const host = (hostId: string) => ({ hostId, connect: () => ({ send() {}, close() {} }) });
const transport = { openSender() {}, openReceiver() {} };

/** The constructor's error for these runtime options, or undefined when it accepts them. */
function refusal(runtime: unknown): WeirError | undefined {
  try {
    new StreamEnvironment({ storage: new MemoryStorage(), runtime } as EnvironmentOptions);
    return undefined;
  } catch (e) {
    assert.ok(e instanceof WeirError, String(e));
    return e;
  }
}

describe("runtime options", () => {
  test("accepted as the simulator and remote hosts use them", () => {
    assert.equal(refusal(undefined), undefined);
    assert.equal(refusal({ jobId: "j", sliceSteps: 1, pick: () => 0 }), undefined);
    assert.equal(refusal({ transport, hostOf: () => "w1", remoteHosts: { w1: host("w1") } }), undefined);
    assert.equal(refusal({ transport, hostOf: () => "w1", remoteHosts: { w1: { ...host("w1"), transport } } }), undefined);
  });

  test("an unknown key, a hook that is not a function or a bad transport is refused, naming it", () => {
    const typo = refusal({ remoteHostz: {} });
    assert.equal(typo?.code, "invalid_option");
    assert.match(typo!.message, /runtime\.remoteHostz/);
    assert.match(refusal({ hostOf: "w1" })!.message, /runtime\.hostOf.*function/);
    assert.match(refusal({ transport: {} })!.message, /runtime\.transport/);
    assert.match(refusal(42)!.message, /runtime/);
  });

  test("remote hosts that no subtask could reach are refused: without hostOf, not a RemoteHost, keyed by another id", () => {
    assert.match(refusal({ remoteHosts: { w1: host("w1") } })!.message, /needs runtime\.hostOf/);
    assert.match(refusal({ transport, hostOf: () => "w1", remoteHosts: { w1: {} } })!.message, /runtime\.remoteHosts\.w1.*RemoteHost/);
    assert.match(refusal({ transport, hostOf: () => "w1", remoteHosts: { w1: host("other") } })!.message, /runtime\.remoteHosts\.w1.*"other"/);
    // Without a transport the channels to the host had nowhere to go ("has no receiver", restart after restart).
    assert.match(refusal({ hostOf: () => "w1", remoteHosts: { w1: host("w1") } })!.message, /runtime\.remoteHosts.*needs runtime\.transport/);
    const other = { openSender() {}, openReceiver() {} };
    assert.match(refusal({ transport, hostOf: () => "w1", remoteHosts: { w1: { ...host("w1"), transport: other } } })!.message, /runtime\.remoteHosts\.w1.*another transport/);
  });

  test("options set after construction (as platforms do) are checked when the job executes", async () => {
    const env = new StreamEnvironment({ storage: new MemoryStorage() });
    (env.options as { runtime?: unknown }).runtime = { transport, hostOf: () => "w1", remoteHosts: { w1: host("w2") } };
    await assert.rejects(env.execute(), (e: unknown) => e instanceof WeirError && e.code === "invalid_option" && /remoteHosts\.w1/.test(e.message));
  });
});
