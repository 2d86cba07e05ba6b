/**
 * A SQLite database file written page after page (sqlite_btree_file.ts's B-tree bulk
 * load): the first pages, a template's, last.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { SqliteDriver } from "./sqlite_driver.ts";

/** Bytes of the pages held before they are appended to the file. */
const CHUNK_BYTES = 1 << 20;

/**
 * The file being written, page after page: the template's pages (the root in the
 * template's slot) stay in memory and are written last, over the placeholder written
 * first; new pages go to the file a chunk at a time through one buffer. A buffer of the
 * whole file cost more than writing it: on a 2-core VM the first touch of fresh memory
 * costs 3–7 ms a megabyte (page faults), and a 1 M-key file is about 28 MB.
 */
export class PageSink {
  /** The buffer the page page() returned lives in. */
  bytes: Uint8Array;
  pages: number;
  readonly pageSize: number;
  readonly rootPage: number;
  readonly #head: Uint8Array;
  readonly #chunk: Uint8Array;
  /** Pages in #chunk, not yet written. */
  #inChunk = 0;
  readonly #driver: SqliteDriver;
  readonly #path: string;

  /** @throws {WeirError} `storage_failed` when the file cannot be written */
  constructor(driver: SqliteDriver, path: string, template: { bytes: Uint8Array; rootPage: number }, pageSize: number) {
    this.#driver = driver;
    this.#path = path;
    this.pageSize = pageSize;
    this.rootPage = template.rootPage;
    this.pages = template.bytes.length / pageSize;
    this.#head = template.bytes.slice();
    this.#chunk = new Uint8Array(Math.max(1, Math.floor(CHUNK_BYTES / pageSize)) * pageSize);
    this.bytes = this.#head;
    this.#write(() => driver.writeFile(path, this.#head));
  }

  #write(write: () => void): void {
    try {
      write();
    } catch (e) {
      throw new WeirError("storage_failed", `Cannot write the SQLite state file ${this.#path}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * A zeroed page to write, the root's slot or a new page at the end, in `bytes` (valid
   * until the next call). Returns [page number, offset in bytes].
   */
  page(root: boolean): [number, number] {
    const size = this.pageSize;
    if (root) {
      const at = (this.rootPage - 1) * size;
      this.#head.fill(0, at, at + size);
      this.bytes = this.#head;
      return [this.rootPage, at];
    }
    if ((this.#inChunk + 1) * size > this.#chunk.length) this.#flush();
    const at = this.#inChunk++ * size;
    this.#chunk.fill(0, at, at + size);
    this.bytes = this.#chunk;
    return [++this.pages, at];
  }

  #flush(): void {
    if (this.#inChunk === 0) return;
    const pages = this.#chunk.subarray(0, this.#inChunk * this.pageSize);
    this.#write(() => this.#driver.writeFile(this.#path, pages, true));
    this.#inChunk = 0;
  }

  /**
   * Writes the last pages, then the template's pages with the root and the database size.
   * The header's size (offset 28) is trusted when its change counter (24) equals the
   * version-valid-for number (92), as it does in a file SQLite closed.
   */
  finish(): void {
    this.#flush();
    new DataView(this.#head.buffer, this.#head.byteOffset).setUint32(28, this.pages);
    this.#write(() => this.#driver.writeFileAt(this.#path, 0, this.#head));
  }
}
