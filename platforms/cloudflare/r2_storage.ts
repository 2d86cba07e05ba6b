/**
 * weir's storage adapter on an R2 bucket: where savepoints go on Cloudflare when a bucket
 * is bound, in the same layout as a local savepoint directory (one object per file).
 * @module
 */
import { WeirError } from "../../errors.ts";
import { type StorageAdapter, checkKey } from "../../storage/adapter.ts";
import type { R2BucketLike } from "./bindings.ts";

/** Keys R2 deletes in one call (its documented maximum). */
const R2_DELETE_KEYS_MAX = 1000;

/**
 * A {@link StorageAdapter} over an R2 bucket, optionally under a key prefix (a "directory").
 * An R2 put is atomic (a reader sees the old object or the new one), which is all the
 * adapter contract asks; R2 takes objects of up to 5 GiB in one put. The object keys are
 * the adapter keys below the prefix, so a savepoint written here has the same names as
 * one written by FileStorage under a directory, and copies between the two as it is.
 *
 * @example
 * ```ts
 * import { R2Storage } from "./r2_storage.ts";
 * const objects = new Map<string, Uint8Array>();
 * const bucket = {
 *   get: (k: string) => Promise.resolve(objects.has(k) ? { arrayBuffer: () => Promise.resolve(objects.get(k)!.slice().buffer) } : null),
 *   put: (k: string, v: Uint8Array) => Promise.resolve(void objects.set(k, new Uint8Array(v))),
 *   delete: (k: string | string[]) => Promise.resolve(void [k].flat().forEach((x) => objects.delete(x))),
 *   list: (o: { prefix?: string }) => Promise.resolve({ objects: [...objects.keys()].filter((k) => k.startsWith(o.prefix ?? "")).map((key) => ({ key })), truncated: false }),
 * };
 * const s = new R2Storage(bucket, { prefix: "savepoints", name: "SAVEPOINTS" });
 * await s.put("savepoint-1/_metadata", new Uint8Array([1]));
 * console.assert(objects.has("savepoints/savepoint-1/_metadata"));
 * ```
 */
export class R2Storage implements StorageAdapter {
  readonly description: string;
  readonly #bucket: R2BucketLike;
  /** "" or a prefix ending in "/". */
  readonly #prefix: string;

  /**
   * @param bucket an R2 bucket binding.
   * @param options `prefix`: the "directory" inside the bucket (no leading or trailing `/` needed);
   *   `name`: the binding's name, for messages and locations.
   * @throws {WeirError} `invalid_option` when `bucket` is not an R2 bucket binding.
   */
  constructor(bucket: R2BucketLike, options: { prefix?: string; name?: string } = {}) {
    if (!bucket || typeof bucket.get !== "function" || typeof bucket.put !== "function" || typeof bucket.list !== "function") {
      throw new WeirError("invalid_option", `R2Storage needs an R2 bucket binding, got ${typeof bucket}`);
    }
    const prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    if (prefix !== "") checkKey(prefix);
    this.#bucket = bucket;
    this.#prefix = prefix === "" ? "" : `${prefix}/`;
    this.description = `r2://${options.name ?? "bucket"}${prefix === "" ? "" : `/${prefix}`}`;
  }

  async #run<T>(what: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof WeirError || e instanceof TypeError) throw e;
      throw new WeirError("storage_failed", `Cannot ${what} ${key} in ${this.description}: ${(e as Error).message}`, { cause: e });
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.#run("read", key, async () => {
      const object = await this.#bucket.get(this.#prefix + key);
      return object ? new Uint8Array(await object.arrayBuffer()) : undefined;
    });
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    // A copy: R2 may read the buffer after put() returned, and the caller may reuse it.
    return this.#run("write", key, async () => void await this.#bucket.put(this.#prefix + key, bytes.slice()));
  }

  delete(key: string): Promise<void> {
    checkKey(key);
    return this.#run("delete", key, () => this.#bucket.delete(this.#prefix + key));
  }

  list(prefix: string): Promise<string[]> {
    return this.#run("list", prefix, async () => {
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await this.#bucket.list({ prefix: this.#prefix + prefix, cursor, limit: 1000 });
        for (const o of page.objects) keys.push(o.key.slice(this.#prefix.length));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      return keys.sort();
    });
  }

  async deletePrefix(prefix: string): Promise<void> {
    const keys = await this.list(prefix);
    await this.#run("delete", prefix, async () => {
      for (let i = 0; i < keys.length; i += R2_DELETE_KEYS_MAX) {
        await this.#bucket.delete(keys.slice(i, i + R2_DELETE_KEYS_MAX).map((k) => this.#prefix + k));
      }
    });
  }
}
