/**
 * The asynchronous part of a keyed operator's snapshot: steps the backend's snapshot to
 * its end, then encodes the canonical tables a piece at a time (a slice of a key group's
 * entries per piece) and puts the pieces together into the bytes encode() would have
 * written for `{ keyed: tables }`. A restore reads them as it reads any operator state.
 * A heap snapshot hands over columns, which are written straight into one buffer
 * (state/heap_encode.ts) without building the canonical [key, value] pairs first.
 * @module
 */
import { type CborHead, FORMAT_VERSION, encode, encodeBody, encodePartsList } from "../../codec/cbor.ts";
import { CborWriter } from "../../codec/cbor_writer.ts";
import { assert } from "../../errors.ts";
import type { EncodedStream, EncodedTable, KeyedStateSnapshot, SharedStateRef } from "../../state/backend.ts";
import { storedKeyedHandle } from "../../state/keyed_handle_codec.ts";
import { ColumnsEncoder } from "../../state/heap_encode.ts";
import { isColumnar } from "../../state/heap_encode.ts";
import type { KeyedTableSnapshot } from "../../state/keyed_state.ts";
import { joinParts } from "../../storage/adapter.ts";
import type { StateCapture, StreamedParts } from "../operator.ts";

/** Encoded tables' parts shorter than this are joined into one buffer, longer ones handed on as they are. */
const ENCODED_JOIN_BYTES_MAX = 4096;

/** One key group's entries still to encode. */
interface GroupWork {
  entries: [unknown, unknown][];
  at: number;
}

/**
 * A keyed snapshot finished and encoded in steps.
 *
 * @example
 * ```ts
 * import { KeyedStateCapture } from "./keyed_capture.ts";
 * import { HeapKeyedStateBackend } from "../../state/heap_backend.ts";
 * import { decode } from "../../codec/cbor.ts";
 * const b = new HeapKeyedStateBackend({ maxParallelism: 8, range: { start: 0, end: 7 } });
 * b.setCurrentKey("k");
 * b.valueState<number>("n").update(1);
 * const c = new KeyedStateCapture(b.snapshot(1), "the state of operator \"doc\"");
 * while (!c.step(2)) { }
 * const state = decode<{ keyed: Record<string, { kind: string }> }>(c.bytes());
 * c.release();
 * console.assert(state.keyed.n.kind === "value");
 * ```
 */
export class KeyedStateCapture implements StateCapture {
  #shared: SharedStateRef[] = [];

  /** The shared files the snapshot refers to (a backend's own incremental format); none for canonical tables. */
  sharedState(): SharedStateRef[] {
    return this.#shared;
  }

  readonly #snap: KeyedStateSnapshot;
  readonly #what: string;
  /** Heads and bodies in order; a slot (array) per key group collects its encoded slices. */
  #parts: (CborHead | Uint8Array | Uint8Array[])[] | undefined;
  /** Groups left to encode, in order; a head precedes each group's entries in #parts. */
  #work: { group: GroupWork; partIndex: number }[] = [];
  #bytes: Uint8Array | undefined;
  /** Encoded tables (sqlite): the file as parts, the backend's chunks among them uncopied. */
  #fileParts: Uint8Array[] | undefined;
  /** Encoded tables read again while written (sqlite): the file's size and its parts to come. */
  #streamed: StreamedParts | undefined;
  #released = false;
  /** The columnar path: the writer and what is left to write into it. */
  #writer: CborWriter | undefined;
  #columns: ColumnsEncoder | undefined;

  readonly #operator: unknown[] | undefined;

  /** `operator`: operator list state taken at the snapshot point, stored beside the keyed state. */
  constructor(snap: KeyedStateSnapshot, what: string, operator?: unknown[]) {
    this.#snap = snap;
    this.#what = what;
    this.#operator = operator;
    // Before the first record after the snapshot point: an entry a record replaces is
    // encoded then, rather than held as a value and encoded by a later step.
    snap.encodeAsCollected?.(what);
  }

  get awaitsStorageOnly(): boolean {
    return this.#snap.awaitsStorageOnly === true;
  }

  step(budget: number): boolean | Promise<boolean> {
    if (this.#bytes || this.#fileParts || this.#streamed) return true;
    if (this.#columns) {
      if (!this.#columns.step(budget)) return false;
      // The columns are written: their buffers may go to the next snapshot.
      this.#snap.release();
      // The writer's chunks go to storage as parts: joining them would copy the whole state in one step.
      this.#fileParts = this.#writer!.takeParts();
      this.#columns = undefined;
      this.#writer = undefined;
      return true;
    }
    if (!this.#parts) {
      const r = this.#snap.step(budget);
      if (r instanceof Promise) return r.then((done) => done && this.#collected());
      return r && this.#collected();
    }
    let left = Math.max(1, budget);
    while (this.#work.length > 0 && left > 0) {
      const w = this.#work[0];
      const g = w.group;
      const n = Math.min(left, g.entries.length - g.at);
      const body = encodeBody(g.entries.slice(g.at, g.at + n), this.#what);
      // The slice's own array head goes: the group's head counts every entry.
      (this.#parts[w.partIndex] as Uint8Array[]).push(body.subarray(headLength(body)));
      g.at += n;
      left -= n;
      if (g.at === g.entries.length) this.#work.shift();
    }
    if (this.#work.length > 0) return false;
    this.#fileParts = encodePartsList(this.#parts.flatMap((p) => (Array.isArray(p) ? p : [p])) as (CborHead | Uint8Array)[]);
    this.#parts = undefined;
    return true;
  }

  /** The backend's snapshot is done: lays out the parts, entries to be encoded by later steps. */
  #collected(): boolean {
    const stream = this.#snap.encodedStream?.();
    if (stream) return this.#fromStream(stream);
    const encoded = this.#snap.encodedTables?.();
    if (encoded) return this.#fromEncoded(encoded);
    if (isColumnar(this.#snap)) {
      const tables = this.#snap.columns();
      const w = (this.#writer = new CborWriter(this.#what, 1 << 20));
      w.head(5, this.#operator ? 2 : 1);
      if (this.#operator) {
        w.value("operator");
        w.raw(encodeBody(this.#operator, this.#what));
      }
      w.value("keyed");
      this.#columns = new ColumnsEncoder(w, tables, "pairs");
      return false;
    }
    const result = this.#snap.result();
    this.#snap.release();
    if (result.format !== "canonical") {
      // A backend's own format (handles to files it wrote already): stored as it is.
      this.#shared = result.shared;
      this.#bytes = encode(this.#operator ? { operator: this.#operator, keyedHandle: storedKeyedHandle(result) } : { keyedHandle: storedKeyedHandle(result) }, this.#what);
      return true;
    }
    const tables: [string, KeyedTableSnapshot][] = Object.entries(result.tables);
    const parts: (CborHead | Uint8Array | Uint8Array[])[] = [{ map: this.#operator ? 2 : 1 }];
    if (this.#operator) parts.push(encodeBody("operator"), encodeBody(this.#operator, this.#what));
    parts.push(encodeBody("keyed"), { map: tables.length });
    for (const [name, t] of tables) {
      parts.push(encodeBody(name), { map: t.ttl ? 3 : 2 }, encodeBody("kind"), encodeBody(t.kind));
      if (t.ttl) parts.push(encodeBody("ttl"), encodeBody(true));
      parts.push(encodeBody("groups"), { array: t.groups.length });
      for (const [g, entries] of t.groups) {
        parts.push({ array: 2 }, encodeBody(g), { array: entries.length });
        const slot: Uint8Array[] = [];
        this.#work.push({ group: { entries, at: 0 }, partIndex: parts.length });
        parts.push(slot);
      }
    }
    this.#parts = parts;
    return false;
  }

  /**
   * Tables whose entries the backend encoded already (sqlite): their bytes are copied in
   * as they are, with no decoding and no encoding step.
   */
  #fromEncoded(tables: Record<string, EncodedTable>): boolean {
    const entries = Object.entries(tables);
    const parts: (CborHead | Uint8Array)[] = [{ map: this.#operator ? 2 : 1 }];
    if (this.#operator) parts.push(encodeBody("operator"), encodeBody(this.#operator, this.#what));
    parts.push(encodeBody("keyed"), { map: entries.length });
    for (const [name, t] of entries) {
      parts.push(encodeBody(name), { map: t.ttl ? 3 : 2 }, encodeBody("kind"), encodeBody(t.kind));
      if (t.ttl) parts.push(encodeBody("ttl"), encodeBody(true));
      parts.push(encodeBody("groups"), { array: t.groups.length });
      for (const g of t.groups) parts.push({ array: 2 }, encodeBody(g.keyGroup), { array: g.entries }, ...g.chunks);
    }
    // Not joined: the chunks go to storage as parts, so the file is never in memory twice.
    // Only runs under 4 KiB (heads, a key group's last chunk) are: joining every chunk under
    // the default 64 KiB copied most of a heap snapshot (its key groups' first chunks, 8 MB
    // at a million keys) in this one step, 7-24 ms.
    this.#fileParts = encodePartsList(parts, ENCODED_JOIN_BYTES_MAX);
    this.#snap.release();
    return true;
  }

  /**
   * Tables read again while the file is written: the heads (and so the size) are laid out
   * now from the measured key groups, the entries' chunks come from the backend as the
   * parts are taken; the snapshot is released with the capture, after the write.
   */
  #fromStream(stream: EncodedStream): boolean {
    const names = Object.keys(stream.tables);
    const lead: (CborHead | Uint8Array)[] = [{ map: this.#operator ? 2 : 1 }];
    if (this.#operator) lead.push(encodeBody("operator"), encodeBody(this.#operator, this.#what));
    lead.push(encodeBody("keyed"), { map: names.length });
    let size = 1;
    const heads = (parts: (CborHead | Uint8Array)[]) => {
      const bytes = encodePartsList(parts, 64 * 1024, false);
      for (const b of bytes) size += b.length;
      return bytes;
    };
    const leadBytes = heads(lead);
    const tables = names.map((name) => {
      const t = stream.tables[name];
      const head: (CborHead | Uint8Array)[] = [encodeBody(name), { map: t.ttl ? 3 : 2 }, encodeBody("kind"), encodeBody(t.kind)];
      if (t.ttl) head.push(encodeBody("ttl"), encodeBody(true));
      head.push(encodeBody("groups"), { array: t.groups.length });
      const groupHeads = t.groups.map((g) => {
        size += g.bytes;
        return heads([{ array: 2 }, encodeBody(g.keyGroup), { array: g.entries }]);
      });
      return { name, head: heads(head), groupHeads, groups: t.groups };
    });
    function* parts(): Generator<Uint8Array> {
      yield Uint8Array.of(FORMAT_VERSION);
      yield* leadBytes;
      for (const t of tables) {
        yield* t.head;
        let gi = -1;
        for (const c of stream.chunks(t.name)) {
          if (gi < 0 || t.groups[gi].keyGroup !== c.keyGroup) yield* t.groupHeads[++gi];
          yield c.bytes;
        }
        assert(gi === t.groups.length - 1, () => `Table "${t.name}" streamed ${gi + 1} of ${t.groups.length} key groups`);
      }
    }
    this.#streamed = { size, parts: parts() };
    return true;
  }

  /** The file as parts read while written (sqlite's canonical tables), until release(). */
  streamedParts(): StreamedParts | undefined {
    return this.#released ? undefined : this.#streamed;
  }

  bytes(): Uint8Array {
    if (this.#streamed && !this.#released) return (this.#bytes ??= joinParts([...this.#streamed.parts]));
    if (this.#fileParts && !this.#released) return (this.#bytes ??= joinParts(this.#fileParts));
    assert(this.#bytes && !this.#released, () => "A keyed state capture was asked for its bytes before it finished");
    return this.#bytes;
  }

  /** The bytes as parts (the encoded chunks of a sqlite snapshot, uncopied); bytes() joins them. */
  parts(): Uint8Array[] {
    if (this.#fileParts && !this.#released) return this.#fileParts;
    return [this.bytes()];
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#bytes = undefined;
    this.#fileParts = undefined;
    this.#streamed = undefined;
    this.#parts = undefined;
    this.#work = [];
    this.#columns = undefined;
    this.#writer = undefined;
    this.#snap.release();
  }
}

/** Bytes of the CBOR head at the start of `body`. */
function headLength(body: Uint8Array): number {
  const info = body[0] & 0x1f;
  return info < 24 ? 1 : info === 24 ? 2 : info === 25 ? 3 : info === 26 ? 5 : 9;
}
