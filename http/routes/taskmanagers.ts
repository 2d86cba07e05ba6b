/**
 * GET /taskmanagers and /taskmanagers/:taskmanagerid: Flink's TaskManagersInfo and
 * TaskManagerDetailsInfo (REST API 1.19). weir answers for the runtime that serves the API
 * as one task manager: /overview counts one, and every subtask attempt's `taskmanager-id`
 * names it. Its slots are the subtasks of the jobs still running there (Flink's slot
 * sharing would put a job's subtasks of every vertex in one slot; weir has no slots to
 * share, so a subtask is a slot), none of them free.
 * @module
 */
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import type { ApiDeps } from "../deps.ts";
import type { JobRegistry } from "../registry.ts";
import { isTerminal } from "../registry.ts";

let taskManagerId: string | undefined;

/**
 * The task manager's ResourceID: 32 hex digits, random once a process. Made on first use:
 * workerd refuses random values in a module's top-level code.
 *
 * @example
 * ```ts
 * import { TASK_MANAGER_ID_PATTERN, localTaskManagerId } from "./taskmanagers.ts";
 * console.assert(TASK_MANAGER_ID_PATTERN.test(localTaskManagerId()) && localTaskManagerId() === localTaskManagerId());
 * ```
 */
export function localTaskManagerId(): string {
  return (taskManagerId ??= crypto.randomUUID().replaceAll("-", ""));
}

/** Flink's ResourceID path parameter: 32 lower-case hex digits. */
export const TASK_MANAGER_ID_PATTERN = /^[0-9a-f]{32}$/;

/** The subtasks of the jobs not yet in a terminal state: the task manager's slots, by job id. */
export function slotsByJob(registry: JobRegistry): Map<string, number> {
  const slots = new Map<string, number>();
  for (const job of registry.list()) {
    if (isTerminal(job.status)) continue;
    slots.set(job.id, job.vertices().reduce((n, v) => n + v.parallelism, 0));
  }
  return slots;
}

/** The task manager's slots: the subtasks of every job not yet in a terminal state. */
export function totalSlots(registry: JobRegistry): number {
  let n = 0;
  for (const slots of slotsByJob(registry).values()) n += slots;
  return n;
}

type MemoryUsage = { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number };

/** `process.memoryUsage()` where the runtime has it (Bun, Deno, Node), bytes; zeros elsewhere (workerd). */
function memoryUsage(): MemoryUsage {
  const usage = (globalThis as { process?: { memoryUsage?: () => object } }).process?.memoryUsage?.() as Partial<Record<string, number>> | undefined;
  const of = (name: string) => Math.max(0, Math.round(usage?.[name] ?? 0));
  return { rss: of("rss"), heapTotal: of("heapTotal"), heapUsed: of("heapUsed"), external: of("external"), arrayBuffers: of("arrayBuffers") };
}

const MIB = 2 ** 20;

/** Flink's ResourceProfileInfo (memory in MiB): `cpuCores` and a task heap, nothing managed. */
function resourceProfile(cpuCores: number, taskHeapBytes: number): Record<string, unknown> {
  return { cpuCores, taskHeapMemory: Math.round(taskHeapBytes / MIB), taskOffHeapMemory: 0, managedMemory: 0, networkMemory: 0, extendedResources: {} };
}

/** TaskManagerInfo, the fields /taskmanagers and /taskmanagers/:id share. */
function taskManagerInfo(slots: number, memory: MemoryUsage): Record<string, unknown> {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return {
    id: localTaskManagerId(),
    path: "weir://localhost/taskmanager",
    // No data port or JMX: channels are in-process, worker messages or Durable Object calls.
    dataPort: -1,
    jmxPort: -1,
    // It is the process answering: its heartbeat is now.
    timeSinceLastHeartbeat: Date.now(),
    slotsNumber: slots,
    freeSlots: 0,
    totalResource: resourceProfile(cores, memory.heapTotal),
    freeResource: resourceProfile(0, 0),
    // The machine's memory is not known to the runtime-agnostic API: -1, as Flink writes unknowns.
    hardware: { cpuCores: cores, physicalMemory: -1, freeMemory: -1, managedMemory: 0 },
    // The JavaScript heap in Flink's terms: the task heap is the engine's heap, off-heap
    // what it holds outside (array buffers), the process's total its resident set.
    memoryConfiguration: {
      frameworkHeap: 0,
      taskHeap: memory.heapTotal,
      frameworkOffHeap: 0,
      taskOffHeap: memory.external,
      networkMemory: 0,
      managedMemory: 0,
      jvmMetaspace: 0,
      jvmOverhead: 0,
      totalFlinkMemory: memory.heapTotal + memory.external,
      totalProcessMemory: memory.rss,
    },
    blocked: false,
  };
}

/** TaskManagerMetricsInfo: the engine's heap as Flink's heap, array buffers as its direct memory; no network buffers. */
function taskManagerMetrics(memory: MemoryUsage): Record<string, unknown> {
  // Bun counts array buffers' bytes in heapUsed but not in heapTotal (oven-sh/bun#20793).
  const committed = Math.max(memory.heapTotal, memory.heapUsed);
  return {
    heapUsed: memory.heapUsed,
    heapCommitted: committed,
    // The heap grows on demand up to a limit no portable API tells: what is committed is what is known.
    heapMax: committed,
    nonHeapUsed: memory.external,
    nonHeapCommitted: memory.external,
    nonHeapMax: memory.external,
    directCount: 0,
    directUsed: memory.arrayBuffers,
    directMax: memory.arrayBuffers,
    mappedCount: 0,
    mappedUsed: 0,
    mappedMax: 0,
    memorySegmentsAvailable: 0,
    memorySegmentsTotal: 0,
    nettyShuffleMemorySegmentsAvailable: 0,
    nettyShuffleMemorySegmentsUsed: 0,
    nettyShuffleMemorySegmentsTotal: 0,
    nettyShuffleMemoryAvailable: 0,
    nettyShuffleMemoryUsed: 0,
    nettyShuffleMemoryTotal: 0,
    garbageCollectors: [],
  };
}

/**
 * GET /taskmanagers (the one task manager) and /taskmanagers/:taskmanagerid (its details,
 * with a slot per running subtask).
 * @throws {WeirError} `taskmanager_not_found` (404) for any other id, naming it and the one there is.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { taskManagerRoutes } from "./taskmanagers.ts";
 * // new Hono().route("/", taskManagerRoutes(deps));
 * ```
 */
export function taskManagerRoutes(deps: ApiDeps): Hono {
  const app = new Hono();
  app.get("/taskmanagers", (c) => c.json({ taskmanagers: [taskManagerInfo(totalSlots(deps.registry), memoryUsage())] }));
  app.get("/taskmanagers/:taskmanagerid", (c) => {
    const id = c.req.param("taskmanagerid");
    if (id !== localTaskManagerId()) {
      throw new WeirError("taskmanager_not_found", `No task manager ${JSON.stringify(id)}: weir answers for one, ${localTaskManagerId()}`);
    }
    const allocatedSlots: Record<string, unknown>[] = [];
    for (const [jobId, n] of slotsByJob(deps.registry)) for (let i = 0; i < n; i++) allocatedSlots.push({ jobId, resource: resourceProfile(0, 0) });
    const memory = memoryUsage();
    return c.json({ ...taskManagerInfo(allocatedSlots.length, memory), allocatedSlots, metrics: taskManagerMetrics(memory) });
  });
  return app;
}
