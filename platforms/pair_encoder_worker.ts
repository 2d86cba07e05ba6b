/**
 * The thread of the heap snapshots' pair encoder (pair_encoder.ts): encodes each batch of
 * number pairs it is sent (state/number_pairs.ts) and sends the bytes back with the
 * batch's arrays, for the next snapshot to fill again.
 * @module
 */
import { setPriority } from "node:os";
import process from "node:process";
import { type MessagePort, workerData } from "node:worker_threads";
import { encodeNumbersAs } from "../state/number_pairs.ts";
import type { EncodeReply, EncodeRequest } from "./pair_encoder.ts";

// Below the subtask's thread, as the SQLite writer (sqlite_writer_worker.ts): on 2 cores the
// subtask wins a core when both are busy. Linux only (per thread there).
if (process.platform === "linux") {
  try {
    setPriority(10);
  } catch {
    // Not permitted: the encoder runs at the subtask's priority.
  }
}

const port = (workerData as { port: MessagePort }).port;
port.on("message", (m: EncodeRequest) => {
  const batch = { keys: new Float64Array(m.keys), values: new Float64Array(m.values), groups: new Int32Array(m.groups), length: m.length };
  let reply: EncodeReply;
  try {
    const { bytes, groups } = encodeNumbersAs(batch, m.layout);
    reply = { id: m.id, keys: m.keys, values: m.values, groups: m.groups, bytes: bytes.buffer as ArrayBuffer, layout: groups.buffer as ArrayBuffer };
  } catch (e) {
    reply = { id: m.id, keys: m.keys, values: m.values, groups: m.groups, error: String((e as Error)?.stack ?? e) };
  }
  const transfer = [reply.keys, reply.values, reply.groups];
  if (reply.bytes) transfer.push(reply.bytes, reply.layout!);
  port.postMessage(reply, transfer);
});
