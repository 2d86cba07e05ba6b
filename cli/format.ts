/**
 * Rendering for humans: tables with aligned columns, byte sizes and durations, and a
 * progress line that redraws itself on a terminal and stays quiet in a pipe.
 * @module
 */
import process from "node:process";

/**
 * A table: header row, then rows, columns padded to their widest cell.
 *
 * @example
 * ```ts
 * import { table } from "./format.ts";
 * console.assert(table(["ID", "STATUS"], [["1", "COMPLETED"]]).startsWith("ID  STATUS"));
 * ```
 */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/**
 * Bytes as B, KiB, MiB or GiB.
 *
 * @example
 * ```ts
 * import { bytes } from "./format.ts";
 * console.assert(bytes(2048) === "2.0 KiB");
 * ```
 */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/**
 * Milliseconds as ms, s or min.
 *
 * @example
 * ```ts
 * import { duration } from "./format.ts";
 * console.assert(duration(1500) === "1.5 s");
 * ```
 */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** A progress indicator on stderr for an operation that takes a while. */
export interface Progress {
  /** Updates the status text. */
  update(text: string): void;
  /** Clears the line (on a terminal) so the final message stands alone. */
  done(): void;
}

/**
 * Starts a progress indicator: a redrawn line with the elapsed time on a terminal, a
 * single line otherwise (logs should not fill with redraws).
 *
 * @example
 * ```ts
 * import { progress } from "./format.ts";
 * const p = progress("Checkpointing");
 * p.done();
 * ```
 */
export function progress(label: string): Progress {
  const tty = process.stderr.isTTY === true;
  const started = performance.now();
  let text = "";
  if (!tty) process.stderr.write(`${label}…\n`);
  const draw = () => tty && process.stderr.write(`\r\x1b[2K${label}… ${duration(performance.now() - started)}${text ? ` ${text}` : ""}`);
  draw();
  return {
    update(t: string) {
      text = t;
      draw();
    },
    done() {
      if (tty) process.stderr.write("\r\x1b[2K");
    },
  };
}

/** Waits `ms` of wall time between two polls. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
