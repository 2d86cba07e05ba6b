/**
 * The storage contract: bytes in, bytes out, under string keys that look like paths
 * ("wordcount/ab12/chk-3/_metadata"). Encoding is not the adapter's business (codec/).
 * @module
 */

/** A durable home for checkpoint data. */
export interface StorageAdapter {
  /** A short name for messages and stats, e.g. "file:/tmp/.weir". */
  readonly description: string;
  /** The bytes under key, or undefined when there are none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores bytes under key atomically: a reader sees the old bytes or the new, never a part. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** Removes key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Every key that starts with prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  /** Removes every key that starts with prefix. */
  deletePrefix(prefix: string): Promise<void>;
}

/** Rejects keys that could escape a storage root or be read ambiguously. */
export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0 || key.startsWith("/") || key.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw new TypeError(`Invalid storage key ${JSON.stringify(key)}`);
  }
}
