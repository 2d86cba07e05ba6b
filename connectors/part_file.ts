/**
 * One part file of the file sink: appended to in batches, persisted (fsync) up to a
 * length at every checkpoint, resumable from that length after a failure — what
 * Flink's `RecoverableFsDataOutputStream` does for local files.
 * @module
 */
import { open, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { Buffer } from "node:buffer";
import { WeirError } from "../errors.ts";

/** Buffered bytes written out at once: fewer, larger writes. */
const FLUSH_BYTES = 256 * 1024;

/**
 * A hidden part file that becomes visible by a rename. All I/O runs in order on one
 * promise chain, so `persist()` covers exactly what was appended before it was called.
 */
export class PartFile {
  readonly hidden: string;
  readonly visible: string;
  /** Bytes appended so far (written or buffered). */
  bytes: number;
  records: number;
  /** When the part was opened, by the writer's clock (ms). */
  readonly openedAt: number;
  #written: number;
  #buffer: string[] = [];
  #buffered = 0;
  #fh: FileHandle | undefined;
  #chain: Promise<void> = Promise.resolve();
  #failed: unknown;

  private constructor(hidden: string, visible: string, bytes: number, records: number, openedAt: number, ready: (self: PartFile) => Promise<void>) {
    this.hidden = hidden;
    this.visible = visible;
    this.bytes = bytes;
    this.records = records;
    this.openedAt = openedAt;
    this.#written = bytes;
    this.#run(() => ready(this));
  }

  /** A new, empty part (an abandoned file of the same name is overwritten). */
  static create(hidden: string, visible: string, openedAt: number): PartFile {
    return new PartFile(hidden, visible, 0, 0, openedAt, async (self) => {
      self.#fh = await open(hidden, "w");
    });
  }

  /**
   * The part a checkpoint persisted, cut back to the length it had then: what the failed
   * attempt appended after that checkpoint is dropped.
   * @throws {WeirError} `sink_transaction_lost` if the file is missing or shorter.
   */
  static async resume(hidden: string, visible: string, bytes: number, records: number, openedAt: number): Promise<PartFile> {
    const size = await sizeOf(hidden);
    if (size === undefined || size < bytes) {
      throw new WeirError("sink_transaction_lost", `FileSink part ${hidden} should hold ${bytes} bytes, found ${size === undefined ? "no file" : `${size} bytes`}`);
    }
    const part = new PartFile(hidden, visible, bytes, records, openedAt, async (self) => {
      self.#fh = await open(hidden, "r+");
      await self.#fh.truncate(bytes);
    });
    await part.#chain;
    if (part.#failed !== undefined) throw part.#failed;
    return part;
  }

  /** Appends one line (its byte length given, with the line break). */
  append(line: string, lineBytes: number): Promise<void> | undefined {
    this.#buffer.push(line);
    this.#buffered += lineBytes;
    this.bytes += lineBytes;
    this.records++;
    if (this.#buffered < FLUSH_BYTES) return undefined;
    return this.#flush();
  }

  /** Appends bytes copied from elsewhere (a resumed part of another subtask). */
  appendBytes(data: Uint8Array, records: number): Promise<void> {
    this.#flush();
    const at = this.#written;
    this.#written += data.length;
    this.bytes += data.length;
    this.records += records;
    return (this.#run(async () => {
      await this.#fh!.write(data, 0, data.length, at);
    }));
  }

  /** Writes out what is buffered and fsyncs: durable up to the current length. */
  persist(): Promise<void> {
    this.#flush();
    return (this.#run(() => this.#fh!.sync()));
  }

  /** Persists and closes: the part is complete (pending until its checkpoint completes). */
  close(): Promise<void> {
    const done = this.persist();
    return (this.#run(async () => {
      await done;
      await this.#fh!.close();
      this.#fh = undefined;
    }));
  }

  /** Closes without persisting (the attempt is abandoned); never throws. */
  abandon(): void {
    this.#buffer = [];
    this.#chain.then(() => this.#fh?.close(), () => this.#fh?.close()).catch(() => {});
  }

  #flush(): Promise<void> {
    if (this.#buffered === 0) return this.#chain;
    const data = Buffer.from(this.#buffer.join(""), "utf8");
    this.#buffer = [];
    this.#buffered = 0;
    const at = this.#written;
    this.#written += data.length;
    return (this.#run(async () => {
      await this.#fh!.write(data, 0, data.length, at);
    }));
  }

  /**
   * Chains fn after everything before it. The chain itself never rejects: the first
   * failure is kept and every later step fails with it. The promise returned is marked
   * handled, so an abandoned checkpoint's persist() that nobody awaits is no unhandled
   * rejection, while whoever awaits it still sees the error.
   */
  #run(fn: () => Promise<void>): Promise<void> {
    const step = this.#chain.then(() => {
      if (this.#failed !== undefined) throw this.#failed;
      return fn();
    }).catch((e) => {
      this.#failed ??= e instanceof WeirError ? e : new WeirError("sink_write_failed", `FileSink could not write ${this.hidden}: ${(e as Error)?.message ?? e}`, { cause: e });
      throw this.#failed;
    });
    this.#chain = step.catch(() => {});
    step.catch(() => {});
    return step;
  }
}

/** Size of a file in bytes, or undefined if there is none. */
export async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return undefined;
    throw e;
  }
}
