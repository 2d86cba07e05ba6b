/**
 * How a directory path becomes storage: the default `.weir`, a `restoreFrom` path, a
 * savepoint's target directory. The core asks through here and never imports a file
 * system; the entry point of a runtime installs its opener (mod.ts installs FileStorage),
 * so a build without a file system (workerd) can leave it out.
 * @module
 */
import { WeirError } from "../errors.ts";
import type { StorageAdapter } from "./adapter.ts";

/** The directory a job keeps its checkpoints in when its options name no `storage` (under the working directory). */
export const DEFAULT_STORAGE_DIR = ".weir";

/** Opens storage rooted at a directory path; `root` is the path made absolute, for locations. */
export type DirectoryOpener = (path: string) => { storage: StorageAdapter; root: string };

let opener: DirectoryOpener | undefined;

/**
 * Installs the opener used for directory paths and returns the one it replaces, so that
 * a test (the simulator) can install its own for a while and put the previous one back.
 */
export function setDirectoryOpener(open: DirectoryOpener | undefined): DirectoryOpener | undefined {
  const previous = opener;
  opener = open;
  return previous;
}

/** Opens a directory path as storage; `what` names the option in the error when none is installed. */
export function openDirectory(path: string, what: string): { storage: StorageAdapter; root: string } {
  if (!opener) {
    throw new WeirError(
      "storage_unavailable",
      `${what} is a directory path (${JSON.stringify(path)}) but this runtime has no file system storage; pass a StorageAdapter instead`,
    );
  }
  return opener(path);
}
