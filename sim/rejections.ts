/**
 * Promise rejections nobody handled: in production they would crash or be logged and
 * lost, so in the simulator each one is a failure of the seed that caused it.
 * @module
 */
import process from "node:process";
import { setImmediate } from "node:timers";

const caught: unknown[] = [];
let installed = false;

/** Starts collecting unhandled rejections (idempotent) and forgets earlier ones. */
export function trapRejections(): void {
  if (!installed) {
    installed = true;
    process.on("unhandledRejection", (reason) => void caught.push(reason));
  }
  caught.length = 0;
}

/**
 * The rejections left unhandled since trapRejections(). Hosts report them only between
 * macrotasks, so this yields one: a turn of the host loop, not a timer, and no simulated
 * event runs during it (the simulator's events live in its own queue).
 */
export async function takeRejections(): Promise<unknown[]> {
  await new Promise<void>((r) => setImmediate(r));
  return caught.splice(0);
}
