import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type EndedRecord, endedResponse, startsNewRun, withConfigSeen } from "../../platforms/ended_job.ts";

const ended: EndedRecord = { jobId: "a", jobName: "clicks", status: "stopped", config: { fresh: false } };
const restore = { restoreFrom: "r2://SP/stops/savepoint-1", fresh: false };

describe("an ended job on an edge host", () => {
  test("runs again only for a start configuration it has not acted on", () => {
    assert.equal(startsNewRun(ended, { fresh: false }), false, "no restore, no fresh start");
    assert.equal(startsNewRun(ended, restore), true, "a stop's savepoint named after the stop");
    assert.equal(startsNewRun({ ...ended, config: restore }, restore), false, "the run that restored it ended: left in place, it starts nothing");
    assert.equal(startsNewRun({ ...ended, config: restore }, { fresh: true }), true);
  });

  test("a record of a weir before it kept the configuration starts nothing with the variables seen now, and remembers them so that a change does", () => {
    const legacy: EndedRecord = { jobId: "a", jobName: "clicks", status: "stopped" };
    assert.equal(startsNewRun(legacy, restore), false, "the ended run may have started with these very variables");
    assert.equal(startsNewRun(legacy, { fresh: true }), false);
    const seen = withConfigSeen(legacy, restore)!;
    assert.deepEqual(seen.config, restore);
    assert.equal(startsNewRun(seen, restore), false);
    assert.equal(startsNewRun(seen, { fresh: true }), true);
    assert.equal(withConfigSeen(seen, restore), undefined, "nothing new to store");
  });

  test("answers paths as the live API reads them: a trailing slash is the same path, a job id in either case the same job", async () => {
    const job: EndedRecord = { jobId: "ab12", jobName: "clicks", status: "stopped" };
    const get = (path: string) => endedResponse(job, new Request(`http://x${path}`));
    assert.equal(get("/jobs/").status, 200);
    assert.equal(get("/jobs/overview/").status, 200);
    assert.equal(get("/jobs/AB12").status, 409, "the job, ended (it has no details view): not 404");
    assert.equal(get("/jobs/cd34").status, 404);
    assert.deepEqual(((await get("/jobs/").json()) as { jobs: { id: string }[] }).jobs.map((j) => j.id), ["ab12"]);
  });
});

