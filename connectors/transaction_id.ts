/**
 * How weir's sinks name their transactions, in one place: the restore work (issue 8,
 * fault 10) settles transaction identity per job run in the Sink/SinkWriter contract,
 * and every sink here follows it by calling these two functions only.
 * @module
 */
import { nanoid } from "nanoid";
import { type OperatorContext, sinkTransactionId } from "../dataflow/operator.ts";

/**
 * The run a writer belongs to: `ctx.jobId` (kept by restarts and crash resumes, new for a
 * job started anew) where the runtime provides it, else a random id per writer, which
 * keeps transactions of different attempts apart at the cost of not recognising the
 * writer's own leftovers.
 *
 * @example
 * ```ts
 * import { runOf } from "./transaction_id.ts";
 * console.assert(runOf({ jobId: "0123456789abcdef0123456789abcdef" }) === "0123456789abcdef0123456789abcdef");
 * ```
 */
export function runOf(ctx: object): string {
  const jobId = (ctx as { jobId?: unknown }).jobId;
  return typeof jobId === "string" && jobId.length > 0 ? jobId : `w${nanoid(12).replace(/[^A-Za-z0-9]/g, "x")}`;
}

/**
 * The id of the transaction that subtask `ctx.subtaskIndex` of sink `ctx.uid` pre-commits
 * at checkpoint `checkpointId` of run `run` (see {@link runOf}):
 * `<uid>-<subtask>-<checkpoint id, 10 digits>-<run>`, so the ids of one subtask sort by
 * checkpoint within a run, and a job restored from an older savepoint (a new run) never
 * meets the ids of the run that took it.
 *
 * @example
 * ```ts
 * import { transactionId } from "./transaction_id.ts";
 * const id = transactionId({ uid: "out", subtaskIndex: 1 }, 7, "0123456789abcdef0123456789abcdef");
 * console.assert(id === "out-1-0000000007-0123456789abcdef0123456789abcdef");
 * ```
 */
export function transactionId(ctx: Pick<OperatorContext, "uid" | "subtaskIndex">, checkpointId: number, run: string): string {
  // One format for every sink: the contract's (dataflow/operator.ts), with the run given.
  return sinkTransactionId({ uid: ctx.uid, subtaskIndex: ctx.subtaskIndex, jobId: run }, checkpointId);
}
