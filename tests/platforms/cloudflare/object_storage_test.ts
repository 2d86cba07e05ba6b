import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { StorageAdapter } from "../../../mod.ts";
import { runStorageConformance } from "../../storage/conformance.ts";
import { startWorker, type WorkerdHost, workerdSkip } from "./workerd.ts";

let host: Promise<WorkerdHost> | undefined;
const worker = () => (host ??= startWorker("./fixtures/object_storage_worker.ts", { HOME: "StorageHome", CLIENT: "StorageClient" }));
after(async () => {
  if (host) await (await host).dispose();
});

/**
 * An ObjectStorage inside one object (the client) whose bytes live in another (the home),
 * driven over HTTP: test → client object → ObjectStorage → home object → its SQLite storage.
 */
class ClientStorage implements StorageAdapter {
  static #count = 0;
  readonly home = `home${ClientStorage.#count++}`;
  readonly description = `workerd object storage ${this.home}`;

  async #call(op: string, key: string, body?: Uint8Array): Promise<Response> {
    const res = await (await worker()).fetch(`/_weir/storage/${op}?object=client&home=${this.home}&key=${encodeURIComponent(key)}`, { method: "POST", body: body as BodyInit | undefined });
    if (res.status === 400) throw new TypeError((await res.json()).message);
    if (res.status >= 500) throw new Error((await res.json()).message);
    return res;
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    const res = await this.#call("get", key);
    return res.status === 404 ? undefined : new Uint8Array(await res.arrayBuffer());
  }
  async put(key: string, bytes: Uint8Array): Promise<void> {
    await (await this.#call("put", key, bytes)).body?.cancel();
  }
  async delete(key: string): Promise<void> {
    await (await this.#call("delete", key)).body?.cancel();
  }
  async list(prefix: string): Promise<string[]> {
    return (await this.#call("list", prefix)).json();
  }
  async deletePrefix(prefix: string): Promise<void> {
    await (await this.#call("deletePrefix", prefix)).body?.cancel();
  }
}

if (workerdSkip) {
  describe("ObjectStorage under workerd", () => test("skipped", { skip: workerdSkip }, () => {}));
} else {
  runStorageConformance("ObjectStorage: one object's storage from another (workerd)", () => new ClientStorage());

  describe("ObjectStorage under workerd", () => {
    test("a value above Cloudflare's row and KV limits crosses between objects whole", { timeout: 60_000 }, async () => {
      const s = new ClientStorage();
      const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 13) % 251);
      await s.put("job/chk-1/v1-0", big);
      assert.deepEqual(await s.get("job/chk-1/v1-0"), big);
      assert.deepEqual(await s.list("job/"), ["job/chk-1/v1-0"]);
    });
  });
}
