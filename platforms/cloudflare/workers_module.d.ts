/**
 * The slice of workerd's built-in `cloudflare:workers` module weir uses (its Durable Object
 * base class, which gives a class JavaScript RPC), so the repository type-checks without
 * `@cloudflare/workers-types`. Bundles leave the module external; workerd provides it.
 */
declare module "cloudflare:workers" {
  export class DurableObject<Env = unknown> {
    protected ctx: import("./bindings.ts").DurableObjectStateLike & { storage: { get<T>(key: string): Promise<T | undefined>; put(key: string, value: unknown): Promise<void> } };
    protected env: Env;
    constructor(ctx: unknown, env: Env);
  }
}
