import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeFrame, DurableObjectHost, FrameOutbox } from "../../../platforms/cloudflare/object_host.ts";
import { decodeToHost, encodeControl } from "../../../runtime/remote/control_wire.ts";
import type { ToHost, ToMaster } from "../../../runtime/remote/messages.ts";
import { encode } from "../../../codec/cbor.ts";

/** A stub whose calls wait until released; records the control messages of each call. */
function gatedStub(status = 204) {
  const calls: ToHost[][] = [];
  const waiting: (() => void)[] = [];
  const stub = {
    async fetch(request: Request): Promise<Response> {
      calls.push(decodeFrame(new Uint8Array(await request.arrayBuffer())).map(decodeToHost));
      await new Promise<void>((r) => waiting.push(r));
      return new Response(status === 204 ? null : "refused", { status });
    },
  };
  const release = () => waiting.splice(0).forEach((r) => r());
  return { stub, calls, release };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(cond(), "condition not reached");
}

describe("DurableObjectHost", () => {
  test("messages sent while a call travels go together in the next call, in order", async () => {
    const { stub, calls, release } = gatedStub();
    const host = new DurableObjectHost({ hostId: "j/v1/0", incarnation: "m", stub: () => stub });
    const gateway = host.connect({ deliver() {}, failed: (e) => assert.fail(String(e)) });
    gateway.send({ kind: "start", attempt: 1 });
    await until(() => calls.length === 1);
    gateway.send({ kind: "endInput", attempt: 1 });
    gateway.send({ kind: "resumeSources", attempt: 1 });
    release();
    await until(() => calls.length === 2);
    release();
    assert.deepEqual(calls.map((c) => c.map((m) => m.kind)), [["start"], ["endInput", "resumeSources"]]);
    assert.equal(host.stats.toHost.calls, 2);
  });

  test("a refused call fails the connection once; nothing is sent or delivered afterwards", async () => {
    const { stub, calls, release } = gatedStub(409);
    const host = new DurableObjectHost({ hostId: "j/v1/0", incarnation: "m", stub: () => stub });
    const failures: unknown[] = [];
    const delivered: ToMaster[] = [];
    const gateway = host.connect({ deliver: (m) => delivered.push(m), failed: (e) => failures.push(e) });
    gateway.send({ kind: "start", attempt: 1 });
    gateway.send({ kind: "endInput", attempt: 1 });
    await until(() => calls.length === 1);
    release();
    await until(() => failures.length === 1);
    assert.match(String(failures[0]), /j\/v1\/0 refused a control call \(409\)/);
    gateway.send({ kind: "resumeSources", attempt: 1 });
    host.fromHost(encode([encodeControl({ kind: "deployed", attempt: 1, hostId: "j/v1/0" })]));
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(calls.length, 1);
    assert.equal(delivered.length, 0);
    assert.equal(failures.length, 1);
  });

  test("reports reach the open connection in order; a new connection (attempt) takes them from then on", () => {
    const host = new DurableObjectHost({ hostId: "h", incarnation: "m", stub: () => ({ fetch: () => Promise.resolve(new Response(null, { status: 204 })) }) });
    const first: string[] = [];
    const second: string[] = [];
    host.connect({ deliver: (m) => first.push(`${m.kind}@${m.attempt}`), failed() {} });
    host.fromHost(encode([encodeControl({ kind: "deployed", attempt: 0, hostId: "h" }), encodeControl({ kind: "inputEnded", attempt: 0, subtask: { vertexId: "v1", subtaskIndex: 0 } })]));
    host.connect({ deliver: (m) => second.push(`${m.kind}@${m.attempt}`), failed() {} });
    host.fromHost(encode([encodeControl({ kind: "deployed", attempt: 1, hostId: "h" })]));
    assert.deepEqual(first, ["deployed@0", "inputEnded@0"]);
    assert.deepEqual(second, ["deployed@1"]);
  });

  test("a frame that is not a list of messages is refused with transport_failed", () => {
    assert.throws(() => decodeFrame(encode({ not: "a list" })), (e: Error & { code?: string }) => e.code === "transport_failed");
  });
});

describe("FrameOutbox", () => {
  test("stop() drops what is queued and sends nothing more", async () => {
    const sent: number[] = [];
    const out = new FrameOutbox(async (f) => void sent.push(decodeFrame(f).length), () => {});
    out.push(new Uint8Array([1]));
    out.stop();
    out.push(new Uint8Array([2]));
    await out.idle();
    assert.deepEqual(sent, []);
  });
});
