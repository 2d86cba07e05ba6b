/**
 * Another Durable Object's storage, read and written by calls to it: how an object of a job
 * reaches the keys of the job's storage that another object owns (routed_storage.ts).
 * @module
 */
import { WeirError } from "../../errors.ts";
import { type StorageAdapter, checkKey } from "../../storage/adapter.ts";
import type { DurableObjectStubLike } from "./bindings.ts";

/** The path under which an object serves its storage to other objects (never to the Worker's clients). */
export const STORAGE_PATH = "/_weir/storage";

const OPS = ["get", "put", "delete", "list", "deletePrefix"] as const;
type StorageOp = typeof OPS[number];

/**
 * A {@link StorageAdapter} whose bytes live in another Durable Object: each call is one
 * request to `POST /_weir/storage/<op>?key=…` on that object, which answers from its own
 * adapter ({@link serveStorage}): subtask objects write sink commits into `WeirJob` through
 * it, the master reads and deletes checkpoint files in the subtask objects that own them,
 * and a restore at another parallelism reads an old subtask's files from its object.
 * A stub whose call threw is dropped and recreated by the next call.
 *
 * @throws {TypeError} for an invalid key, as every adapter; `WeirError` `storage_unavailable`
 *   when the call fails or the object answers with an error (its message included).
 * @example
 * ```ts
 * import { MemoryStorage } from "../../storage/memory.ts";
 * import { ObjectStorage, serveStorage } from "./object_storage.ts";
 * const home = new MemoryStorage();
 * const remote = new ObjectStorage(() => ({ fetch: (r: Request) => serveStorage(r, home) }), "job");
 * await remote.put("a/b", new Uint8Array([7]));
 * console.assert((await home.get("a/b"))?.[0] === 7);
 * ```
 */
export class ObjectStorage implements StorageAdapter {
  readonly description: string;
  readonly #stub: () => DurableObjectStubLike;
  readonly #headers: Record<string, string>;
  #current: DurableObjectStubLike | undefined;

  /**
   * `stub` gives a stub of the object that holds the storage (called again after a failed
   * call); `headers` go with every call (the object's name, which it learns from them).
   */
  constructor(stub: () => DurableObjectStubLike, objectName: string, headers: Record<string, string> = {}) {
    this.#stub = stub;
    this.#headers = headers;
    this.description = `durable-object:${objectName}`;
  }

  async #call(op: StorageOp, key: string, body?: Uint8Array): Promise<Response> {
    const stub = (this.#current ??= this.#stub());
    let res: Response;
    try {
      res = await stub.fetch(new Request(`https://weir-storage${STORAGE_PATH}/${op}?key=${encodeURIComponent(key)}`, { method: "POST", body: body as BodyInit | undefined, headers: this.#headers }));
    } catch (e) {
      this.#current = undefined;
      throw new WeirError("storage_unavailable", `${this.description}: ${op} ${JSON.stringify(key)} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (res.status === 400) throw new TypeError(((await res.json()) as { message: string }).message);
    if (res.status >= 300 && res.status !== 404) {
      const text = await res.text();
      throw new WeirError("storage_unavailable", `${this.description}: ${op} ${JSON.stringify(key)} answered ${res.status}: ${text.slice(0, 300)}`);
    }
    return res;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const res = await this.#call("get", key);
    return res.status === 404 ? undefined : new Uint8Array(await res.arrayBuffer());
  }
  async put(key: string, bytes: Uint8Array): Promise<void> {
    checkKey(key);
    await (await this.#call("put", key, bytes)).body?.cancel();
  }
  async delete(key: string): Promise<void> {
    checkKey(key);
    await (await this.#call("delete", key)).body?.cancel();
  }
  async list(prefix: string): Promise<string[]> {
    return (await this.#call("list", prefix)).json() as Promise<string[]>;
  }
  async deletePrefix(prefix: string): Promise<void> {
    await (await this.#call("deletePrefix", prefix)).body?.cancel();
  }
}

/**
 * Answers an {@link ObjectStorage} call from `storage`: 200 with the bytes, 404 for a
 * missing key, 204 after a write, 400 for an invalid key, 500 naming any other error.
 * Call it only for requests whose path starts with {@link STORAGE_PATH}, and only for
 * requests from other objects: the Worker's entry refuses `/_weir/` paths from outside.
 */
export async function serveStorage(request: Request, storage: StorageAdapter): Promise<Response> {
  const url = new URL(request.url);
  const op = url.pathname.slice(STORAGE_PATH.length + 1) as StorageOp;
  const key = url.searchParams.get("key") ?? "";
  try {
    switch (op) {
      case "get": {
        const bytes = await storage.get(key);
        return bytes ? new Response(bytes as BodyInit) : new Response(null, { status: 404 });
      }
      case "put":
        await storage.put(key, new Uint8Array(await request.arrayBuffer()));
        return new Response(null, { status: 204 });
      case "delete":
        await storage.delete(key);
        return new Response(null, { status: 204 });
      case "list":
        return Response.json(await storage.list(key));
      case "deletePrefix":
        await storage.deletePrefix(key);
        return new Response(null, { status: 204 });
      default:
        return Response.json({ message: `No storage operation ${JSON.stringify(op)} (one of ${OPS.join(", ")})` }, { status: 405 });
    }
  } catch (e) {
    const err = e as Error & { code?: string };
    return Response.json({ name: err.name, code: err.code, message: err.message }, { status: e instanceof TypeError ? 400 : 500 });
  }
}
