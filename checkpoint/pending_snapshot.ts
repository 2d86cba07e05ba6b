import type { SharedStateRef } from "../state/backend.ts";
import { type Barrier, type ChannelStateItem, isBatch } from "../actors/messages.ts";
import { type CborHead, encodeBody, encodePartsList } from "../codec/cbor.ts";
import type { StateCapture, StreamedParts } from "../dataflow/operator.ts";
import { encodeChannelItem } from "./channel_state_items.ts";
import { WeirError } from "../errors.ts";
import type { AlignmentTiming } from "./barrier_handler.ts";

/** One subtask's file in a checkpoint, as encoded. */
export interface SubtaskStateFile {
  checkpointId: number;
  vertexId: string;
  subtaskIndex: number;
  parallelism: number;
  keyGroupRange: { start: number; end: number };
  /** uid → encoded OperatorSnapshot. */
  operators: Record<string, Uint8Array>;
  /** Input channel index → encoded record batches and watermark events (what the barrier overtook), in order. */
  inputChannels: [number, Uint8Array[]][];
  /** "gate:channel" → encoded record batches sent after the barrier but belonging before it. */
  outputChannels: [string, Uint8Array[]][];
  /**
   * Who is at the other end of each channel with state: input index → [sender vertex id,
   * sender subtask index], "gate:channel" → [receiver vertex id, receiver subtask index].
   * A restore at another parallelism routes in-flight records by these (absent in files
   * written before weir could rescale channel state).
   */
  channelPeers?: { inputs: [number, string, number][]; outputs: [string, string, number][] };
}

/** The subtask at the other end of a channel. */
export interface ChannelPeer {
  vertexId: string;
  subtaskIndex: number;
}

/**
 * A subtask's part of one checkpoint while it is being collected: the operator state
 * taken at the snapshot point, and the channel state recorded until every barrier passed.
 * Channel state is encoded as it is captured and capped in bytes, so a large backlog
 * fails the checkpoint instead of exhausting memory.
 */
export class PendingSnapshot {
  readonly barrier: Barrier;
  /** uid → the encoded OperatorSnapshot, whole, as parts (never joined), or as parts read while written. */
  readonly operators: Record<string, Uint8Array | Uint8Array[] | StreamedParts>;
  /** Captures whose parts are read while the file is written: released after the write. */
  readonly #streaming: StateCapture[] = [];
  /** Operator state still being captured asynchronously, by uid (see StateCapture). */
  readonly captures = new Map<string, StateCapture>();
  /** The shared files the finished captures refer to (incremental checkpoints). */
  readonly sharedState: SharedStateRef[] = [];
  /** Set when any barrier of this snapshot overtook data (input or output side). */
  unaligned: boolean;
  timing: AlignmentTiming;
  readonly #inputs = new Map<number, Uint8Array[]>();
  readonly #outputs = new Map<string, Uint8Array[]>();
  /** Input channels still recording until their barrier arrives. */
  readonly recordingInputs = new Set<number>();
  /** Output channels whose in-band barrier still waits for credit (aligned-with-timeout). */
  readonly waitingOutputs = new Set<string>();
  persistedBytes = 0;
  readonly maxBytes: number;
  /** Resolves when what the operators pre-committed at the snapshot is durable. */
  preCommitted: Promise<void> | undefined;
  /** Set once every barrier passed and nothing more will be recorded. */
  inputsDone = false;
  /** The snapshot point's duration on the subtask (Flink's sync duration), and when the async part began. */
  syncDurationMs = 0;
  asyncStartedAt = 0;
  /** The longest single step of the async part on the subtask's own thread, ms: how long it held records up. */
  longestStepMs = 0;

  /** A step of the async part ran on the subtask's thread for `ms`. */
  stepTook(ms: number): void {
    if (ms > this.longestStepMs) this.longestStepMs = ms;
  }

  constructor(barrier: Barrier, operators: Record<string, Uint8Array | StateCapture>, unaligned: boolean, timing: AlignmentTiming, maxBytes: number) {
    this.barrier = barrier;
    this.operators = {};
    for (const [uid, state] of Object.entries(operators)) {
      if (state instanceof Uint8Array) this.operators[uid] = state;
      else this.captures.set(uid, state);
    }
    this.unaligned = unaligned;
    this.timing = timing;
    this.maxBytes = maxBytes;
  }

  get complete(): boolean {
    return this.inputsDone && this.recordingInputs.size === 0 && this.waitingOutputs.size === 0 && this.captures.size === 0;
  }

  /** An asynchronous capture finished: its bytes join the file. */
  captured(uid: string): void {
    const capture = this.captures.get(uid);
    if (!capture) return;
    const streamed = capture.streamedParts?.();
    this.operators[uid] = streamed ?? capture.parts?.() ?? capture.bytes();
    for (const ref of capture.sharedState?.() ?? []) this.sharedState.push(ref);
    if (streamed) this.#streaming.push(capture);
    else capture.release();
    this.captures.delete(uid);
  }

  /** Frees the captures still running (the checkpoint was dropped), and those whose parts were being written. */
  releaseCaptures(): void {
    for (const c of this.captures.values()) c.release();
    this.captures.clear();
    this.releaseStreaming();
  }

  /** The file was written (or failed): frees the captures its parts were read from. */
  releaseStreaming(): void {
    for (const c of this.#streaming.splice(0)) c.release();
  }

  #add(map: Map<unknown, Uint8Array[]>, key: unknown, batches: ChannelStateItem[]): void {
    if (batches.length === 0) return;
    let list = map.get(key);
    if (!list) map.set(key, (list = []));
    for (const b of batches) {
      if (isBatch(b) && b.length === 0) continue;
      let bytes: Uint8Array;
      try {
        bytes = encodeChannelItem(b);
      } catch (cause) {
        throw new WeirError(
          "record_not_serializable",
          `Checkpoint ${this.barrier.checkpointId} cannot store an in-flight record of channel ${String(key)}: ${(cause as Error).message}`,
          { cause },
        );
      }
      this.persistedBytes += bytes.length;
      if (this.persistedBytes > this.maxBytes) {
        throw new WeirError(
          "channel_state_too_large",
          `Channel state of checkpoint ${this.barrier.checkpointId} exceeds checkpoint.channelStateMaxBytes (${this.maxBytes} bytes)`,
        );
      }
      list.push(bytes);
    }
  }

  recordInput(channel: number, batches: ChannelStateItem[]): void {
    this.#add(this.#inputs as Map<unknown, Uint8Array[]>, channel, batches);
  }

  recordOutput(gate: number, channel: number, batches: ChannelStateItem[]): void {
    this.#add(this.#outputs as Map<unknown, Uint8Array[]>, `${gate}:${channel}`, batches);
  }

  /**
   * The file for storage as parts (storage's putInParts() writes them; concatenated they
   * are what encode(file) writes); `peers` names the other end of an input channel (by
   * index) or an output channel ("gate:channel").
   */
  toParts(
    meta: Omit<SubtaskStateFile, "operators" | "inputChannels" | "outputChannels" | "checkpointId" | "channelPeers">,
    peers?: { input(channel: number): ChannelPeer; output(key: string): ChannelPeer },
  ): Uint8Array[] | StreamedParts {
    const file: FileToWrite = {
      ...meta,
      checkpointId: this.barrier.checkpointId,
      operators: this.operators,
      inputChannels: [...this.#inputs],
      outputChannels: [...this.#outputs],
    };
    if (peers && (this.#inputs.size > 0 || this.#outputs.size > 0)) {
      file.channelPeers = {
        inputs: [...this.#inputs.keys()].map((c) => {
          const p = peers.input(c);
          return [c, p.vertexId, p.subtaskIndex];
        }),
        outputs: [...this.#outputs.keys()].map((k) => {
          const p = peers.output(k);
          return [k, p.vertexId, p.subtaskIndex];
        }),
      };
    }
    return encodeFile(file);
  }
}

/** A SubtaskStateFile whose operator states may be in parts. */
type FileToWrite = Omit<SubtaskStateFile, "operators"> & { operators: Record<string, Uint8Array | Uint8Array[] | StreamedParts> };

/**
 * The file's parts shorter than this are joined (heads, small operator states), longer ones
 * handed on as they are: joining every part under 64 KiB copied most of a heap snapshot
 * (its key groups' chunks, ~10 MB at a million keys) in the one step that lays the file out.
 */
const FILE_JOIN_BYTES_MAX = 4096;

/**
 * What encode(file) writes, as parts, with the operator states in as they are (not even
 * copied): encoding the file whole would copy a large state through the encoder at the
 * cost of a pause, and joining it would hold it in memory twice. An operator state read
 * while it is written makes the whole file so (its size is known, its bytes are not yet).
 */
function encodeFile(file: FileToWrite): Uint8Array[] | StreamedParts {
  const rest = Object.entries(file).filter(([k, v]) => k !== "operators" && v !== undefined);
  const parts: (CborHead | Uint8Array | StreamedParts)[] = [{ map: rest.length + 1 }];
  for (const [k, v] of rest) parts.push(encodeBody(k), encodeBody(v, "a state file"));
  const ops = Object.entries(file.operators);
  parts.push(encodeBody("operators"), { map: ops.length });
  for (const [uid, state] of ops) {
    if (isStreamed(state)) {
      parts.push(encodeBody(uid), { bytes: state.size }, state);
      continue;
    }
    const pieces = state instanceof Uint8Array ? [state] : state;
    parts.push(encodeBody(uid), { bytes: pieces.reduce((n, p) => n + p.length, 0) }, ...pieces);
  }
  if (!parts.some(isStreamed)) return encodePartsList(parts as (CborHead | Uint8Array)[], FILE_JOIN_BYTES_MAX);
  // Runs between streamed states are laid out now; only the streamed bytes come later.
  const segments: (Uint8Array[] | StreamedParts)[] = [];
  let run: (CborHead | Uint8Array)[] = [];
  let size = 0;
  const endRun = () => {
    const bytes = encodePartsList(run, FILE_JOIN_BYTES_MAX, segments.length === 0);
    for (const b of bytes) size += b.length;
    segments.push(bytes);
    run = [];
  };
  for (const p of parts) {
    if (!isStreamed(p)) {
      run.push(p);
      continue;
    }
    endRun();
    segments.push(p);
    size += p.size;
  }
  endRun();
  function* all(): Generator<Uint8Array> {
    for (const s of segments) yield* Array.isArray(s) ? s : s.parts;
  }
  return { size, parts: all() };
}

function isStreamed(p: unknown): p is StreamedParts {
  return typeof p === "object" && p !== null && !(p instanceof Uint8Array) && !Array.isArray(p) && "parts" in p && "size" in p;
}
