import assert from "node:assert/strict";
import { HttpIngestSource } from "../../mod.ts";
import { runSourceConformance } from "./source_conformance.ts";

/** POSTs ids 0..n-1 as NDJSON in batches; every batch must be accepted. */
async function postIds(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    const body = Array.from({ length: Math.min(100, n - i) }, (_, k) => JSON.stringify({ id: i + k })).join("\n");
    const res = await fetch(url, { method: "POST", body, headers: { "Content-Type": "application/x-ndjson" } });
    assert.equal(res.status, 202, await res.text());
  }
}

runSourceConformance<{ id: number }>("HttpIngestSource", {
  setup(n) {
    // Fed once per test: a restored run reads what the first run's POSTs stored.
    let fed = false;
    return Promise.resolve({
      source: () => new HttpIngestSource<{ id: number }>(),
      id: (e: { id: number }) => e.id,
      bounded: false,
      async feed(job) {
        if (fed) return;
        fed = true;
        await postIds(`${job.url}/ingest/source`, n);
      },
      child: { kind: "http", config: {} },
      async feedUrl(url: string) {
        if (fed) return;
        fed = true;
        await postIds(`${url}/ingest/source`, n);
      },
      cleanup: () => Promise.resolve(),
    });
  },
});
