import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileSource } from "../../mod.ts";
import { runSourceConformance } from "./source_conformance.ts";

runSourceConformance<string>("FileSource", {
  setup(n) {
    const dir = mkdtempSync(join(tmpdir(), "weir-fs-conf-"));
    // Five files of unequal length: several splits per subtask, dealt again on rescale.
    const files = 5;
    for (let f = 0; f < files; f++) {
      const ids: number[] = [];
      for (let i = f; i < n; i += files) ids.push(i);
      writeFileSync(join(dir, `part-${f}.txt`), ids.join("\n") + "\n");
    }
    return Promise.resolve({
      source: () => new FileSource<string>(dir, { format: "lines", chunkBytes: 256 }),
      id: (line: string) => Number(line),
      bounded: true,
      child: { kind: "file", config: { paths: [dir] } },
      cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
    });
  },
});
