/**
 * A changelog file (sqlite_changelog.ts) read in the parts it was stored in, without
 * joining them: a restore of the longest chain at 1 M keys joined 28 MB of changelog
 * parts, a copy into fresh memory, whose first touch costs 3–7 ms a megabyte on a 2-core
 * VM. Parts are cut at any byte, so a record may cross from one part into the next (or
 * several, for a value larger than a part); such a record alone is copied into a buffer
 * of its own.
 * @module
 */
import { NO_ORIGINAL_KEY, RECORD_KEY_OFFSET, recordU32, scanChangelog } from "./sqlite_changelog.ts";

/**
 * Calls `record` for each record of the changelog file stored as `parts`, in order, as
 * scanChangelog() does for a whole file; `source(bytes)` comes first with the buffer the
 * records that follow lie in (a part, or the copy of a record that crosses parts), and
 * `record`'s positions are in that buffer.
 * @throws {WeirError} `checkpoint_corrupt` naming `what` when a record is cut short by the
 *   file's end or has an unknown tag; the byte named is the file's
 *
 * @example
 * ```ts
 * import { scanChangelogParts } from "./sqlite_changelog_parts.ts";
 * // One tombstone (key group 1, state 0, key [7]) cut after its fifth byte.
 * const log = Uint8Array.of(0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7);
 * const keys: number[] = [];
 * let bytes: Uint8Array = log;
 * scanChangelogParts([log.subarray(0, 5), log.subarray(5)], "doc.log", (b) => (bytes = b), (_at, _end, _kg, _s, kAt) => keys.push(bytes[kAt]));
 * console.assert(keys.length === 1 && keys[0] === 7);
 * ```
 */
export function scanChangelogParts(
  parts: readonly Uint8Array[],
  what: string,
  source: (bytes: Uint8Array) => void,
  record: (at: number, end: number, kg: number, s: number, kAt: number, kLength: number) => void,
): void {
  /** Where parts[p] starts in the file, and where its scan starts in it. */
  let offset = 0;
  let from = 0;
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p];
    const last = p === parts.length - 1;
    source(part);
    const stop = scanChangelog(part, what, record, from, !last, offset);
    from = 0;
    if (stop === part.length) {
      offset += part.length;
      continue;
    }
    // A record from `stop` on crosses into the next part: copied out and scanned alone
    // (which checks it, and throws for one the file's end cuts short).
    const crossing = recordAcross(parts, p, stop);
    source(crossing);
    scanChangelog(crossing, what, record, 0, false, offset + stop);
    // Resume in the part where it ends.
    let rest = stop + crossing.length;
    while (p < parts.length && rest >= parts[p].length) {
      rest -= parts[p].length;
      offset += parts[p].length;
      p++;
    }
    from = rest;
    p--;
  }
}

/**
 * The bytes of the record starting at `at` of parts[p], copied out of the parts it
 * crosses; fewer (what the file holds) when the file's end cuts it short, or its head
 * does not hold a record.
 */
function recordAcross(parts: readonly Uint8Array[], p: number, at: number): Uint8Array {
  const gather = (n: number) => copyAcross(parts, p, at, n);
  let head = gather(RECORD_KEY_OFFSET);
  const tag = head[0];
  if (head.length < RECORD_KEY_OFFSET || (tag !== 0 && tag !== 1)) return head;
  const kEnd = RECORD_KEY_OFFSET + recordU32(head, 9);
  if (tag === 0) return gather(kEnd);
  // A put: its original key's length, then its value's, each read once the bytes before it are.
  head = gather(kEnd + 4);
  if (head.length < kEnd + 4) return head;
  const okLength = recordU32(head, kEnd);
  const vField = kEnd + 4 + (okLength === NO_ORIGINAL_KEY ? 0 : okLength);
  head = gather(vField + 4);
  if (head.length < vField + 4) return head;
  return gather(vField + 4 + recordU32(head, vField));
}

/** Up to `n` bytes of the file stored as `parts`, from `at` of parts[p] on, in one buffer. */
function copyAcross(parts: readonly Uint8Array[], p: number, at: number, n: number): Uint8Array {
  let left = 0;
  for (let q = p; q < parts.length && left < n; q++) left += parts[q].length - (q === p ? at : 0);
  const out = new Uint8Array(Math.min(n, left));
  let to = 0;
  for (let q = p, from = at; to < out.length; q++, from = 0) {
    const take = Math.min(out.length - to, parts[q].length - from);
    out.set(parts[q].subarray(from, from + take), to);
    to += take;
  }
  return out;
}
