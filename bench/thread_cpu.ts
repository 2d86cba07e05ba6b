/**
 * The calling thread's CPU time for benchmarks: beside the wall clock it tells a pause the
 * thread spent on a core (its own work, a garbage collection, or the VM's vCPU standing
 * still, which the guest counts as run time) from one it spent off every core (waiting on a
 * lock, for another thread, or for a core). Linux's clock_gettime(CLOCK_THREAD_CPUTIME_ID),
 * called through the runtime's FFI (bun:ffi; Deno.dlopen, which needs --allow-ffi).
 * @module
 */
import process from "node:process";

/** clockid_t of the calling thread's CPU clock (linux/time.h). */
const CLOCK_THREAD_CPUTIME_ID = 3;

/**
 * A function returning the calling thread's CPU time in ms (to the microsecond), or
 * undefined where it cannot be read: not Linux, Node, or Deno without --allow-ffi. One call
 * is a system call (about 0.3–0.5 µs here): read it per record only when asked to.
 */
export async function threadCpuClock(): Promise<(() => number) | undefined> {
  if (process.platform !== "linux") return undefined;
  const ms = (t: BigInt64Array) => Number(t[0]) * 1e3 + Number(t[1]) / 1e6;
  const time = new BigInt64Array(2);
  try {
    if ((globalThis as { Bun?: unknown }).Bun !== undefined) {
      const { dlopen, FFIType, ptr } = await import("bun:ffi");
      const libc = dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
      const at = ptr(time);
      return () => (libc.symbols.clock_gettime(CLOCK_THREAD_CPUTIME_ID, at), ms(time));
    }
    const deno = (globalThis as { Deno?: { dlopen(path: string, symbols: Record<string, unknown>): { symbols: { clock_gettime(id: number, out: BigInt64Array): number } } } }).Deno;
    if (deno === undefined) return undefined;
    const libc = deno.dlopen("libc.so.6", { clock_gettime: { parameters: ["i32", "buffer"], result: "i32" } });
    return () => (libc.symbols.clock_gettime(CLOCK_THREAD_CPUTIME_ID, time), ms(time));
  } catch {
    // No permission (Deno without --allow-ffi), or no libc.so.6 (musl).
    return undefined;
  }
}
