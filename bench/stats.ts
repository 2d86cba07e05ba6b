/**
 * Small helpers shared by the benchmarks: order statistics, clocks, formatting, and the
 * name of the runtime we run on.
 * @module
 */

/** Median of a list of numbers (NaN when empty). */
export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank percentile p (0–100) of a list of numbers (NaN when empty). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Milliseconds from a monotonic clock. */
export function nowMs(): number {
  return performance.now();
}

/** "bun 1.2.3" or "deno 2.1.0", read from navigator.userAgent so no runtime global is touched. */
export function runtimeName(): string {
  const ua = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? "";
  const m = /^(Bun|Deno)\/(\S+)/.exec(ua);
  return m ? `${m[1].toLowerCase()} ${m[2]}` : "unknown";
}

/** 12345678 → "12.35 M". */
export function perSecond(rate: number): string {
  if (!Number.isFinite(rate)) return "-";
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)} M`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(1)} k`;
  return rate.toFixed(0);
}

/** 12345 → "12.1 KiB". */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return "-";
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Renders rows as an aligned text table; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: readonly string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ");
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}
