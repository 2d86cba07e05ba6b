/**
 * The last part of a subtask's checkpoint, once every operator capture and all channel
 * state are in: lay the state file out, checksum it, write it to storage (after a sink's
 * pre-commit is durable) and acknowledge it to the coordinator with its sizes and
 * durations — or decline it when storage fails.
 * @module
 */
import type { ChannelPeer, PendingSnapshot, SubtaskStateFile } from "../checkpoint/pending_snapshot.ts";
import { ChecksumInSlices, ChecksumOfParts } from "../checkpoint/checksum.ts";
import { WeirError } from "../errors.ts";
import type { SnapshotWork } from "./snapshot_work.ts";
import type { SubtaskHost } from "./subtask_host.ts";

/** What the writer needs from its subtask actor. */
export interface WritingActor {
  readonly name: string;
  readonly alive: boolean;
  readonly fileMeta: Omit<SubtaskStateFile, "operators" | "inputChannels" | "outputChannels" | "checkpointId" | "channelPeers">;
  now(): number;
}

/** The other ends of a subtask's channels, written with channel state so that a rescaled restore can route it. */
export interface ChannelPeers {
  input(channel: number): ChannelPeer;
  /** `key`: `"<gate>:<channel>"`. */
  output(key: string): ChannelPeer;
}

/**
 * Flink's `AsyncCheckpointRunnable` for one subtask: finalizes complete snapshots and
 * reports them. A large file's checksum is computed in slices of the subtask's snapshot
 * work, between records; a file streamed from the backend (sqlite's canonical tables) is
 * checksummed as its parts go by. Acknowledgements carry Flink's `state_size` and
 * `checkpointed_size`, which needs the shared files the last acknowledged snapshot
 * referred to.
 */
export class SnapshotWriter {
  readonly #actor: WritingActor;
  readonly #host: SubtaskHost;
  readonly #work: SnapshotWork;
  readonly #peers: ChannelPeers;
  /** Shared files the last acknowledged snapshot referred to: what a new one need not count as written. */
  #sharedAcknowledged = new Set<string>();

  constructor(actor: WritingActor, init: { host: SubtaskHost; work: SnapshotWork; peers: ChannelPeers }) {
    this.#actor = actor;
    this.#host = init.host;
    this.#work = init.work;
    this.#peers = init.peers;
  }

  /**
   * Lays out, checksums, writes and acknowledges a complete snapshot (no longer pending).
   * @throws {WeirError} `invariant_broken` (from the write) when a streamed file's parts add up to another size than laid out.
   */
  write(snap: PendingSnapshot): void {
    const id = snap.barrier.checkpointId;
    // In parts: a large operator state goes to storage as the chunks it was captured in.
    const assembling = this.#actor.now();
    const file = snap.toParts(this.#actor.fileMeta, this.#peers);
    snap.stepTook(this.#actor.now() - assembling);
    if (!Array.isArray(file)) {
      // Read from the backend while written (sqlite's canonical tables): the checksum is
      // taken as the parts go by, and the size the heads announced is checked at the end.
      const checksum = new ChecksumOfParts();
      const name = this.#actor.name;
      const checked = function* (): Generator<Uint8Array> {
        for (const p of file.parts) {
          checksum.update(p);
          yield p;
        }
        if (checksum.size !== file.size) throw new WeirError("invariant_broken", `${name}: checkpoint ${id}'s state file was laid out as ${file.size} bytes but ${checksum.size} were read`);
      };
      this.#write(snap, checked(), file.size, () => checksum.value);
      return;
    }
    let size = 0;
    for (const p of file) size += p.length;
    // The checksum of a large file is computed in slices too, between records.
    const checksum = new ChecksumInSlices(file);
    this.#work.add({
      checkpointId: id,
      firstBudget: 256 * 1024,
      maxBudget: 1 << 30,
      step: (n) => checksum.step(n),
      done: () => this.#write(snap, file, size, () => checksum.value),
      drop: () => {},
      stepTook: (ms) => snap.stepTook(ms),
    });
  }

  /**
   * Flink's state_size (the state file and every shared file it refers to) and
   * checkpointed_size (the state file and the shared files first referred to now).
   */
  #sizes(snap: PendingSnapshot, fileBytes: number): { fullStateSize: number; checkpointedSize: number } {
    let full = fileBytes;
    let written = fileBytes;
    const keys = new Set<string>();
    for (const ref of snap.sharedState) {
      if (keys.has(ref.key)) continue;
      keys.add(ref.key);
      full += ref.size;
      // A base a materialization wrote between checkpoints is no checkpoint's writing.
      if (!this.#sharedAcknowledged.has(ref.key) && !ref.materialized) written += ref.size;
    }
    // A savepoint refers to no shared file, yet the next checkpoint extends the chain of the
    // checkpoint before it: forgetting those files would count the whole chain as written.
    if (snap.barrier.type !== "SAVEPOINT") this.#sharedAcknowledged = keys;
    return { fullStateSize: full, checkpointedSize: written };
  }

  /** Writes a finished snapshot's file and acknowledges it. */
  #write(snap: PendingSnapshot, parts: Iterable<Uint8Array>, size: number, stateChecksum: () => string): void {
    const id = snap.barrier.checkpointId;
    const meta = this.#actor.fileMeta;
    const write = () => this.#host.writeState(meta.vertexId, meta.subtaskIndex, id, parts);
    // A sink's pre-commit must be durable before the checkpoint can be acknowledged.
    (snap.preCommitted ? snap.preCommitted.then(write) : write()).finally(() => snap.releaseStreaming()).then(
      (stateKey) => {
        if (!this.#actor.alive) return;
        this.#host.acknowledge({
          checkpointId: id,
          vertexId: meta.vertexId,
          subtaskIndex: meta.subtaskIndex,
          stateKey,
          stateSize: size,
          ...this.#sizes(snap, size),
          stateChecksum: stateChecksum(),
          sharedState: [...new Set(snap.sharedState.map((r) => r.key))],
          persistedData: snap.persistedBytes,
          unaligned: snap.unaligned,
          startDelayMs: snap.timing.startDelayMs,
          alignmentDurationMs: snap.timing.alignmentDurationMs,
          // Flink's sync part is the snapshot point on the task thread, the async part the rest.
          syncDurationMs: snap.syncDurationMs,
          asyncDurationMs: this.#actor.now() - snap.asyncStartedAt,
          longestStepMs: snap.longestStepMs,
          ackTimestamp: this.#actor.now(),
        });
      },
      (e) => {
        if (this.#actor.alive) this.#host.decline(id, "storage_failed", `${this.#actor.name}: ${(e as Error).message}`);
      },
    );
  }
}
