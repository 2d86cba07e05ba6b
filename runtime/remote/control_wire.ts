/**
 * Control messages as bytes, for connections that cross a thread, process or Durable
 * Object boundary: the versioned CBOR envelope of `codec/cbor.ts`, and a check on the way
 * in that the bytes hold a message of a known kind.
 * @module
 */
import { decode, encode } from "../../codec/cbor.ts";
import { WeirError } from "../../errors.ts";
import type { ToHost, ToMaster } from "./messages.ts";

const TO_HOST: ReadonlySet<string> = new Set<ToHost["kind"]>([
  "deploy", "start", "triggerCheckpoint", "snapshotAll", "notifyCheckpointComplete", "notifyCheckpointAborted",
  "endInput", "resumeSources", "stateWritten", "stateWriteFailed", "cancel",
]);
const TO_MASTER: ReadonlySet<string> = new Set<ToMaster["kind"]>([
  "deployed", "acknowledge", "decline", "failed", "sourceFinished", "inputEnded", "finalCommitted", "writeState", "metrics",
]);

/**
 * Encodes a control message of either direction.
 *
 * @example
 * ```ts
 * import { decodeToHost, encodeControl } from "./control_wire.ts";
 * const back = decodeToHost(encodeControl({ kind: "start", attempt: 2 }));
 * console.assert(back.kind === "start" && back.attempt === 2);
 * ```
 * @throws {WeirError} `value_not_persistable` when part of it does not encode (a restored
 *   state value of an unregistered class).
 */
export function encodeControl(message: ToHost | ToMaster): Uint8Array {
  return encode(message, `a ${message.kind} control message`);
}

/**
 * Decodes a master → host message.
 * @throws {WeirError} `transport_failed` when the bytes are not one.
 */
export function decodeToHost(bytes: Uint8Array): ToHost {
  return decodeKind<ToHost>(bytes, TO_HOST, "master → host");
}

/**
 * Decodes a host → master message.
 * @throws {WeirError} `transport_failed` when the bytes are not one.
 */
export function decodeToMaster(bytes: Uint8Array): ToMaster {
  return decodeKind<ToMaster>(bytes, TO_MASTER, "host → master");
}

function decodeKind<T extends { kind: string; attempt: number }>(bytes: Uint8Array, kinds: ReadonlySet<string>, direction: string): T {
  let m: T;
  try {
    m = decode<T>(bytes, `a ${direction} control message`);
  } catch (e) {
    throw new WeirError("transport_failed", `A ${direction} control message of ${bytes.length} bytes does not decode: ${(e as Error).message}`, { cause: e });
  }
  if (!m || typeof m !== "object" || !kinds.has(m.kind) || !Number.isInteger(m.attempt)) {
    throw new WeirError("transport_failed", `A ${direction} control message of ${bytes.length} bytes has unknown kind ${JSON.stringify((m as { kind?: unknown })?.kind)}`);
  }
  return m;
}
