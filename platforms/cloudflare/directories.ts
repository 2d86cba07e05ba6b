/**
 * What a directory path means on Cloudflare, where there is no file system: a savepoint's
 * target directory and a `restoreFrom` path name a "directory" in the R2 bucket bound for
 * savepoints, or, without one, a prefix in the job's own Durable Object storage.
 * @module
 */
import { invalidOption } from "../../errors.ts";
import { type StorageAdapter, checkKey } from "../../storage/adapter.ts";
import type { DirectoryOpener } from "../../storage/directory.ts";
import type { R2BucketLike } from "./bindings.ts";
import { R2Storage } from "./r2_storage.ts";

/** Where directories live in the job's storage when no bucket is bound. */
export const JOB_STORAGE_DIRECTORIES = "_directories";

/**
 * Another adapter's keys under a prefix: a "directory" inside one storage.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../../storage/memory.ts";
 * import { PrefixStorage } from "./directories.ts";
 * const inner = new MemoryStorage();
 * await new PrefixStorage(inner, "savepoints").put("sp-1/_metadata", new Uint8Array([1]));
 * console.assert((await inner.list("")).join() === "savepoints/sp-1/_metadata");
 * ```
 */
export class PrefixStorage implements StorageAdapter {
  readonly description: string;
  readonly #inner: StorageAdapter;
  readonly #prefix: string;

  /** @throws {TypeError} when `prefix` is not a valid storage key. */
  constructor(inner: StorageAdapter, prefix: string, description = `${inner.description}/${prefix}`) {
    checkKey(prefix);
    this.#inner = inner;
    this.#prefix = `${prefix}/`;
    this.description = description;
  }
  get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.#inner.get(this.#prefix + key);
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    return this.#inner.put(this.#prefix + key, bytes);
  }
  delete(key: string): Promise<void> {
    checkKey(key);
    return this.#inner.delete(this.#prefix + key);
  }
  async list(prefix: string): Promise<string[]> {
    return (await this.#inner.list(this.#prefix + prefix)).map((k) => k.slice(this.#prefix.length));
  }
  deletePrefix(prefix: string): Promise<void> {
    return this.#inner.deletePrefix(this.#prefix + prefix);
  }
}

/**
 * The path below a bucket (or the job's storage) that a directory string names:
 * `r2://BINDING/a/b`, `do://job/a/b`, `/a/b` and `a/b` all name `a/b`.
 * @throws {WeirError} `invalid_option` for an empty path or one with `.`/`..` segments.
 */
export function directoryKey(path: string): string {
  const key = path.replace(/^(r2|do):\/\/[^/]*/, "").replace(/^\/+|\/+$/g, "");
  try {
    checkKey(key);
  } catch {
    throw invalidOption("directory", path, "must name a directory such as \"savepoints\" or \"r2://SAVEPOINTS/savepoints\" (no '.' or '..' segments)");
  }
  return key;
}

/** What {@link cloudflareDirectories} opens directories in. */
export interface CloudflareDirectoriesOptions {
  /** The `WeirJob` object's own storage: directories without a bucket, under `_directories/`. */
  jobStorage: StorageAdapter;
  jobName: string;
  /** The R2 bucket bound for savepoints, if any, and its binding's name. */
  bucket?: R2BucketLike;
  bucketBinding?: string;
  /**
   * The job's whole storage (its checkpoints, across `WeirJob` and its subtask objects) and
   * the name of the `WeirJob` binding that addresses it: checkpoint locations (external_path)
   * are `do://<binding>/<job>/<run>/chk-<n>`, which a restore resolves here.
   */
  checkpoints?: { binding: string; storage: StorageAdapter };
}

/**
 * The description of a job's storage on Cloudflare, so that a checkpoint's location (its
 * external_path, description then directory) is an address {@link cloudflareDirectories}
 * opens for a restore.
 *
 * @example
 * ```ts
 * import { jobStorageAddress } from "./directories.ts";
 * console.assert(jobStorageAddress("WEIR_JOB") === "do://WEIR_JOB");
 * ```
 */
export function jobStorageAddress(jobBinding: string): string {
  return `do://${jobBinding}`;
}

/**
 * The {@link DirectoryOpener} of a job on Cloudflare: a directory is a prefix in `bucket`
 * when one is bound (locations `r2://BINDING/path`), else in the job's own storage
 * (locations `do://JOB/path`), so that a savepoint needs no binding beyond the job's.
 * A path may name its home: `r2://BINDING/…` the bound bucket, `do://JOB/…` the job's
 * storage, `do://<WeirJob binding>/…` a checkpoint of the job's storage (an external_path). Anything it cannot honour — another bucket binding, another job, another scheme,
 * a file system path (there is none) — is refused with `invalid_option` naming it, never
 * quietly written elsewhere.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../../storage/memory.ts";
 * import { cloudflareDirectories } from "./directories.ts";
 * const open = cloudflareDirectories({ jobStorage: new MemoryStorage(), jobName: "clicks" });
 * console.assert(open("savepoints").root === "do://clicks/savepoints");
 * try {
 *   open("r2://NOPE/savepoints");
 *   console.assert(false);
 * } catch (e) {
 *   console.assert((e as Error).message.includes("NOPE"));
 * }
 * ```
 * @throws {WeirError} `invalid_option` from the opener for a path it cannot honour.
 */
export function cloudflareDirectories(options: CloudflareDirectoriesOptions): DirectoryOpener {
  const bucketName = options.bucketBinding ?? "bucket";
  const inBucket = (key: string) => ({ storage: new R2Storage(options.bucket!, { prefix: key, name: bucketName }), root: `r2://${bucketName}/${key}` });
  const inJob = (key: string) => {
    const root = `do://${options.jobName}/${key}`;
    return { storage: new PrefixStorage(options.jobStorage, `${JOB_STORAGE_DIRECTORIES}/${key}`, root), root };
  };
  return (path) => {
    const home = homeOf(path, options);
    const key = directoryKey(path);
    if (home === "checkpoints") {
      const root = `${jobStorageAddress(options.checkpoints!.binding)}/${key}`;
      return { storage: new PrefixStorage(options.checkpoints!.storage, key, root), root };
    }
    if (home === "bucket" || (home === undefined && options.bucket)) return inBucket(key);
    return inJob(key);
  };
}

/**
 * Which home a directory path names: "bucket" (`r2://` the bound bucket), "job" (`do://`
 * the job's storage), or undefined (a relative path: the default home).
 * @throws {WeirError} `invalid_option` for a home that is not there.
 */
function homeOf(path: string, options: CloudflareDirectoriesOptions): "bucket" | "job" | "checkpoints" | undefined {
  const where = "(a directory such as \"savepoints\", r2://<the savepoint bucket's binding>/…, do://<job name>/… or a checkpoint's external_path)";
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/]*))?/.exec(path);
  if (!m) {
    if (path.startsWith("/")) throw invalidOption("directory", path, `is a file system path, and a Worker has no file system ${where}`);
    return undefined;
  }
  const [, scheme, host] = m;
  if (scheme === "r2") {
    if (!options.bucket) throw invalidOption("directory", path, `names the R2 bucket binding ${host ?? "(none)"}, but the Worker binds no R2 bucket for savepoints ${where}`);
    if (host !== bucketNameOf(options)) throw invalidOption("directory", path, `names the R2 bucket binding ${host ?? "(none)"}, but savepoints go to the bucket bound as ${bucketNameOf(options)} ${where}`);
    return "bucket";
  }
  if (scheme === "do") {
    // The binding first: a checkpoint's address, even for a job named as its binding.
    if (options.checkpoints && host === options.checkpoints.binding) return "checkpoints";
    if (host !== options.jobName) throw invalidOption("directory", path, `names the job ${host ?? "(none)"}, but this Worker's job is ${options.jobName} ${where}`);
    return "job";
  }
  throw invalidOption("directory", path, `has the scheme ${scheme}:, which a job on Cloudflare does not know ${where}`);
}

function bucketNameOf(options: CloudflareDirectoriesOptions): string {
  return options.bucketBinding ?? "bucket";
}
