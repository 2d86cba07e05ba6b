/**
 * A SQLite background writer's thread in `process` mode (sqlite_writer_protocol.ts,
 * WriterStart.process): it starts the writer's process (sqlite_writer_process.ts), relays
 * the batches it is sent over the process's stdin, and counts off in shared memory what the
 * process answers committed. A page image it copies itself, on its own connection, once
 * the process committed every batch before it, and it relays nothing after the image until
 * the image is made, so the image holds exactly what was sent before it.
 * @module
 */
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { CLOSE_FRAME, type WriterMessage, WriterSlot, type WriterStart, WriterState, reportFailure } from "./sqlite_writer_protocol.ts";
import { FrameReader, frameHead } from "./sqlite_writer_frames.ts";
import { currentRuntime } from "./serve.ts";

/** What the thread does for the relay: make a page image, count a message done, wake a waiting subtask. */
export interface RelayHooks {
  pageImage(m: Extract<WriterMessage, { kind: "image" }>): void;
  /** Closes the thread's own connection (the one images are copied on). */
  closeConnection(): void;
  done(seq: number): void;
  wake(): void;
}

const processPath = fileURLToPath(new URL(`./sqlite_writer_process${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url).href);

/**
 * The command line of the writer's process for this runtime. Deno's gets only the file
 * access SQLite needs, and the environment the runtime probe reads.
 */
export function writerProcessCommand(path: string, keyGroups: number): { command: string; args: string[] } {
  const deno = currentRuntime() === "bun" ? [] : ["run", "--allow-read", "--allow-write", "--allow-env", "--allow-sys=hostname", "--no-prompt"];
  return { command: process.execPath, args: [...deno, processPath, path, String(keyGroups)] };
}

/**
 * Starts the writer's process for `start` and returns the thread's handler of the
 * subtask's messages. The process failing or ending early is the writer's failure, named.
 */
export function relayToProcess(start: WriterStart, control: Int32Array, failure: Uint8Array, hooks: RelayHooks): (m: WriterMessage) => void {
  const { command, args } = writerProcessCommand(start.path, start.keyGroups);
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
  if (child.pid !== undefined) Atomics.store(control, WriterSlot.Process, child.pid);
  let stderr = "";
  const stderrText = new TextDecoder();
  child.stderr!.on("data", (chunk: Uint8Array) => void (stderr = (stderr + stderrText.decode(chunk, { stream: true })).slice(-2000)));
  const failed = () => Atomics.load(control, WriterSlot.State) === WriterState.Failed;
  const fail = (why: string) => {
    if (!failed()) reportFailure(control, failure, why);
    hooks.wake();
  };
  /** The last sequence number relayed to the process, and the last it answered. */
  let relayed = 0;
  let answered = 0;
  /** Messages not relayed yet: those after an image wait for it. */
  const queue: WriterMessage[] = [];
  const settle = () => {
    // Failed: the process applies nothing more, and nothing waits for what it would answer.
    if (failed()) queue.length = 0;
    while (queue.length > 0) {
      const m = queue[0];
      if (m.kind === "image") {
        if (answered < relayed) return;
        queue.shift();
        if (!failed()) {
          hooks.pageImage(m);
          hooks.done(m.seq);
        }
        relayed = answered = m.seq;
        hooks.wake();
        continue;
      }
      queue.shift();
      relayed = m.seq;
      if (m.kind === "close") hooks.closeConnection();
      child.stdin!.write(frameHead(m.kind === "batches" ? m.length : CLOSE_FRAME, m.seq));
      if (m.kind === "batches") {
        const buffer = m.buffer;
        // Back to the subtask once the pipe took the bytes, to carry a later send.
        child.stdin!.write(new Uint8Array(buffer, 0, m.length), () => {
          try {
            start.spent.postMessage(buffer, [buffer]);
          } catch {
            // The subtask's side is closed: a new buffer costs it nothing now.
          }
        });
      }
    }
    if (answered >= relayed) Atomics.store(control, WriterSlot.Applying, 0);
  };
  const answers = new FrameReader((seq, textLength, text) => {
    answered = seq;
    if (textLength > 0) fail(new TextDecoder().decode(text));
    else if (!failed()) hooks.done(seq);
    settle();
    hooks.wake();
  }, (_seq, textLength) => textLength);
  child.stdout!.on("data", (chunk: Uint8Array) => answers.push(chunk));
  child.on("error", (e) => fail(`The background writer process of the SQLite state file ${start.path} could not start: ${e.message}`));
  // "close", not "exit": its stdout is read to the end first, so its last answers (a failure's own text) count.
  child.on("close", (code, signal) => {
    // Gone: its pid may be another process's soon, which terminate() must not kill.
    Atomics.store(control, WriterSlot.Process, 0);
    fail(`The background writer process of the SQLite state file ${start.path} exited (${signal ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ""}`);
  });
  // A write to a process that ended: its exit names why.
  child.stdin!.on("error", () => {});
  return (m) => {
    Atomics.store(control, WriterSlot.Applying, 1);
    queue.push(m);
    settle();
  };
}
