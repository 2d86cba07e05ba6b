/**
 * What every route needs, passed in rather than imported, so that tests can build an app
 * over their own registry.
 * @module
 */
import type { BackpressureSampler } from "./backpressure.ts";
import type { JobRegistry } from "./registry.ts";
import type { TriggerStore } from "./triggers.ts";

/** The shared state of one REST API app. */
export interface ApiDeps {
  registry: JobRegistry;
  triggers: TriggerStore;
  sampler: BackpressureSampler;
}
