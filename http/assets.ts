/**
 * Static files the dashboard loads from this server (never from a CDN, so the page works
 * offline): uPlot, the charting library of the throughput panel, straight from its npm
 * package, read once on first use.
 * @module
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** A file served under /assets/. */
export interface Asset {
  body: string;
  contentType: string;
}

const FILES: Record<string, { module: string; contentType: string }> = {
  "uplot.js": { module: "uplot/dist/uPlot.iife.min.js", contentType: "text/javascript; charset=utf-8" },
  "uplot.css": { module: "uplot/dist/uPlot.min.css", contentType: "text/css; charset=utf-8" },
};

const loaded = new Map<string, Asset>();

/**
 * The asset called `name` (`uplot.js`, `uplot.css`), or undefined for any other name.
 *
 * @example
 * ```ts
 * import { dashboardAsset } from "./assets.ts";
 * console.assert(dashboardAsset("uplot.js")!.body.includes("uPlot"));
 * ```
 */
export function dashboardAsset(name: string): Asset | undefined {
  const file = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
  if (!file) return undefined;
  let asset = loaded.get(name);
  if (!asset) {
    // Resolved like an import, so it is found wherever the package manager put uplot.
    const path = createRequire(import.meta.url).resolve(file.module);
    asset = { body: readFileSync(path, "utf8"), contentType: file.contentType };
    loaded.set(name, asset);
  }
  return asset;
}
