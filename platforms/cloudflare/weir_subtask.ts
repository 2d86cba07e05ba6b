/**
 * The `WeirSubtask` Durable Object: a host of subtask channel ends, reached by the
 * Durable Object RPC transport, with a mailbox that serializes what arrives.
 * @module
 */
import { WeirError } from "../../errors.ts";
import type { DurableObjectNamespaceLike, DurableObjectStateLike, DurableObjectStubLike, WorkerBindings } from "./bindings.ts";
import { DurableObjectStorageAdapter } from "./do_storage.ts";
import { Mailbox } from "./mailbox.ts";
import { DurableObjectRpcTransport } from "./rpc_transport.ts";

/** The path frames are POSTed to. */
export const FRAME_PATH = "/_weir/frame";
/** The header that tells an object its own name (Durable Objects do not know it). */
export const OBJECT_NAME_HEADER = "x-weir-object";

/** Options of {@link subtaskCaller}. */
export interface SubtaskCallerOptions {
  /** The namespace of the `WeirSubtask` objects. */
  namespace: DurableObjectNamespaceLike;
}

/**
 * The `call` of a {@link DurableObjectRpcTransport} between `WeirSubtask` objects: POSTs the
 * frame to the named object and resolves on its 204. A stub whose call threw is dropped
 * and recreated by the next call (Cloudflare's advice: a stub that threw may be broken).
 *
 * @example
 * ```ts
 * import { subtaskCaller } from "./weir_subtask.ts";
 * const calls: string[] = [];
 * const call = subtaskCaller({ namespace: { idFromName: (n: string) => n, get: (id: unknown) => ({ fetch: () => { calls.push(String(id)); return Promise.resolve(new Response(null, { status: 204 })); } }) } });
 * await call("v1-0", new Uint8Array([1]));
 * console.assert(calls[0] === "v1-0");
 * ```
 */
export function subtaskCaller(options: SubtaskCallerOptions): (object: string, frame: Uint8Array) => Promise<void> {
  const stubs = new Map<string, DurableObjectStubLike>();
  return async (object, frame) => {
    let stub = stubs.get(object);
    if (!stub) stubs.set(object, (stub = options.namespace.get(options.namespace.idFromName(object))));
    let res: Response;
    try {
      res = await stub.fetch(new Request(`https://weir-subtask${FRAME_PATH}`, { method: "POST", body: frame as BodyInit, headers: { [OBJECT_NAME_HEADER]: object } }));
    } catch (e) {
      stubs.delete(object);
      throw e;
    }
    if (res.status !== 204) {
      const text = await res.text();
      throw new WeirError("job_failed", `Subtask object ${object} refused a frame (${res.status}): ${text.slice(0, 300)}`);
    }
  };
}

/**
 * One subtask (or chain) per object (issue 14): its own SQLite storage for state and
 * channel state (`storage`), and its channel ends on a {@link DurableObjectRpcTransport}
 * (`transport`) whose frames arrive at `POST /_weir/frame` and pass through the object's
 * {@link Mailbox} one at a time, in order. Subclasses add what the subtask runs; a frame
 * the transport refuses is answered 500, which fails the sender's call and its attempt.
 * Bind it as a SQLite-backed class (`new_sqlite_classes`); `namespaceBinding` names the
 * binding the transport reaches its peers through (default `WEIR_SUBTASK`).
 *
 * @example
 * ```ts ignore
 * export class MySubtask extends WeirSubtask {}   // wrangler.toml: WEIR_SUBTASK → MySubtask
 * ```
 */
export class WeirSubtask {
  readonly storage: DurableObjectStorageAdapter;
  readonly mailbox: Mailbox = new Mailbox();
  protected readonly state: DurableObjectStateLike;
  protected readonly bindings: WorkerBindings;
  #transport: DurableObjectRpcTransport | undefined;
  #name: string | undefined;
  readonly #namespaceBinding: string;

  constructor(ctx: DurableObjectStateLike, env: WorkerBindings, namespaceBinding = "WEIR_SUBTASK") {
    this.state = ctx;
    this.bindings = env ?? {};
    this.#namespaceBinding = namespaceBinding;
    this.storage = new DurableObjectStorageAdapter(ctx.storage, "subtask");
  }

  /** This object's name, as its callers know it (learned from their first request). */
  get name(): string | undefined {
    return this.#name;
  }

  /**
   * The transport of this object's channel ends, created at the first request.
   * @throws {WeirError} `binding_missing` when the subtask namespace is not bound.
   */
  get transport(): DurableObjectRpcTransport {
    if (!this.#transport) {
      const namespace = this.bindings[this.#namespaceBinding] as DurableObjectNamespaceLike | undefined;
      if (!namespace || typeof namespace.get !== "function") {
        throw new WeirError("binding_missing", `The Worker has no binding ${this.#namespaceBinding} (a Durable Object namespace of class WeirSubtask)`);
      }
      this.#transport = new DurableObjectRpcTransport({
        self: this.#name ?? this.state.id.toString(),
        placement: (jobId, s) => subtaskObjectName(jobId, s.vertexId, s.subtaskIndex),
        call: subtaskCaller({ namespace }),
      });
    }
    return this.#transport;
  }

  async fetch(request: Request): Promise<Response> {
    this.#name ??= request.headers.get(OBJECT_NAME_HEADER) ?? undefined;
    if (new URL(request.url).pathname !== FRAME_PATH || request.method !== "POST") {
      return Response.json({ errors: [`No route ${request.method} ${new URL(request.url).pathname} on a WeirSubtask object`], code: "not_found" }, { status: 404 });
    }
    const frame = new Uint8Array(await request.arrayBuffer());
    try {
      await this.mailbox.post(() => this.transport.receive(frame));
      return new Response(null, { status: 204 });
    } catch (e) {
      const err = e as Error & { code?: string };
      return Response.json({ errors: [err.message], code: err.code ?? "job_failed" }, { status: 500 });
    }
  }
}

/**
 * The name of the object hosting a subtask: job id, vertex id and subtask index.
 *
 * @example
 * ```ts
 * import { subtaskObjectName } from "./weir_subtask.ts";
 * console.assert(subtaskObjectName("j1", "v2", 0) === "j1/v2/0");
 * ```
 */
export function subtaskObjectName(jobId: string, vertexId: string, subtaskIndex: number): string {
  return `${jobId}/${vertexId}/${subtaskIndex}`;
}
