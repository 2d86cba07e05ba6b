/**
 * Alarms that outlive the runtime process that scheduled them.
 * @module
 */
import type { DurableObjectStateLike } from "./bindings.ts";

/**
 * Hands an object's stored alarm to the runtime's alarm scheduler again; call it from the
 * constructor. Why: a SQLite-backed object keeps its alarm time in its own database, but
 * workerd before 2026-02 (workerd PR #6104; miniflare 3 ships 1.20250718) keeps the
 * scheduler's copy in one in-memory SQLite database per process, so after the process
 * restarts `getAlarm()` still returns the time and nothing ever delivers it: the object
 * stays asleep until a request wakes it, and then its alarm never fires unless set again.
 * Setting it again at every construction re-registers it: one millisecond later than stored
 * (or than now, when it passed), because setting the very time stored is a no-op for
 * workerd's SQLite-backed objects (the stored state is "clean", the scheduler not told). On Cloudflare, whose scheduler is durable, this may deliver an alarm once more:
 * alarms are at-least-once anyway, so an object's `alarm()` must be harmless when repeated.
 * Resolves to the time re-armed, or null when none was stored.
 *
 * @example
 * ```ts
 * import { rearmStoredAlarm } from "./alarms.ts";
 * let at: number | null = 5;
 * const ctx = { storage: { getAlarm: () => Promise.resolve(at), setAlarm: (t: number | Date) => { at = Number(t); return Promise.resolve(); } } };
 * console.assert(await rearmStoredAlarm(ctx as never, () => 10) === 11);
 * ```
 */
export async function rearmStoredAlarm(ctx: Pick<DurableObjectStateLike, "storage">, now: () => number): Promise<number | null> {
  const stored = await ctx.storage.getAlarm();
  if (stored === null) return null;
  const at = Math.max(stored, now()) + 1;
  await ctx.storage.setAlarm(at);
  return at;
}
