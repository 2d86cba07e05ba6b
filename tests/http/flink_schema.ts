/**
 * Flink 1.19's OpenAPI description of its REST API as JSON-schema validators (ajv), for the
 * conformance test. The YAML is read from the project's shared folder (`../shared/flink-rest/`
 * beside the checkout, as on CI); it is Apache-2.0 and stays there rather than in the tree.
 *
 * Flink's generated file is loose (no property is required) and in a few places not what
 * Flink itself writes (custom Jackson serializers). The validators are therefore made
 * stricter, and the few known differences follow Flink's wire format, each named below:
 * - every declared property is required, except those Flink itself leaves out (OPTIONAL);
 * - a `discriminator` (className) selects the schema of its mapping;
 * - `oneOf` of the trigger results is `anyOf` (their shapes overlap, so no body could
 *   match exactly one, Flink's own included); the tests check the specific shape;
 * - `ProcessingMode` is written in lower case by Flink's ProcessingModeSerializer;
 * - `MetricCollectionResponseBody` and `AggregatedMetricsResponseBody` are bare arrays
 *   (their serializers write arrays, which Flink's web UI reads);
 * - LatestCheckpoints' members are null while there is no such checkpoint, as in Flink.
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Ajv, { type ValidateFunction } from "ajv";
import { parse } from "yaml";

const CANDIDATES = [
  fileURLToPath(new URL("../../../shared/flink-rest/rest_v1_dispatcher.v1.19.yml", import.meta.url)),
  "/work/shared/flink-rest/rest_v1_dispatcher.v1.19.yml",
];

/** Where the 1.19 YAML is, or undefined when this machine has no shared folder. */
export function flinkSpecPath(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

/** Properties Flink leaves out of its JSON in some states, by schema. */
const OPTIONAL: Record<string, string[]> = {
  // Present only for savepoints.
  CheckpointStatistics: ["savepointFormat"],
  // Left out while nothing failed (Flink: @JsonInclude(NON_NULL)).
  JobExceptionsInfoWithHistory: ["root-exception", "timestamp"],
  // Present only when the job failed.
  JobResult: ["serializedThrowable"],
  // Present only once the job ended.
  JobExecutionResultResponseBody: ["job-execution-result"],
  // Trigger outcomes: a location or id on success, a failure cause otherwise.
  AsynchronousOperationInfo: ["failure-cause"],
  CheckpointInfo: ["checkpointId", "failureCause"],
  SavepointInfo: ["location", "failure-cause"],
  AsynchronousOperationResult: ["operation"],
};

/** Members that are null when absent. */
const NULLABLE: Record<string, string[]> = {
  LatestCheckpoints: ["completed", "failed", "restored", "savepoint"],
};

// deno-lint-ignore no-explicit-any -- OpenAPI schema objects, walked and rewritten generically
type Schema = Record<string, any>;

interface Spec {
  paths: Record<string, Record<string, { responses: Record<string, { content?: { "application/json": { schema: Schema } } }>; requestBody?: { content: { "application/json": { schema: Schema } } } }>>;
  components: { schemas: Record<string, Schema> };
}

/** The parsed spec, its strict validators, and lookups by path template. */
export class FlinkSpec {
  readonly spec: Spec;
  readonly #ajv: Ajv;
  readonly #cache = new Map<string, ValidateFunction>();

  constructor(path: string) {
    this.spec = parse(readFileSync(path, "utf8")) as Spec;
    this.#ajv = new Ajv({ allErrors: true, strict: false });
    this.#ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    this.#ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
    this.#ajv.addFormat("double", { type: "number", validate: (n: number) => Number.isFinite(n) });
    this.#ajv.addFormat("binary", true);
    this.#ajv.addFormat("byte", true);
    for (const [name, schema] of Object.entries(strictComponents(this.spec.components.schemas))) {
      this.#ajv.addSchema(schema, `#/components/schemas/${name}`);
    }
  }

  /** The component name of the JSON body `method path status` answers with (path as in the YAML). */
  responseSchemaName(template: string, method: string, status: number): string {
    const op = this.spec.paths[template]?.[method.toLowerCase()];
    if (!op) throw new Error(`The Flink 1.19 spec has no ${method} ${template}`);
    const schema = op.responses[String(status)]?.content?.["application/json"].schema;
    if (!schema?.$ref) throw new Error(`The Flink 1.19 spec has no JSON body for ${method} ${template} ${status}`);
    return schema.$ref.split("/").pop();
  }

  /** The component name of a request body. */
  requestSchemaName(template: string, method: string): string {
    const ref = this.spec.paths[template]?.[method.toLowerCase()]?.requestBody?.content["application/json"].schema.$ref;
    if (!ref) throw new Error(`The Flink 1.19 spec has no request body for ${method} ${template}`);
    return ref.split("/").pop();
  }

  /** The errors of `value` against component `name` (strict), as readable lines; empty when valid. */
  errors(name: string, value: unknown): string[] {
    let validate = this.#cache.get(name);
    if (!validate) {
      validate = this.#ajv.getSchema(`#/components/schemas/${name}`)!;
      if (!validate) throw new Error(`No schema ${name}`);
      this.#cache.set(name, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`);
  }
}

/** Each component made strict as the module doc describes. */
function strictComponents(schemas: Record<string, Schema>): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const [name, raw] of Object.entries(schemas)) {
    const schema = structuredClone(raw);
    if (schema.discriminator) {
      // The base without its discriminator, for its subtypes' allOf; the dispatcher under the name.
      const { discriminator, ...base } = schema;
      out[`${name}__base`] = requireAll(base, name);
      out[name] = {
        type: "object",
        required: [discriminator.propertyName],
        properties: { [discriminator.propertyName]: { enum: Object.keys(discriminator.mapping) } },
        allOf: Object.entries(discriminator.mapping).map(([value, ref]) => ({
          if: { properties: { [discriminator.propertyName]: { const: value } } },
          then: { $ref: ref },
        })),
      };
      continue;
    }
    out[name] = requireAll(schema, name);
  }
  // Subtypes extend the base, not the dispatcher (which would loop back to them).
  for (const schema of Object.values(out)) {
    for (const part of schema.allOf ?? []) {
      if (typeof part.$ref === "string" && out[`${part.$ref.split("/").pop()}__base`]) part.$ref = `${part.$ref}__base`;
    }
  }
  out.ProcessingMode = { type: "string", enum: ["at_least_once", "exactly_once", "AT_LEAST_ONCE", "EXACTLY_ONCE"] };
  out.MetricCollectionResponseBody = { type: "array", items: { $ref: "#/components/schemas/Metric" } };
  out.AggregatedMetricsResponseBody = {
    type: "array",
    items: { type: "object", required: ["id"], properties: { id: { type: "string" }, min: { type: "number" }, max: { type: "number" }, avg: { type: "number" }, sum: { type: "number" } }, additionalProperties: false },
  };
  const result = out.AsynchronousOperationResult;
  result.properties.operation.anyOf = result.properties.operation.oneOf;
  delete result.properties.operation.oneOf;
  for (const [name, members] of Object.entries(NULLABLE)) {
    for (const m of members) out[name].properties[m] = { anyOf: [{ type: "null" }, out[name].properties[m]] };
  }
  return out;
}

function requireAll(schema: Schema, name: string): Schema {
  const visit = (s: Schema) => {
    if (s.properties && !s.required) {
      s.required = Object.keys(s.properties).filter((p) => !(OPTIONAL[name] ?? []).includes(p));
    }
    for (const part of s.allOf ?? []) if (!part.$ref) visit(part);
  };
  visit(schema);
  return schema;
}
