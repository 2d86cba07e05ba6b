import type { OutputChannel } from "./output_channel.ts";
import { type Batch, type ChannelItem, withTimestamps } from "./messages.ts";
import { copyBatch } from "../codec/values.ts";
import { keyGroupOf, subtaskForKeyGroup } from "../state/key_group.ts";
import { assert } from "../errors.ts";

/** How records of one edge are spread over the receiving subtasks. */
export type Partitioning =
  | { kind: "forward" }
  | { kind: "rebalance" }
  | { kind: "broadcast" }
  | { kind: "hash"; keySelector: (value: unknown) => unknown; maxParallelism: number };

/**
 * Which receivers of a gate get copies of the records emitted into it: `none` (object
 * reuse), `others` (all but the first receiver: the first one owns what was emitted), or
 * `all` (a second gate of the same subtask: the first gate's receiver owns the originals).
 */
export type GateCopies = "none" | "others" | "all";

/**
 * A gate's buffer timeout (Flink's `execution.buffer-timeout`), in ms of the subtask's clock:
 * how long a record may wait in a partly filled batch before the batch is sent anyway.
 * `0` sends partly filled batches at the end of every actor step (weir's default locally:
 * records never wait on a timer); `-1` sends a batch only when it is full or an event
 * follows it (barrier, watermark, end of partition); `n > 0` at the end of the first step
 * that ends `n` ms or more after the step that put the oldest waiting record in.
 */
export const BUFFER_TIMEOUT_MAX_MS = 3_600_000;

/**
 * The sending side of one edge in one subtask: a partitioner over one channel per
 * receiving subtask, with a batch being filled per channel. Batches are sent when full,
 * before every event (barrier, watermark, end of partition: they never overtake records
 * in the gate, so what a barrier must cover reaches the channel first), and after a step
 * as the buffer timeout says ({@link OutputGate.endOfStep}).
 *
 * Flink: `RecordWriter` with its `OutputFlusher` (`setBufferTimeout`); weir checks the timeout
 * at the end of actor steps and on a timer of the subtask, not on a thread of its own.
 */
export class OutputGate {
  readonly channels: OutputChannel[];
  readonly partitioning: Partitioning;
  readonly batchSize: number;
  #building: Batch[];
  /**
   * The timestamps of the batches being built, parallel to #building (kept apart and put on
   * a batch when it is sent: a property read per record would cost more).
   */
  #buildingTs: (number[] | undefined)[];
  /** Set once a timestamped batch went through: the records' timestamps travel with them. */
  #timed = false;
  #next = 0;
  #targetOf: Uint16Array | undefined;
  readonly #copies: GateCopies;
  /** See {@link BUFFER_TIMEOUT_MAX_MS}: 0, -1 or ms. */
  readonly bufferTimeoutMs: number;
  /** Start of the step that put the oldest record now waiting in a partly filled batch; -1 when none waits. */
  #heldSince = -1;
  /**
   * An emitted batch this long travels as it is when nothing waits before it: half a batch
   * without a timeout (it would be sent at the end of the step anyway), a full one with a
   * timeout (smaller ones wait to be joined).
   */
  readonly #asIsMin: number;

  /** The receiving operator (name and uid), to name it when its key selector throws. */
  readonly target: { name: string; uid: string };

  constructor(
    channels: OutputChannel[],
    partitioning: Partitioning,
    batchSize: number,
    target: { name: string; uid: string },
    copies: GateCopies = "none",
    bufferTimeoutMs = 0,
  ) {
    assert(bufferTimeoutMs === -1 || (Number.isInteger(bufferTimeoutMs) && bufferTimeoutMs >= 0 && bufferTimeoutMs <= BUFFER_TIMEOUT_MAX_MS), () => `Buffer timeout ${bufferTimeoutMs} is not -1 or an integer between 0 and ${BUFFER_TIMEOUT_MAX_MS}`);
    this.bufferTimeoutMs = bufferTimeoutMs;
    this.#asIsMin = bufferTimeoutMs === 0 ? batchSize >> 1 : batchSize;
    this.#copies = copies;
    this.channels = channels;
    this.partitioning = partitioning;
    this.batchSize = batchSize;
    this.target = target;
    this.#building = channels.map(() => []);
    this.#buildingTs = channels.map(() => undefined);
  }

  /** True while any channel of this gate has items waiting for credit. */
  get backpressured(): boolean {
    for (const c of this.channels) if (c.backpressured) return true;
    return false;
  }

  emit(batch: Batch): void {
    if (batch.length === 0) return;
    if (batch.timestamps !== undefined || this.#timed) return this.#emitTimed(batch);
    const p = this.partitioning;
    const channels = this.channels;
    const copies = this.#copies;
    if (copies === "all") batch = copyBatch(batch);
    // One receiver: nothing to partition, and the batch may travel without a copy.
    if (channels.length === 1) return this.#append(0, batch);
    switch (p.kind) {
      case "forward":
        return this.#append(0, batch);
      case "broadcast":
        this.#append(0, batch);
        for (let i = 1; i < channels.length; i++) this.#append(i, copies === "none" ? batch : copyBatch(batch));
        return;
      case "rebalance":
        return this.#deal(batch, false);
      case "hash": {
        const maxP = p.maxParallelism;
        const sel = p.keySelector;
        const building = this.#building;
        const size = this.batchSize;
        // Key group → channel, computed once: no division per record.
        const targetOf = (this.#targetOf ??= channelOfKeyGroup(channels.length, maxP));
        for (let i = 0; i < batch.length; i++) {
          const v = batch[i];
          const t = targetOf[keyGroupOf(sel(v), maxP)];
          const b = building[t];
          b.push(v);
          if (b.length >= size) {
            channels[t].send(b);
            building[t] = [];
          }
        }
        return;
      }
    }
  }

  /**
   * The path of event-time jobs: as emit(), with each record's timestamp put beside it in
   * the batch being built (NaN for a record that has none).
   */
  #emitTimed(batch: Batch): void {
    this.#timed = true;
    const p = this.partitioning;
    const channels = this.channels;
    if (this.#copies === "all") batch = withTimestamps(copyBatch(batch), batch.timestamps);
    const ts = batch.timestamps;
    switch (p.kind) {
      case "hash": {
        if (channels.length === 1) break;
        const maxP = p.maxParallelism;
        const sel = p.keySelector;
        const targetOf = (this.#targetOf ??= channelOfKeyGroup(channels.length, maxP));
        const building = this.#building;
        const buildingTs = this.#buildingTs;
        const size = this.batchSize;
        for (let i = 0; i < batch.length; i++) {
          const v = batch[i];
          const t = targetOf[keyGroupOf(sel(v), maxP)];
          const b = building[t];
          const bts = buildingTs[t] ?? this.#startTimestamps(t);
          b.push(v);
          bts.push(ts === undefined ? NaN : ts[i]);
          if (b.length >= size) this.#send(t);
        }
        return;
      }
      case "broadcast":
        for (let c = 0; c < channels.length; c++) {
          const copy = c === 0 || this.#copies === "none" ? batch : withTimestamps(copyBatch(batch), ts);
          for (let i = 0; i < copy.length; i++) this.#push(c, copy[i], ts === undefined ? NaN : ts[i]);
        }
        return;
      case "rebalance":
        return this.#deal(batch, true);
    }
    this.#appendTimed(0, batch, ts);
  }

  /**
   * Rebalance (Flink's per-record round robin, dealt in runs): the batch in as many
   * contiguous runs as there are channels (fewer for a short batch), one run per channel
   * from the next in turn. Whole batches round-robin sent a job's few hundred records all to
   * one subtask. `timed`: the timed path (each run keeps its records' timestamps).
   */
  #deal(batch: Batch, timed: boolean): void {
    const n = this.channels.length;
    const runs = Math.min(n, batch.length);
    // Runs differ by one record at most; the longer ones first, from the channel next in turn.
    const base = Math.floor(batch.length / runs);
    const longer = batch.length % runs;
    const ts = batch.timestamps;
    for (let r = 0, from = 0; r < runs; r++) {
      const to = from + base + (r < longer ? 1 : 0);
      const part = runs === 1 ? batch : withTimestamps(batch.slice(from, to), ts?.slice(from, to));
      const c = (this.#next + r) % n;
      if (timed) this.#appendTimed(c, part, part.timestamps);
      else this.#append(c, part);
      from = to;
    }
    // The next batch starts after the last channel this one reached, and so do its longer runs.
    this.#next = (this.#next + (longer === 0 ? runs : longer)) % n;
  }

  /** #append with timestamps: a big enough batch with its own timestamps travels as it is, as on the untimed path. */
  #appendTimed(c: number, batch: Batch, ts: number[] | undefined): void {
    if (ts !== undefined && this.#building[c].length === 0 && batch.length >= this.#asIsMin) {
      this.channels[c].send(batch);
      return;
    }
    for (let i = 0; i < batch.length; i++) this.#push(c, batch[i], ts === undefined ? NaN : ts[i]);
  }

  #push(c: number, value: unknown, timestamp: number): void {
    const b = this.#building[c];
    (this.#buildingTs[c] ?? this.#startTimestamps(c)).push(timestamp);
    b.push(value);
    if (b.length >= this.batchSize) this.#send(c);
  }

  /** The timestamps of channel c's batch; one begun before the first timestamped record came gets NaN for its records. */
  #startTimestamps(c: number): number[] {
    return (this.#buildingTs[c] = new Array<number>(this.#building[c].length).fill(NaN));
  }

  /** Sends channel c's batch with its timestamps, if it has any, and starts the next. */
  #send(c: number): void {
    const b = this.#building[c];
    const ts = this.#buildingTs[c];
    if (ts !== undefined) {
      b.timestamps = ts;
      this.#buildingTs[c] = [];
    }
    this.channels[c].send(b);
    this.#building[c] = [];
  }

  #append(i: number, batch: Batch): void {
    const b = this.#building[i];
    if (b.length === 0 && batch.length >= this.#asIsMin) {
      // Big enough to travel as it is: no copy.
      this.channels[i].send(batch);
      return;
    }
    for (let j = 0; j < batch.length; j++) b.push(batch[j]);
    if (b.length >= this.batchSize) {
      this.channels[i].send(b);
      this.#building[i] = [];
    }
  }

  /** Sends every partly filled batch. */
  flush(): void {
    const building = this.#building;
    for (let i = 0; i < building.length; i++) if (building[i].length > 0) this.#send(i);
    this.#heldSince = -1;
  }

  /** Records waiting in partly filled batches, on every channel. */
  get held(): number {
    let n = 0;
    for (const b of this.#building) n += b.length;
    return n;
  }

  /**
   * The end of an actor step that started at `stepStartedAt` (ms of the subtask's clock;
   * `now` is its end): sends the partly filled batches if the buffer timeout says so, and
   * returns when the gate must be looked at again (ms of the same clock), or Infinity when
   * no record waits on a timer (none waits, or the timeout is -1).
   *
   * @example
   * ```ts
   * import { OutputGate } from "./output_gate.ts";
   * const sent: unknown[] = [];
   * const channel = { send: (b: unknown) => { sent.push(b); return true; }, backpressured: false, buffered: 0, close() {} };
   * // deno-lint-ignore no-explicit-any
   * const gate = new OutputGate([channel as any], { kind: "forward" }, 100, { name: "sink", uid: "sink" }, "none", 10);
   * gate.emit([1, 2]);
   * console.assert(gate.endOfStep(0, 1) === 10 && sent.length === 0); // held: due at 10 ms
   * console.assert(gate.endOfStep(5, 10) === Infinity && sent.length === 1); // sent
   * ```
   */
  endOfStep(stepStartedAt: number, now: number): number {
    const timeout = this.bufferTimeoutMs;
    if (timeout === 0) {
      this.flush();
      return Infinity;
    }
    if (this.held === 0) {
      this.#heldSince = -1;
      return Infinity;
    }
    // The step's start is no later than its first emit: the record waits at most the timeout.
    if (this.#heldSince < 0) this.#heldSince = stepStartedAt;
    if (timeout < 0) return Infinity;
    const due = this.#heldSince + timeout;
    if (now < due) return due;
    this.flush();
    return Infinity;
  }

  /** Sends an event on every channel, in-band, after flushing. */
  broadcastEvent(item: ChannelItem): void {
    this.flush();
    for (const c of this.channels) c.send(item);
  }

  /** Items waiting for credit on every channel of this gate. */
  get buffered(): number {
    let n = 0;
    for (const c of this.channels) n += c.buffered;
    return n;
  }

  /** Stops sending on every channel. */
  close(): void {
    for (const c of this.channels) c.close();
  }
}

/** For each key group, the index of the receiving subtask that owns it. */
function channelOfKeyGroup(parallelism: number, maxParallelism: number): Uint16Array {
  const out = new Uint16Array(maxParallelism);
  for (let g = 0; g < maxParallelism; g++) out[g] = subtaskForKeyGroup(g, parallelism, maxParallelism);
  return out;
}
