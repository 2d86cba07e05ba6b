/**
 * What every route needs, passed in rather than imported, so that tests can build an app
 * over their own registry.
 * @module
 */
import type { BackpressureSampler } from "./backpressure.ts";
import type { FinalStatusReads } from "./final_status.ts";
import type { JobRegistry } from "./registry.ts";
import type { TriggerStore } from "./triggers.ts";
import type { RateMeter } from "./vertex_metrics.ts";

/** The shared state of one REST API app. */
export interface ApiDeps {
  registry: JobRegistry;
  triggers: TriggerStore;
  sampler: BackpressureSampler;
  /** Clients still waiting for a job's final answer (a trigger's outcome, a cancel's status). */
  reads: FinalStatusReads;
  /** Records per second per subtask, for Flink's `…PerSecond` metrics. */
  rates: RateMeter;
}
