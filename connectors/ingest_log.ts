/**
 * The durable log behind HttpIngestSource: posted events are appended as numbered
 * segments to the job's storage adapter, and a POST is answered only once its segment is
 * stored, so accepted events replay after any failure. Appends are serialized and
 * grouped (one storage put carries every request that arrived while the previous put was
 * in flight), which keeps segment numbers gap-free except where a put failed.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "../storage/adapter.ts";

/** One segment holds at most this many bytes of events, so a reader never decodes more at once. */
export const SEGMENT_BYTES_MAX = 1 << 20;

interface Pending {
  json: string[];
  bytes: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * Segments `<jobName>/_ingest/<uid>/<16-digit number>`, each a JSON array of events.
 * `resolvedThrough` is the highest number whose put has settled: a reader may treat a
 * missing segment at or below it as a failed put and skip it.
 */
export class IngestLog {
  readonly storage: StorageAdapter;
  readonly prefix: string;
  readonly maxLogBytes: number;
  /** Sizes of the stored, not yet trimmed segments, by number. */
  readonly #sizes = new Map<number, number>();
  #logBytes = 0;
  #next = 0;
  #resolvedThrough = -1;
  #pending: Pending[] = [];
  #pendingBytes = 0;
  #flushing = false;
  #waiters = new Set<() => void>();
  /** Segments below this were consumed by a completed checkpoint and deleted (stored at trimmedKey). */
  #trimmedBelow = 0;

  private constructor(storage: StorageAdapter, prefix: string, maxLogBytes: number) {
    this.storage = storage;
    this.prefix = prefix;
    this.maxLogBytes = maxLogBytes;
  }

  /** Opens the log of one source, finding the segments a previous run left. */
  static async open(storage: StorageAdapter, jobName: string, uid: string, maxLogBytes: number): Promise<IngestLog> {
    const log = new IngestLog(storage, `${jobName}/_ingest/${encodeURIComponent(uid).replace(/\./g, "%2E")}/`, maxLogBytes);
    const trimmed = await storage.get(log.trimmedKey);
    if (trimmed) log.#trimmedBelow = Number(new TextDecoder().decode(trimmed)) || 0;
    for (const key of await storage.list(log.prefix)) {
      const n = segmentNumber(key.slice(log.prefix.length));
      if (n < 0) continue;
      // One get per segment left over: the log's limit bounds how much that reads.
      const size = (await storage.get(key))?.length ?? 0;
      log.#sizes.set(n, size);
      log.#logBytes += size;
      log.#next = Math.max(log.#next, n + 1);
    }
    log.#resolvedThrough = log.#next - 1;
    return log;
  }

  /** The lowest stored segment number, or the next one to be written when none is stored. */
  get first(): number {
    let min = this.#next;
    for (const n of this.#sizes.keys()) if (n < min) min = n;
    return min;
  }

  /** Highest segment number whose put has settled (stored or failed). */
  get resolvedThrough(): number {
    return this.#resolvedThrough;
  }

  /** Bytes stored and not yet trimmed, plus bytes waiting for their put. */
  get bytes(): number {
    return this.#logBytes + this.#pendingBytes;
  }

  key(n: number): string {
    return `${this.prefix}${String(n).padStart(16, "0")}`;
  }

  /**
   * Appends events (each already serialized as JSON text); resolves once they are stored.
   * @throws {WeirError} `ingest_log_full` at once when the log holds `maxLogBytes` that no
   *   completed checkpoint has consumed yet; `storage_failed` when the put fails.
   */
  append(json: string[]): Promise<void> {
    let bytes = 2;
    for (const j of json) bytes += j.length + 1;
    if (this.bytes + bytes > this.maxLogBytes && this.bytes > 0) {
      return Promise.reject(new WeirError("ingest_log_full", `The ingest log ${this.prefix} in ${this.storage.description} holds ${this.bytes} bytes not yet consumed by a completed checkpoint (limit ${this.maxLogBytes})`));
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ json, bytes, resolve, reject });
      this.#pendingBytes += bytes;
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#pending.length > 0) {
      const group: Pending[] = [];
      let bytes = 0;
      while (this.#pending.length > 0 && (group.length === 0 || bytes + this.#pending[0].bytes <= SEGMENT_BYTES_MAX)) {
        const p = this.#pending.shift()!;
        group.push(p);
        bytes += p.bytes;
      }
      const n = this.#next++;
      const text = `[${group.map((p) => p.json.join(",")).filter((s) => s.length > 0).join(",")}]`;
      const encoded = new TextEncoder().encode(text);
      try {
        await this.storage.put(this.key(n), encoded);
        this.#sizes.set(n, encoded.length);
        this.#logBytes += encoded.length;
        for (const p of group) p.resolve();
      } catch (e) {
        const error = new WeirError("storage_failed", `Could not store ingested events in ${this.storage.description}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
        for (const p of group) p.reject(error);
      } finally {
        this.#pendingBytes -= bytes;
        this.#resolvedThrough = n;
        for (const w of this.#waiters) w();
      }
    }
    this.#flushing = false;
  }

  /**
   * Numbers new segments from `n` on: a reader restored at segment n must meet every later
   * append at or above n. A new process whose log was trimmed empty would otherwise start
   * again at 0, below the reader, and the events it acknowledged would never be read.
   */
  skipTo(n: number): void {
    if (n <= this.#next) return;
    this.#next = n;
    this.#resolvedThrough = Math.max(this.#resolvedThrough, n - 1);
  }

  /** Calls `fn` whenever a segment settles; returns the function that stops it. */
  onAppend(fn: () => void): () => void {
    this.#waiters.add(fn);
    return () => this.#waiters.delete(fn);
  }

  /** The events of segment n; undefined when it is not stored (a failed put, or trimmed). */
  async read(n: number): Promise<unknown[] | undefined> {
    const bytes = await this.storage.get(this.key(n));
    if (!bytes) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(bytes)) as unknown[];
    } catch (e) {
      throw new WeirError("storage_corrupt", `Ingest log segment ${this.key(n)} in ${this.storage.description} is not a JSON array: ${(e as Error).message}`);
    }
  }

  /** Where the number below which segments were trimmed is stored: beside the segments' directory, not in it. */
  get trimmedKey(): string {
    return `${this.prefix.slice(0, -1)}.trimmed-below`;
  }

  /** Segments below this number were trimmed: a position below it cannot be read again. */
  get trimmedBelow(): number {
    return this.#trimmedBelow;
  }

  /**
   * Deletes every segment below `n`: a completed checkpoint has consumed them. The mark goes
   * first, so a restore of an older checkpoint or savepoint that needs them is refused
   * rather than skipping them.
   */
  async trimBelow(n: number): Promise<void> {
    if (n > this.#trimmedBelow) {
      await this.storage.put(this.trimmedKey, new TextEncoder().encode(String(n)));
      this.#trimmedBelow = n;
    }
    const doomed = [...this.#sizes.keys()].filter((s) => s < n);
    for (const s of doomed) {
      await this.storage.delete(this.key(s));
      this.#logBytes -= this.#sizes.get(s)!;
      this.#sizes.delete(s);
    }
  }
}

function segmentNumber(name: string): number {
  return /^\d{16}$/.test(name) ? Number(name) : -1;
}
