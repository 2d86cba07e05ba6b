/**
 * Asynchronous operations behind Flink's trigger-then-poll pattern: a POST answers at once
 * with a `request-id`, and GET …/:triggerid reports IN_PROGRESS until the operation settled.
 * @module
 */
import { customAlphabet } from "nanoid";
import { WeirError } from "../errors.ts";
import { FinalStatusReads } from "./final_status.ts";

/** Which family of endpoints polls a trigger. */
export type TriggerKind = "checkpoint" | "savepoint" | "disposal";

/** What GET …/:triggerid answers. */
export type TriggerState =
  | { status: { id: "IN_PROGRESS" } }
  | { status: { id: "COMPLETED" }; operation: Record<string, unknown> };

/** Trigger ids are Flink's TriggerId: 32 hex digits. */
const newTriggerId = customAlphabet("0123456789abcdef", 32);
const TRIGGER_ID = /^[0-9a-f]{32}$/;
/**
 * Settled operations kept for polling (those in progress are all kept: a job queues at
 * most 1000 checkpoint requests); past it, the oldest one already read goes first, then
 * the oldest one at all.
 */
const TRIGGERS_MAX = 1000;

/**
 * Keeps every operation's outcome until it is evicted by newer ones.
 *
 * @example
 * ```ts
 * import { TriggerStore } from "./triggers.ts";
 * const store = new TriggerStore();
 * const id = store.start("job", "checkpoint", async () => ({ checkpointId: 1 }));
 * console.assert(store.state("job", "checkpoint", id).status.id === "IN_PROGRESS");
 * ```
 */
export class TriggerStore {
  readonly #states = new Map<string, TriggerState>();
  /** Keys of settled outcomes a client read. */
  readonly #read = new Set<string>();
  readonly #reads: FinalStatusReads;

  /** `reads` learns of every trigger, so the server of an ended job waits until its outcome was read. */
  constructor(reads: FinalStatusReads = new FinalStatusReads()) {
    this.#reads = reads;
  }

  /**
   * Runs `work` and returns its trigger id. A client-chosen `triggerId` makes the request
   * idempotent: a repeated one returns the same id without starting the work again.
   */
  start(jobId: string, kind: TriggerKind, work: () => Promise<Record<string, unknown>>, triggerId?: string): string {
    // Flink's ids are lower-case hex; a client may send upper case (the schema allows it).
    const id = triggerId?.toLowerCase() ?? newTriggerId();
    if (!TRIGGER_ID.test(id)) throw new WeirError("invalid_request", `Field "triggerId" must be 32 hexadecimal digits (Flink's TriggerId), got ${JSON.stringify(triggerId)}`);
    const key = `${jobId}/${kind}/${id}`;
    if (this.#states.has(key)) return id;
    this.#evict();
    this.#states.set(key, { status: { id: "IN_PROGRESS" } });
    this.#reads.expect(jobId, `trigger:${kind}/${id}`);
    work().then(
      (operation) => this.#states.set(key, { status: { id: "COMPLETED" }, operation }),
      (error) => {
        const cause = failureCause(error);
        // Flink's CheckpointInfo calls it failureCause; savepoints and disposals failure-cause (DESIGN.md: both have that).
        this.#states.set(key, { status: { id: "COMPLETED" }, operation: kind === "checkpoint" ? { "failure-cause": cause, failureCause: cause } : { "failure-cause": cause } });
      },
    );
    return id;
  }

  /** The state of a trigger; throws `trigger_not_found`. */
  state(jobId: string, kind: TriggerKind, triggerId: string): TriggerState {
    const id = triggerId.toLowerCase();
    const s = this.#states.get(`${jobId}/${kind}/${id}`);
    if (!s) throw new WeirError("trigger_not_found", `No ${kind} trigger "${triggerId}" for job "${jobId}"`);
    if (s.status.id === "COMPLETED") {
      this.#read.add(`${jobId}/${kind}/${id}`);
      this.#reads.served(jobId, `trigger:${kind}/${id}`);
    }
    return s;
  }

  #evict(): void {
    let settled = 0;
    let oldest: string | undefined;
    let oldestRead: string | undefined;
    for (const [key, s] of this.#states) {
      if (s.status.id !== "COMPLETED") continue;
      settled++;
      oldest ??= key;
      if (oldestRead === undefined && this.#read.has(key)) oldestRead = key;
    }
    if (settled < TRIGGERS_MAX) return;
    // A flood of refused triggers (all settled at once) must not evict each other before
    // their clients polled: an outcome already read goes first.
    this.#forget((oldestRead ?? oldest)!);
    // Many settled at once past the cap (a burst of triggers): back under it, oldest first.
    let excess = settled - TRIGGERS_MAX;
    for (const [key, s] of this.#states) {
      if (excess <= 0) break;
      if (s.status.id !== "COMPLETED") continue;
      this.#forget(key);
      excess--;
    }
  }

  #forget(key: string): void {
    this.#states.delete(key);
    this.#read.delete(key);
    // Nobody can read an evicted outcome any more, so nobody is waited for.
    const [jobId, kind, id] = key.split("/");
    this.#reads.served(jobId, `trigger:${kind}/${id}`);
  }
}

/** Flink's SerializedThrowable shape, plus weir's error code. */
function failureCause(error: unknown): Record<string, unknown> {
  const e = error instanceof Error ? error : new Error(String(error));
  return {
    class: e.name,
    code: error instanceof WeirError ? error.code : "internal_error",
    message: e.message,
    "stack-trace": `${e.name}: ${e.message}`,
  };
}
