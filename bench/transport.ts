/**
 * What the transport seam costs: the bench's keyed pipeline (source → map → keyBy →
 * rolling sum → counting sink, 10k keys, parallelism 2) over the in-memory transport
 * (the default) and over the SerializingTransport (every channel message CBOR-encoded,
 * framed and delivered on a later turn: the stand-in for Worker threads and RPC), with
 * records per second of wall time and of CPU time (the latter holds up on a loaded
 * machine), and the channel messages per batch.
 *
 *   bun bench/transport.ts  |  deno run -A bench/transport.ts
 *   … --records 2000000 --reps 3
 * @module
 */
import process from "node:process";
import { MemoryStorage, SequenceSource, SerializingTransport, StreamEnvironment } from "../mod.ts";
import { systemScheduler } from "../platforms/system.ts";
import { CountingSink } from "./counting_sink.ts";
import { KEYS, keyFn, mapFn, sumFn } from "./keyed_sum.ts";
import { median, nowMs, perSecond, runtimeName, table } from "./stats.ts";

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const records = option("--records", 2_000_000);
const reps = option("--reps", 3);

interface Run {
  wall: number;
  cpu: number;
  messages: number;
}

let jobs = 0;
async function run(serializing: boolean, n: number): Promise<Run> {
  const transport = serializing ? new SerializingTransport({ scheduler: systemScheduler }) : undefined;
  const env = new StreamEnvironment({ jobName: `bench-transport-${jobs++}`, parallelism: 2, storage: new MemoryStorage(), runtime: { transport } });
  const sink = new CountingSink();
  env.fromSource(new SequenceSource(0, n), { uid: "numbers" }).map(mapFn, { uid: "times3" }).keyBy(keyFn).reduce(sumFn, { uid: "sum" }).sinkTo(sink, { uid: "count" });
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  const result = await (await env.execute()).done;
  const ms = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (result.status !== "finished" || sink.count !== n) throw new Error(`job ended ${result.status} with ${sink.count} of ${n} records: ${result.error ?? ""}`);
  return { wall: n / (ms / 1000), cpu: n / ((cpu.user + cpu.system) / 1e6), messages: transport?.stats.messages ?? 0 };
}

await run(false, records / 10);
await run(true, records / 10);
const results = { memory: [] as Run[], serializing: [] as Run[] };
// Interleaved, so that drift in the machine's load hits both alike.
for (let i = 0; i < reps; i++) {
  results.memory.push(await run(false, records));
  results.serializing.push(await run(true, records));
}
const mid = (rs: Run[], k: keyof Run) => median(rs.map((r) => r[k]));
const rows = [["transport", "records/s (wall)", "records per CPU-s", "channel messages"]];
for (const [name, rs] of Object.entries(results)) {
  rows.push([name, perSecond(mid(rs, "wall")), perSecond(mid(rs, "cpu")), name === "memory" ? "(not counted)" : String(Math.round(mid(rs, "messages")))]);
}
console.log(`${runtimeName()}: ${records} records, ${KEYS} keys, parallelism 2, median of ${reps}\n${table(rows)}`);
console.log(`serializing / memory, per CPU-s: ${(mid(results.serializing, "cpu") / mid(results.memory, "cpu")).toFixed(2)}`);
