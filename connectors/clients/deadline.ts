/**
 * A bound on a connector client's wait for a server that may never answer (a stalled
 * server, a partition that drops packets): the client libraries bound the TCP connect,
 * not the handshake after it.
 * @module
 */

/**
 * Resolves as `work` does, or rejects with "no answer within `ms` ms" once `ms` passed;
 * the timer goes either way.
 *
 * @example
 * ```ts
 * import { answerWithin } from "./deadline.ts";
 * const late = await answerWithin(new Promise(() => {}), 5).catch((e: Error) => e.message);
 * console.assert(late === "no answer within 5 ms");
 * ```
 */
export async function answerWithin<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
