/**
 * Turning the bytes of a file into records for FileSource: where a record ends (a newline;
 * for CSV, a newline outside quotes) and how its text becomes a value. Works on bytes so
 * that every position is an exact byte offset.
 * @module
 */
import { parse as parseCsv } from "csv-parse/sync";
import { WeirError } from "../errors.ts";

/** The formats FileSource reads. */
export type FileFormat = "lines" | "jsonl" | "csv";

/** Records parsed from a chunk, each with the byte offset and line number after it. */
export interface ParsedChunk {
  values: unknown[];
  ends: number[];
  lineEnds: number[];
  /** Byte offset after the last complete record (where the next read starts). */
  consumed: number;
  /** Line count after the last complete record. */
  lines: number;
  /** Bad records skipped in this chunk. */
  skipped: number;
  /** CSV: the column count, once the file's first row fixed it. */
  columns: number | undefined;
}

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * Parses the complete records of `bytes`, which start at byte `offset` (line `line`) of
 * `file`. With `atEnd` (a bounded read reached the end of the file) a last record without
 * a newline is complete too.
 * @throws {WeirError} `bad_record` naming file and line for a broken record, unless `skipBad`.
 */
export function parseChunk(bytes: Uint8Array, start: { file: string; format: FileFormat; offset: number; line: number; columns: number | undefined; skipBad: boolean; atEnd: boolean }): ParsedChunk {
  const out: ParsedChunk = { values: [], ends: [], lineEnds: [], consumed: start.offset, lines: start.line, skipped: 0, columns: start.columns };
  let recordStart = 0;
  let quotes = 0;
  let linesInRecord = 0;
  const n = bytes.length;
  for (let i = 0; i <= n; i++) {
    const atNewline = i < n && bytes[i] === NEWLINE;
    const atFinalEnd = i === n && start.atEnd && recordStart < n;
    if (i < n && !atNewline) {
      if (bytes[i] === QUOTE) quotes++;
      continue;
    }
    if (!atNewline && !atFinalEnd) break;
    linesInRecord++;
    // A CSV record goes on past a newline inside quotes (an odd count of quotes so far).
    if (start.format === "csv" && quotes % 2 === 1 && !atFinalEnd) continue;
    let end = i;
    if (end > recordStart && bytes[end - 1] === 0x0d) end--;
    const text = decoder.decode(bytes.subarray(recordStart, end));
    const firstLine = out.lines + 1;
    out.lines += linesInRecord;
    recordStart = i + 1;
    linesInRecord = 0;
    quotes = 0;
    const record = toRecord(text, firstLine, start, out);
    out.consumed = start.offset + Math.min(recordStart, n);
    if (record === SKIP) continue;
    out.values.push(record);
    out.ends.push(out.consumed);
    out.lineEnds.push(out.lines);
  }
  return out;
}

const SKIP = Symbol("skip");

function toRecord(text: string, line: number, start: { file: string; format: FileFormat; skipBad: boolean }, out: ParsedChunk): unknown {
  if (start.format === "lines") return text;
  if (text.trim().length === 0) return SKIP;
  try {
    if (start.format === "jsonl") return JSON.parse(text);
    const rows = parseCsv(text, { relax_column_count: true }) as string[][];
    if (rows.length !== 1) throw new Error(`expected one row, found ${rows.length}`);
    const row = rows[0];
    if (out.columns === undefined) out.columns = row.length;
    else if (row.length !== out.columns) throw new Error(`${row.length} columns where the file's first row has ${out.columns}`);
    return row;
  } catch (e) {
    if (start.skipBad) {
      out.skipped++;
      return SKIP;
    }
    const what = start.format === "jsonl" ? "not valid JSON" : "not a valid CSV row";
    throw new WeirError("bad_record", `File ${start.file} line ${line} is ${what}: ${(e as Error).message}`);
  }
}
