import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CollectSink, FileSource, type FileSourceOptions, MemoryStorage, StreamEnvironment, type WeirError } from "../../mod.ts";
import { sleep, until } from "../helpers.ts";
import { renderMetrics } from "../../http/metrics.ts";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "weir-filesource-"));
}

/** Runs a bounded FileSource job to its end and returns the result and what it committed. */
async function runBounded<T>(paths: string | string[], options: FileSourceOptions, parallelism = 2, jobName = "files") {
  const env = new StreamEnvironment({ jobName, parallelism, storage: new MemoryStorage(), checkpoint: { interval: 10 }, restart: { strategy: "none" } });
  const source = new FileSource<T>(paths, options);
  const sink = new CollectSink<T>();
  env.fromSource(source, { uid: "files" }).sinkTo(sink, { uid: "out" });
  const job = await env.execute();
  const result = await job.done;
  return { result, committed: sink.committed, source, job };
}

/** A running job watching `path` (monitorInterval 10 ms, a checkpoint every 10 ms) into a CollectSink. */
async function watching(path: string, parallelism: number) {
  const env = new StreamEnvironment({ jobName: "watch", parallelism, storage: new MemoryStorage(), checkpoint: { interval: 10 } });
  const sink = new CollectSink<string>();
  env.fromSource(new FileSource<string>(path, { monitorInterval: 10 }), { uid: "files" }).sinkTo(sink, { uid: "out" });
  return { job: await env.execute(), sink };
}

describe("FileSource", () => {
  test("reads every line of every file in a directory once, in chunks smaller than a line", async () => {
    const dir = tempDir();
    const expected: string[] = [];
    for (let f = 0; f < 5; f++) {
      const lines = Array.from({ length: 40 }, (_, i) => `file${f} line${i} ${"x".repeat(i % 13)}`);
      expected.push(...lines);
      writeFileSync(join(dir, `part-${f}.txt`), lines.join("\n") + "\n");
    }
    writeFileSync(join(dir, "crlf.txt"), "windows one\r\nwindows two\r\n\r\nlast without newline");
    expected.push("windows one", "windows two", "", "last without newline");
    writeFileSync(join(dir, ".hidden"), "never read\n");
    mkdirSync(join(dir, "nested"));
    const { result, committed } = await runBounded<string>(dir, { chunkBytes: 16 });
    assert.equal(result.status, "finished");
    assert.deepEqual([...committed].sort(), expected.sort());
  });

  test("jsonl: a value per line, blank lines skipped; several paths, files and directories", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "a.jsonl"), '{"n":1}\n\n[2,"two"]\n"three"\n');
    const single = join(tempDir(), "b.jsonl");
    writeFileSync(single, '{"n":4}\nnull\n');
    const { result, committed } = await runBounded<unknown>([dir, single], { format: "jsonl" });
    assert.equal(result.status, "finished");
    assert.deepEqual(new Set(committed.map((v) => JSON.stringify(v))), new Set(['{"n":1}', '[2,"two"]', '"three"', '{"n":4}', "null"]));
    assert.equal(committed.length, 5);
  });

  test("a broken JSON line fails the job naming the file and the line", async () => {
    const file = join(tempDir(), "bad.jsonl");
    writeFileSync(file, '{"n":1}\n{"n":2}\n{"n":\n{"n":4}\n');
    const { result } = await runBounded<unknown>(file, { format: "jsonl" }, 1);
    assert.equal(result.status, "failed");
    assert.match(result.error!.message, new RegExp(`File ${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} line 3 is not valid JSON`));
  });

  test("skipBadRecords skips broken records and counts them", async () => {
    const file = join(tempDir(), "bad.jsonl");
    writeFileSync(file, '{"n":1}\n{"n":\n{"n":3}\nnope\n');
    const { result, committed, source, job } = await runBounded<{ n: number }>(file, { format: "jsonl", skipBadRecords: true }, 1, "files-skip");
    assert.equal(result.status, "finished");
    assert.deepEqual(committed.map((v) => v.n).sort(), [1, 3]);
    assert.equal(source.skippedRecords, 2);
    assert.match(renderMetrics([job], new Map()), /weir_source_records_skipped_total\{job_id="\w+",job_name="files-skip",uid="files"\} 2\n/);
  });

  test("csv: rows as string[], quoted commas, quotes and newlines; a row with another column count fails naming its line", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "ok.csv"), 'name,note\nada,"says ""hi"", twice"\nbob,"two\nlines"\n');
    const { result, committed } = await runBounded<string[]>(dir, { format: "csv", chunkBytes: 16 });
    assert.equal(result.status, "finished");
    assert.deepEqual(committed.map((r) => JSON.stringify(r)).sort(), [["ada", 'says "hi", twice'], ["bob", "two\nlines"], ["name", "note"]].map((r) => JSON.stringify(r)).sort());

    const bad = join(tempDir(), "bad.csv");
    writeFileSync(bad, 'a,b\n"x\ny",z\nonly-one\n');
    const failed = await runBounded<string[]>(bad, { format: "csv" }, 1);
    assert.equal(failed.result.status, "failed");
    assert.match(failed.result.error!.message, /bad\.csv line 4 is not a valid CSV row: 1 columns where the file's first row has 2/);
  });

  test("monitorInterval: appended lines once their newline arrived, and new files dropped in", async () => {
    const dir = tempDir();
    const first = join(dir, "first.log");
    writeFileSync(first, "one\n");
    const { job, sink } = await watching(dir, 2);
    try {
      await until("the first line", () => sink.committed.includes("one"));
      appendFileSync(first, "tw");
      await sleep(150);
      assert.deepEqual(sink.committed, ["one"], "half a line is not emitted");
      appendFileSync(first, "o\nthree\n");
      writeFileSync(join(dir, "second.log"), "dropped in\n");
      await until("the appended lines and the new file", () => sink.committed.length >= 4);
      await sleep(100);
      assert.deepEqual([...sink.committed].sort(), ["dropped in", "one", "three", "two"]);
      // A watched file that is deleted is done, not a failure.
      rmSync(first);
      writeFileSync(join(dir, "third.log"), "after the delete\n");
      await until("a file dropped in after a delete", () => sink.committed.includes("after the delete"));
      assert.equal(job.status, "RUNNING");
      assert.equal(job.restarts, 0);
    } finally {
      await job.cancel();
    }
  });

  test("monitorInterval: a file truncated and written again, or replaced at its path (rotated), is read from its start", async () => {
    const dir = tempDir();
    const log = join(dir, "app.log");
    writeFileSync(log, "old-1 padding padding\nold-2 padding padding\n");
    const { job, sink } = await watching(log, 1);
    try {
      await until("the first lines", () => sink.committed.includes("old-2 padding padding"));
      // Shorter than what was read: read on at the old offset, the new lines were lost.
      writeFileSync(log, "new-1\nnew-2\n");
      await until("the truncated file's lines", () => sink.committed.includes("new-1") && sink.committed.includes("new-2"));
      // Replaced by another file at the same path (another inode; renamed over it, so the path never goes missing).
      writeFileSync(join(dir, "next.tmp"), "rotated-1 padding padding padding\nrotated-2\n");
      renameSync(join(dir, "next.tmp"), log);
      await until("the replaced file's lines", () => sink.committed.includes("rotated-1 padding padding padding") && sink.committed.includes("rotated-2"));
      assert.equal(job.restarts, 0);
    } finally {
      await job.cancel();
    }
  });

  test("a path that does not exist fails the start naming it; bad options are refused", async () => {
    const missing = join(tempDir(), "missing");
    const { result } = await runBounded<string>(missing, {}, 1);
    assert.equal(result.status, "failed");
    assert.match(result.error!.message, /FileSource path .*missing cannot be read/);
    for (const [paths, options] of [[[], {}], ["x", { format: "xml" }], ["x", { monitorInterval: 0 }], ["x", { chunk: 1 }]] as const) {
      assert.throws(() => new FileSource(paths as unknown as string[], options as FileSourceOptions), (e: WeirError) => e.code === "invalid_option" && /FileSource/.test(e.message));
    }
  });
});
