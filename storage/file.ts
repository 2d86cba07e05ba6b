import { mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { type StorageAdapter, checkKey, ownBytes } from "./adapter.ts";
import { WeirError } from "../errors.ts";
import { coalesceParts } from "./coalesce_parts.ts";

let tmpCounter = 0;
// Worker threads share the process id and each loads its own copy of this module (its own
// counter): a random part keeps two threads writing into one directory from renaming each
// other's temporary files.
const tmpOwner = `${process.pid}-${crypto.randomUUID().slice(0, 8)}`;

/**
 * Local files under a root directory, the embedded default. A put writes a temporary
 * file, fsyncs it, renames it over the target and fsyncs the directory, so a crash
 * leaves either the old file or the new one. Temporary files (".tmp-" prefix) are never
 * listed, so a torn write is invisible to recovery.
 *
 * Uses node:fs, which Bun and Deno both provide.
 *
 * @example
 * ```ts
 * import { FileStorage } from "./file.ts";
 * const s = new FileStorage(".weir");
 * ```
 */
export class FileStorage implements StorageAdapter {
  readonly root: string;
  readonly description: string;
  /** fsync on every put; off only for benchmarks that measure everything else. */
  readonly fsync: boolean;
  /** Bytes are in the file once a put resolves; none are kept. */
  readonly keepsNoBuffers = true;

  constructor(root: string, options: { fsync?: boolean } = {}) {
    if (typeof root !== "string" || root.length === 0) {
      throw new WeirError("invalid_option", `FileStorage needs a directory path, got ${JSON.stringify(root)}`);
    }
    this.root = resolve(root);
    this.description = `file:${this.root}`;
    this.fsync = options.fsync ?? true;
  }

  #path(key: string): string {
    checkKey(key);
    return join(this.root, ...key.split("/"));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return ownBytes(await readFile(this.#path(key)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new WeirError("storage_failed", `Cannot read ${key} from ${this.description}: ${(e as Error).message}`, { cause: e });
    }
  }

  put(key: string, bytes: Uint8Array): Promise<void> {
    return this.putParts(key, [bytes]);
  }

  /**
   * Appends the parts to a temporary file as they come, small ones gathered into writes of
   * up to 256 KiB (coalesce_parts.ts), then fsyncs and renames it as put() does: at most
   * one part and one write are held at a time, and a producer that throws (or a crash)
   * leaves only a temporary file, which is never listed.
   */
  async putParts(key: string, parts: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    const target = this.#path(key);
    const dir = dirname(target);
    const tmp = join(dir, `.tmp-${tmpOwner}-${++tmpCounter}`);
    try {
      await mkdir(dir, { recursive: true });
      const fh = await open(tmp, "w");
      try {
        for await (const part of coalesceParts(parts)) {
          let at = 0;
          // A write may take fewer bytes than asked (large parts, full pipes): go on from there.
          while (at < part.length) {
            const { bytesWritten } = await fh.write(part, at, part.length - at);
            if (bytesWritten <= 0) throw new Error(`the file system took no bytes at offset ${at} of a part`);
            at += bytesWritten;
          }
        }
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, target);
      if (this.fsync) await syncDir(dir);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw new WeirError("storage_failed", `Cannot write ${key} to ${this.description}: ${(e as Error).message}`, { cause: e });
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    // Only the directory the prefix names is walked, not the whole root.
    const cut = prefix.lastIndexOf("/");
    const base = cut > 0 ? prefix.slice(0, cut) : "";
    if (base && base.split("/").some((p) => p === "" || p === "." || p === "..")) return [];
    const out: string[] = [];
    await walk(base ? join(this.root, ...base.split("/")) : this.root, base, out);
    return out.filter((k) => k.startsWith(prefix)).sort();
  }

  async deletePrefix(prefix: string): Promise<void> {
    // A prefix that names a whole directory is removed in one go; otherwise key by key.
    if (prefix.endsWith("/") && prefix.length > 1) {
      await rm(this.#path(prefix.slice(0, -1)), { recursive: true, force: true });
      return;
    }
    for (const k of await this.list(prefix)) await this.delete(k);
  }
}

async function walk(dir: string, rel: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  for (const e of entries) {
    if (e.name.startsWith(".tmp-")) continue;
    const key = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) await walk(join(dir, e.name), key, out);
    else out.push(key);
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic there.
  }
}

/**
 * Opens directory paths as FileStorage (installed by mod.ts). A path may be written as a
 * `file:` URI, as Flink takes directories and as weir reports locations (`file:///var/sp`,
 * `file:/var/sp`, `file://localhost/var/sp`).
 * @throws {WeirError} `invalid_option` for a URI of another scheme (`s3://…`, `hdfs://…`),
 *   which local files cannot stand in for
 */
export function openFileDirectory(path: string): { storage: FileStorage; root: string } {
  const storage = new FileStorage(localPathOf(path));
  return { storage, root: storage.root };
}

/**
 * The local path a directory names: a path as it is, a `file:` URI without its scheme (and
 * an empty or `localhost` authority).
 * @throws {WeirError} `invalid_option` for a URI of another scheme or host
 */
export function localPathOf(path: string): string {
  if (/^file:/i.test(path)) {
    const file = /^file:(?:\/\/([^/]*))?(\/.*)$/is.exec(path);
    if (!file) throw new WeirError("invalid_option", `Directory ${JSON.stringify(path)} is not a file: URI of an absolute path (file:///path or file:/path)`);
    const host = file[1] ?? "";
    if (host !== "" && host.toLowerCase() !== "localhost") throw new WeirError("invalid_option", `Directory ${JSON.stringify(path)} names the host "${host}": a file: URI here names a local directory (file:///path)`);
    return file[2];
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(path);
  if (scheme) throw new WeirError("invalid_option", `Directory ${JSON.stringify(path)} names the scheme "${scheme[1]}:", which this storage cannot write: give a local directory or a file: URI, or a StorageAdapter for it`);
  return path;
}
