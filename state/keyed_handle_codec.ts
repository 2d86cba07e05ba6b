/**
 * How an incremental keyed state handle is stored in a subtask's state file. Every
 * checkpoint's state file lists the whole chain of shared files its keyed state needs (a
 * base and the changelogs after it), so the list is written compactly: the directory the
 * files share once, then `[name, size, checksum]` per file. Written as full
 * `{ key, size, checksum }` objects, each file cost about 140 bytes per subtask per
 * checkpoint, which at 20 000 keys and a parallelism of 4 was a fifth of what a
 * checkpoint with 1 % of its keys changed wrote. Handles written before (a `shared` list
 * of objects, no `sharedDir`) are still read.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { IncrementalKeyedState, SharedStateRef } from "./backend.ts";

/** A shared file in the compact form: its key after `sharedDir`, its size, its checksum. */
type CompactRef = [name: string, size: number, checksum: string];

/** An incremental handle as its state file holds it. */
export interface StoredKeyedHandle extends Omit<IncrementalKeyedState, "shared" | "storage"> {
  /** The prefix every shared file's key starts with (up to and with a `/`; may be ""). */
  sharedDir?: string;
  shared: CompactRef[] | SharedStateRef[];
}

/**
 * The handle as a state file stores it: shared files relative to the directory they
 * share. The storage a restore attached is never stored.
 *
 * @example
 * ```ts
 * import { storedKeyedHandle, readKeyedHandle } from "./keyed_handle_codec.ts";
 * const h = { format: "incremental" as const, backend: "heap", version: 3, range: { start: 0, end: 7 }, shared: [{ key: "j/id/shared/heap/op/0/4-base", size: 10, checksum: "crc32c:00000001" }] };
 * const stored = storedKeyedHandle(h);
 * console.assert(stored.sharedDir === "j/id/shared/heap/op/0/" && stored.shared[0][0] === "4-base");
 * console.assert(readKeyedHandle(stored, "doc").shared[0].key === h.shared[0].key);
 * ```
 */
export function storedKeyedHandle(h: IncrementalKeyedState): StoredKeyedHandle & { sharedDir: string; shared: CompactRef[] } {
  const { storage: _storage, shared, ...rest } = h;
  const sharedDir = commonDirectory(shared.map((r) => r.key));
  return { ...rest, sharedDir, shared: shared.map((r): CompactRef => [r.key.slice(sharedDir.length), r.size, r.checksum]) };
}

/**
 * The handle a state file stored (compact or in the earlier form of full refs).
 * @throws {WeirError} `checkpoint_corrupt` when its list of shared files is not one
 */
export function readKeyedHandle(stored: StoredKeyedHandle, what: string): IncrementalKeyedState {
  const { sharedDir, shared, ...rest } = stored;
  if (!Array.isArray(shared) || (sharedDir !== undefined && typeof sharedDir !== "string")) {
    throw new WeirError("checkpoint_corrupt", `The keyed state handle of ${what} has no list of shared files`);
  }
  const refs = shared.map((r, i): SharedStateRef => {
    if (Array.isArray(r) && r.length === 3 && typeof r[0] === "string" && typeof r[1] === "number" && typeof r[2] === "string") {
      return { key: (sharedDir ?? "") + r[0], size: r[1], checksum: r[2] };
    }
    if (sharedDir === undefined && r !== null && typeof r === "object" && !Array.isArray(r) && typeof r.key === "string" && typeof r.size === "number" && typeof r.checksum === "string") return r;
    throw new WeirError("checkpoint_corrupt", `Shared file ${i} of the keyed state handle of ${what} is not [name, size, checksum]: ${JSON.stringify(r)}`);
  });
  return { ...rest, shared: refs } as IncrementalKeyedState;
}

/** The longest prefix of every key that ends with a `/` ("" for none, or for no keys). */
function commonDirectory(keys: string[]): string {
  if (keys.length === 0) return "";
  let dir = keys[0].slice(0, keys[0].lastIndexOf("/") + 1);
  for (const k of keys) {
    while (dir !== "" && !k.startsWith(dir)) dir = dir.slice(0, dir.lastIndexOf("/", dir.length - 2) + 1);
  }
  return dir;
}
