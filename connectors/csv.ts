/**
 * CSV as RFC 4180 has it: fields separated by commas, a field quoted when it holds a
 * comma, quote, CR or LF, quotes doubled inside. Small enough to own; the file sink and
 * its reader must agree on it byte for byte.
 * @module
 */
import { WeirError } from "../errors.ts";

/**
 * One record as one CSV row (without the line break): an array gives the fields in
 * order, an object its property values in insertion order, anything else one field.
 * `null`/`undefined` are empty fields; objects inside a row are written as JSON.
 *
 * @example
 * ```ts
 * import { csvRow } from "./csv.ts";
 * console.assert(csvRow(["a,b", 1, null]) === '"a,b",1,');
 * ```
 */
export function csvRow(record: unknown): string {
  const fields = Array.isArray(record) ? record : record !== null && typeof record === "object" ? Object.values(record) : [record];
  let out = "";
  for (let i = 0; i < fields.length; i++) {
    if (i > 0) out += ",";
    out += csvField(fields[i]);
  }
  // A line of nothing but blanks (one empty or blank field) is skipped by readers as a blank
  // line (FileSource's csv too): quoted, it is a row.
  if (fields.length === 1 && out.trim().length === 0) return `"${out}"`;
  return out;
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Parses CSV text into rows of strings; `source` names the file in errors.
 *
 * @throws {WeirError} `bad_record` for an unterminated quoted field.
 * @example
 * ```ts
 * import { parseCsv } from "./csv.ts";
 * console.assert(JSON.stringify(parseCsv('"a,b",1\nc,"x""y"\n', "t.csv")) === '[["a,b","1"],["c","x\\"y"]]');
 * ```
 */
export function parseCsv(text: string, source: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let line = 1;
  let atRowStart = true;
  while (i < text.length) {
    const c = text[i];
    atRowStart = false;
    if (c === '"' && field === "") {
      const start = line;
      i++;
      for (;;) {
        if (i >= text.length) throw new WeirError("bad_record", `Unterminated quoted CSV field in ${source} at line ${start}`);
        const q = text[i];
        if (q === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (q === "\n") line++;
        field += q;
        i++;
      }
      continue;
    }
    if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      atRowStart = true;
      if (c === "\r" && text[i + 1] === "\n") i++;
      line++;
    } else {
      field += c;
    }
    i++;
  }
  if (!atRowStart) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
