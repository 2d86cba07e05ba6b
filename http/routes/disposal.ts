/**
 * POST /savepoint-disposal: deletes a savepoint directory the way `flink savepoint -d`
 * does, trigger-then-poll. Only a directory holding a `_metadata` file is deleted, so a
 * mistyped path can never remove anything else.
 * @module
 */
import { basename, dirname } from "node:path";
import { Hono } from "hono";
import { WeirError } from "../../errors.ts";
import { openDirectory } from "../../storage/directory.ts";
import { jsonBody } from "../body.ts";
import type { ApiDeps } from "../deps.ts";
import { savepointDisposalBody } from "../schemas.ts";

/** Disposal triggers belong to no job; they share the store under this key. */
const NO_JOB = "";

/**
 * POST /savepoint-disposal and GET /savepoint-disposal/:triggerid.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { disposalRoutes } from "./disposal.ts";
 * // new Hono().route("/", disposalRoutes(deps));
 * ```
 */
export function disposalRoutes(deps: ApiDeps): Hono {
  const { triggers } = deps;
  const app = new Hono();

  app.post("/savepoint-disposal", ...jsonBody(savepointDisposalBody), (c) => {
    const path = c.req.valid("json")["savepoint-path"];
    const requestId = triggers.start(NO_JOB, "disposal", async () => {
      await disposeSavepoint(path);
      return {};
    });
    // Flink answers this trigger with 200, not 202.
    return c.json({ "request-id": requestId }, 200);
  });

  app.get("/savepoint-disposal/:triggerid", (c) => c.json(triggers.state(NO_JOB, "disposal", c.req.param("triggerid"))));

  return app;
}

/**
 * Deletes the savepoint at `path` (its directory, or its `_metadata` file). Throws
 * `savepoint_not_found` when the directory holds no `_metadata`.
 *
 * @example
 * ```ts
 * import { disposeSavepoint } from "./disposal.ts";
 * // await disposeSavepoint("/tmp/savepoints/savepoint-1a2b3c-0123456789ab");
 * ```
 */
export async function disposeSavepoint(path: string): Promise<void> {
  const dir = basename(path) === "_metadata" ? dirname(path) : path.replace(/\/+$/, "");
  const name = basename(dir);
  if (name === "" || name === "." || name === "..") throw new WeirError("savepoint_not_found", `Savepoint path ${JSON.stringify(path)} names no savepoint directory`);
  const { storage } = openDirectory(dirname(dir), "The savepoint path");
  if (!(await storage.get(`${name}/_metadata`))) {
    throw new WeirError("savepoint_not_found", `${dir} is not a savepoint: it has no _metadata file; nothing was deleted`);
  }
  await storage.deletePrefix(`${name}/`);
}
