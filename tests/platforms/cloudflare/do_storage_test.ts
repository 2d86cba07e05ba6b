import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StorageAdapter } from "../../../mod.ts";
import { runStorageConformance } from "../../storage/conformance.ts";
import { startWorker, type WorkerdHost, workerdSkip } from "./workerd.ts";

let host: Promise<WorkerdHost> | undefined;
const worker = () => (host ??= startWorker("./fixtures/storage_worker.ts", { PROBE: "StorageProbe" }));
after(async () => {
  if (host) await (await host).dispose();
});

/** The adapter inside a Durable Object under workerd, driven over HTTP: one object per instance. */
class ProbeStorage implements StorageAdapter {
  static #objects = 0;
  readonly object = `o${ProbeStorage.#objects++}`;
  readonly description = `workerd probe ${this.object}`;

  async #call(op: string, key: string, body?: Uint8Array): Promise<Response> {
    const res = await (await worker()).fetch(`/${op}?object=${this.object}&key=${encodeURIComponent(key)}`, { method: "POST", body: body as BodyInit | undefined });
    if (res.status === 400) throw new TypeError((await res.json()).message);
    if (res.status >= 500) throw new Error((await res.json()).message);
    return res;
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    const res = await this.#call("get", key);
    return res.status === 404 ? undefined : new Uint8Array(await res.arrayBuffer());
  }
  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.#call("put", key, bytes);
  }
  async delete(key: string): Promise<void> {
    await this.#call("delete", key);
  }
  async list(prefix: string): Promise<string[]> {
    return (await this.#call("list", prefix)).json();
  }
  async deletePrefix(prefix: string): Promise<void> {
    await this.#call("deletePrefix", prefix);
  }
  async largestRow(): Promise<number> {
    return (await this.#call("largestRow", "")).json();
  }
}

if (workerdSkip) {
  describe("DurableObjectStorageAdapter under workerd", () => test("skipped", { skip: workerdSkip }, () => {}));
} else {
  runStorageConformance("DurableObjectStorageAdapter (workerd)", () => new ProbeStorage());

  describe("DurableObjectStorageAdapter under workerd", () => {
    test("values above Cloudflare's row (2 MB) and KV value (128 KiB) limits round-trip in rows under both", { timeout: 60_000 }, async () => {
      const s = new ProbeStorage();
      const big = new Uint8Array(10 * 1024 * 1024).map((_, i) => (i * 7) % 253);
      await s.put("job/chk-1/big", big);
      assert.deepEqual(await s.get("job/chk-1/big"), big);
      const largest = await s.largestRow();
      assert.ok(largest <= 128 * 1024, `largest row ${largest} bytes`);
      // A shorter value under the same key leaves no chunk of the longer one behind.
      await s.put("job/chk-1/big", new Uint8Array([1, 2, 3]));
      assert.deepEqual(await s.get("job/chk-1/big"), new Uint8Array([1, 2, 3]));
      assert.deepEqual(await s.list("job/"), ["job/chk-1/big"]);
    });

    test("what an object stored survives workerd stopping and starting again over its persisted storage", { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), "weir-workerd-"));
      const put = await startWorker("./fixtures/storage_worker.ts", { PROBE: "StorageProbe" }, { persistTo: dir });
      const value = new Uint8Array(300 * 1024).map((_, i) => i % 249);
      assert.equal((await put.fetch("/put?object=keep&key=job/chk-2/_metadata", { method: "POST", body: value as BodyInit })).status, 204);
      await put.dispose();
      const read = await startWorker("./fixtures/storage_worker.ts", { PROBE: "StorageProbe" }, { persistTo: dir });
      try {
        const res = await read.fetch("/get?object=keep&key=job/chk-2/_metadata", { method: "POST" });
        assert.equal(res.status, 200);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), value);
      } finally {
        await read.dispose();
      }
    });
  });
}
