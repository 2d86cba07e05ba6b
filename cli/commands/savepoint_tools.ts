/**
 * `weir savepoint inspect|read|rewrite`: a savepoint looked into and edited offline, from
 * the shell (Flink's State Processor API does this from a program). No job, no REST API:
 * they read the directory through checkpoint/savepoint_reader.ts.
 * @module
 */
import { existsSync, readdirSync } from "node:fs";
import process from "node:process";
import { resolve } from "node:path";
import { describeSavepoint, openSavepoint, type SavepointInfo, stateRows } from "../../checkpoint/savepoint_reader.ts";
import { rewriteSavepoint } from "../../checkpoint/savepoint_rewrite.ts";
import { WeirError } from "../../errors.ts";
import { openDirectory } from "../../storage/directory.ts";
import { intFlag, listFlag, stringFlag, usage } from "../args.ts";
import { type Command, say } from "../command.ts";
import { bytes, table } from "../format.ts";
import { base64 } from "../../codec/base64.ts";

/**
 * `weir savepoint inspect DIR [--json]`.
 *
 * @example
 * ```ts
 * import { inspect } from "./savepoint_tools.ts";
 * console.assert(inspect.name === "inspect");
 * ```
 */
export const inspect: Command = {
  name: "inspect",
  summary: "show what a savepoint holds: operators, key groups, states, sizes",
  help: `Usage: weir savepoint inspect DIR [--json]

Reads the savepoint (or retained checkpoint) in DIR, or DIR/_metadata, checks every file
it names (checksums where recorded), and shows its type, job, weir and format version,
maxParallelism and, per operator uid: the vertex, parallelism, and per subtask its
key-group range, file, size, keyed states (name, kind, keys) and operator state entries.

Options:
  --json   print the same as one JSON object`,
  flags: { json: "boolean" },
  async run({ positional, flags }) {
    const info = describeSavepoint(await openSavepoint(onePath(positional, "inspect")));
    if (flags.json === true) say(JSON.stringify(info, null, 2));
    else say(render(info));
    return 0;
  },
};

/**
 * `weir savepoint read DIR --uid U [--state S] [--key K]`.
 *
 * @example
 * ```ts
 * import { read } from "./savepoint_tools.ts";
 * console.assert(read.name === "read");
 * ```
 */
export const read: Command = {
  name: "read",
  summary: "print an operator's state as JSON lines",
  help: `Usage: weir savepoint read DIR --uid U [--state S] [--key K]

Prints the state of operator U in the savepoint DIR, one JSON object per line:
{"uid","state","kind","keyGroup","key","value"} per keyed entry, then (without --state
and --key) {"uid","subtask","operatorState"} per element of its operator state (source
positions, sink transactions). Values JSON cannot hold are tagged: {"$map": [[k, v]…]},
{"$set": […]}, {"$bigint": "…"}, {"$bytes": "<base64>"}, {"$date": "<ISO>"}, {"$undefined": true}.

Options:
  --uid U     the operator (required)
  --state S   only the keyed state named S
  --key K     only key K: a string key equal to K, or a key whose JSON is K (3, "3", [1,2])`,
  flags: { uid: "string", state: "string", key: "string" },
  async run({ positional, flags }) {
    const path = onePath(positional, "read");
    const uid = stringFlag(flags, "uid");
    if (uid === undefined) throw usage("weir savepoint read needs --uid U (weir savepoint inspect lists the uids)");
    const sp = await openSavepoint(path);
    const rows = stateRows(sp, { uid, state: stringFlag(flags, "state"), key: stringFlag(flags, "key") });
    for (const row of rows) say(JSON.stringify(row, jsonValue));
    return 0;
  },
};

/**
 * `weir savepoint rewrite DIR --out DIR2 [--drop-uid U]… [--rename-uid A=B]… [--max-parallelism N]`.
 *
 * @example
 * ```ts
 * import { rewrite } from "./savepoint_tools.ts";
 * console.assert(rewrite.name === "rewrite");
 * ```
 */
export const rewrite: Command = {
  name: "rewrite",
  summary: "write an edited copy of a savepoint (drop or rename uids, new maxParallelism)",
  help: `Usage: weir savepoint rewrite DIR --out DIR2 [--drop-uid U]... [--rename-uid A=B]... [--max-parallelism N]

Writes a new savepoint to DIR2 (which must not exist or be empty) from the savepoint DIR,
which is only read. Prints DIR2. Restore from it with weir run FILE --from-savepoint DIR2.

Options:
  --out DIR2           where to write the new savepoint (required)
  --drop-uid U         leave out the state of operator U (repeatable); a job without U
                       then restores without --allow-non-restored-state
  --rename-uid A=B     file the state of operator A under uid B (repeatable)
  --max-parallelism N  re-partition keyed state into N key groups; the job must then run
                       with maxParallelism N (a restore alone refuses another one)`,
  flags: { out: "string", "drop-uid": "strings", "rename-uid": "strings", "max-parallelism": "string" },
  async run({ positional, flags }) {
    const path = onePath(positional, "rewrite");
    const out = stringFlag(flags, "out");
    if (out === undefined) throw usage("weir savepoint rewrite needs --out DIR2 (a new directory for the rewritten savepoint)");
    const renameUids = listFlag(flags, "rename-uid").map((r): [string, string] => {
      const eq = r.indexOf("=");
      if (eq <= 0 || eq === r.length - 1) throw usage(`Option --rename-uid takes OLD=NEW, got ${JSON.stringify(r)}`);
      return [r.slice(0, eq), r.slice(eq + 1)];
    });
    const maxParallelism = intFlag(flags, "max-parallelism", 1, 32768);
    const from = resolve(path.replace(/\/_metadata$/, ""));
    const to = resolve(out);
    if (to === from || to.startsWith(`${from}/`) || from.startsWith(`${to}/`)) {
      throw usage(`Option --out ${out} must be a directory apart from the savepoint ${path}, which a rewrite never modifies`);
    }
    if (existsSync(to) && readdirSync(to).length > 0) {
      throw new WeirError("savepoint_exists", `The rewrite target ${to} is not empty; choose a new directory`);
    }
    const sp = await openSavepoint(path);
    const target = openDirectory(to, "Option --out");
    const summary = await rewriteSavepoint(sp, { storage: target.storage, dir: "", location: target.root }, {
      dropUids: listFlag(flags, "drop-uid"),
      renameUids,
      maxParallelism,
    });
    const changes = [
      ...summary.dropped.map((u) => `dropped ${u}`),
      ...summary.renamed.map(([a, b]) => `renamed ${a} to ${b}`),
      ...(summary.maxParallelism.from !== summary.maxParallelism.to
        ? [`maxParallelism ${summary.maxParallelism.from} to ${summary.maxParallelism.to} (${summary.keyedEntries} keyed entries re-partitioned)`]
        : []),
    ];
    process.stderr.write(`Rewrote ${path}: ${changes.join(", ") || "no changes (a copy)"}\n`);
    say(summary.location);
    return 0;
  },
};

function onePath(positional: string[], sub: string): string {
  if (positional.length !== 1) throw usage(`weir savepoint ${sub} needs exactly one savepoint directory`);
  return positional[0];
}

function render(info: SavepointInfo): string {
  const lines = [
    `Savepoint ${info.path}`,
    `  type            ${info.type}${info.unaligned ? " (unaligned)" : ""}${info.terminal ? (info.sinksCommitted ? " (stop-with-savepoint: its sink transactions are committed)" : " (stop-with-savepoint whose job ended before its sinks committed: a restore commits them)") : ""}, checkpoint ${info.checkpointId}`,
    `  job             ${info.jobName} (${info.jobId})`,
    `  taken           ${new Date(info.triggerTimestamp).toISOString()}, completed ${new Date(info.completedTimestamp).toISOString()}`,
    `  maxParallelism  ${info.maxParallelism}`,
    `  weir version    ${info.weirVersion ?? "not recorded"}, format version ${info.formatVersion}`,
    `  checksums       ${info.checksums}`,
    `  size            ${bytes(info.totalBytes)}${info.channelStateBytes > 0 ? `, in-flight channel state ${bytes(info.channelStateBytes)}` : ""}`,
    "",
  ];
  for (const op of info.operators) {
    lines.push(`Operator ${op.uid}  (vertex ${op.vertexId} "${op.vertexName}", parallelism ${op.parallelism})`);
    const rows = op.subtasks.map((s) => [
      String(s.index),
      `${s.keyGroupRange.start}-${s.keyGroupRange.end}`,
      bytes(s.bytes),
      s.keyed.map((k) => `${k.name} (${k.kind}${k.kindRecorded ? "" : "?"}, ${k.keys} keys)`).join(", ") || "-",
      String(s.operatorStateEntries),
      s.file,
    ]);
    lines.push(table(["SUBTASK", "KEY GROUPS", "SIZE", "KEYED STATE", "OPERATOR STATE", "FILE"], rows).replace(/^/gm, "  "));
  }
  if (info.operators.some((o) => o.subtasks.some((s) => s.keyed.some((k) => !k.kindRecorded)))) {
    lines.push("", "(kind?: not recorded in this savepoint, guessed from the values)");
  }
  return lines.join("\n");
}

/** JSON.stringify's replacer for state values JSON cannot hold, tagged so they stay apart from plain objects. */
function jsonValue(this: unknown, _key: string, value: unknown): unknown {
  if (value instanceof Map) return { $map: [...value] };
  if (value instanceof Set) return { $set: [...value] };
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: base64(value) };
  if (value === undefined) return { $undefined: true };
  // Date has toJSON, which runs before the replacer: the holder still has the Date.
  const raw = (this as Record<string, unknown>)[_key];
  if (raw instanceof Date) return { $date: value };
  return value;
}
