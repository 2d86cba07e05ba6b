/**
 * A job's storage on Cloudflare as one {@link StorageAdapter} spread over its Durable
 * Objects: each key lives in the object that owns it (storage_routes.ts), this object's own
 * keys in its own storage, every other one through a call to its owner.
 * @module
 */
import { WeirError } from "../../errors.ts";
import { type StorageAdapter, checkKey, putInParts } from "../../storage/adapter.ts";
import type { DurableObjectNamespaceLike } from "./bindings.ts";
import { ObjectStorage } from "./object_storage.ts";
import { OBJECT_NAME_HEADER } from "./placement.ts";
import type { StorageRoutes } from "./storage_routes.ts";
import { JOB_OBJECT_NAME } from "./worker.ts";

/** What a {@link RoutedStorage} is built from. */
export interface RoutedStorageOptions {
  /** This object's name (routes name owners by it); undefined until known: everything goes through calls. */
  self: string | undefined;
  /** This object's own storage. */
  local: StorageAdapter;
  /** The storage of another object, by name (an ObjectStorage calling it). */
  remote(object: string): StorageAdapter;
  /** Without routes (before the job's graph is known, or subtasks not in objects of their own): the owner of every key. */
  fallback: string;
  description: string;
}

/**
 * See the module documentation. A write, read or delete goes to the key's owner; `list`
 * and `deletePrefix` go to the one owner of the prefix, or to every object of the job
 * (results merged, sorted). A subtask object thus writes its checkpoint files and shared
 * files into its own storage, the master in `WeirJob` reads and deletes them in their
 * objects, and a restore at another parallelism reads an old subtask's files from the
 * object that wrote them, which outlives a reset (`ctx.abort()`) and a restart with its storage.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "../../storage/memory.ts";
 * import { RoutedStorage } from "./routed_storage.ts";
 * const here = new MemoryStorage(), there = new MemoryStorage();
 * const storage = new RoutedStorage({ self: "a", local: here, remote: () => there, fallback: "job", description: "routed" });
 * storage.route({ ownerOf: (k) => (k.startsWith("a/") ? "a" : "job"), ownerOfPrefix: () => undefined, objects: () => ["a", "job"] });
 * await storage.put("a/1", new Uint8Array([1]));
 * await storage.put("b/1", new Uint8Array([2]));
 * console.assert((await here.list("")).join() === "a/1" && (await there.list("")).join() === "b/1");
 * console.assert((await storage.list("")).join() === "a/1,b/1");
 * ```
 */
export class RoutedStorage implements StorageAdapter {
  readonly description: string;
  readonly #options: RoutedStorageOptions;
  #self: string | undefined;
  #routes: StorageRoutes | undefined;
  readonly #remotes = new Map<string, StorageAdapter>();

  constructor(options: RoutedStorageOptions) {
    this.#options = options;
    this.#self = options.self;
    this.description = options.description;
  }

  /** Sets the routes (the job's graph is known) and, once learned, this object's name. */
  route(routes: StorageRoutes | undefined, self?: string): void {
    this.#routes = routes;
    if (self !== undefined) this.#self = self;
  }

  /** The object that owns `key` now. */
  ownerOf(key: string): string {
    return this.#routes?.ownerOf(key) ?? this.#options.fallback;
  }

  #at(object: string): StorageAdapter {
    if (object === this.#self) return this.#options.local;
    let s = this.#remotes.get(object);
    if (!s) this.#remotes.set(object, (s = this.#options.remote(object)));
    return s;
  }

  #objectsFor(prefix: string): string[] {
    if (!this.#routes) return [this.#options.fallback];
    const one = this.#routes.ownerOfPrefix(prefix);
    return one !== undefined ? [one] : [...this.#routes.objects()];
  }

  get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    return this.#at(this.ownerOf(key)).get(key);
  }
  put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    return this.#at(this.ownerOf(key)).put(key, bytes);
  }
  putParts(key: string, parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    checkKey(key);
    return putInParts(this.#at(this.ownerOf(key)), key, parts);
  }
  delete(key: string): Promise<void> {
    checkKey(key);
    return this.#at(this.ownerOf(key)).delete(key);
  }

  /** @throws {WeirError} `storage_unavailable` naming the object that did not answer. */
  async list(prefix: string): Promise<string[]> {
    const objects = this.#objectsFor(prefix);
    if (objects.length === 1) return this.#at(objects[0]).list(prefix);
    const lists = await Promise.all(objects.map((o) => this.#at(o).list(prefix).catch((e) => {
      throw new WeirError("storage_unavailable", `${this.description}: list ${JSON.stringify(prefix)} in object ${o} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    })));
    return [...new Set(lists.flat())].sort();
  }

  /** @throws {WeirError} `storage_unavailable` naming the object that did not answer (the others deleted theirs). */
  async deletePrefix(prefix: string): Promise<void> {
    const objects = this.#objectsFor(prefix);
    const results = await Promise.allSettled(objects.map((o) => this.#at(o).deletePrefix(prefix)));
    const failed = results.findIndex((r) => r.status === "rejected");
    if (failed >= 0) {
      const e = (results[failed] as PromiseRejectedResult).reason;
      throw new WeirError("storage_unavailable", `${this.description}: deletePrefix ${JSON.stringify(prefix)} in object ${objects[failed]} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  }
}

/**
 * The `remote` of a {@link RoutedStorage} among a job's objects: an {@link ObjectStorage}
 * calling `WeirJob` for {@link JOB_OBJECT_NAME}, else the `WeirSubtask` object of that name.
 * @throws {WeirError} `binding_missing` (at the first call) when the namespace is not bound.
 */
export function objectStorages(namespaces: { job: () => DurableObjectNamespaceLike; subtasks: () => DurableObjectNamespaceLike }): (object: string) => StorageAdapter {
  return (object) => {
    const ns = () => (object === JOB_OBJECT_NAME ? namespaces.job() : namespaces.subtasks());
    return new ObjectStorage(() => ns().get(ns().idFromName(object)), object, { [OBJECT_NAME_HEADER]: object });
  };
}
