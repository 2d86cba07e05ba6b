import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep } from "../../helpers.ts";
import { startWorker, workerdSkip } from "./workerd.ts";

const classes = { PLAIN: "PlainAlarm", REARMED: "RearmedAlarm" };
interface AlarmState { fired: number; alarmAt: number | null }

if (workerdSkip) {
  describe("alarms under workerd", () => test("skipped", { skip: workerdSkip }, () => {}));
} else {
  describe("alarms under workerd", () => {
    test("rearmStoredAlarm(): an alarm stored before workerd stopped fires after it starts again; without it the stored alarm is never delivered", { timeout: 60_000 }, async () => {
      const persistTo = mkdtempSync(join(tmpdir(), "weir-alarm-"));
      const first = await startWorker("./fixtures/alarm_worker.ts", classes, { persistTo });
      // The plain object's alarm is due first: if workerd delivered stored alarms, it would fire first.
      await (await first.fetch("/set?class=PLAIN&in=1000")).json();
      await (await first.fetch("/set?class=REARMED&in=1500")).json();
      await first.dispose();
      const second = await startWorker("./fixtures/alarm_worker.ts", classes, { persistTo });
      try {
        const state = async (cls: string) => (await (await second.fetch(`/state?class=${cls}`)).json()) as AlarmState;
        // A request wakes both objects; only the rearmed one hands its alarm to the scheduler again.
        const plainAt = (await state("PLAIN")).alarmAt;
        assert.ok(plainAt !== null, "the plain object's alarm is stored in its SQLite database across the restart");
        let rearmed = await state("REARMED");
        for (let i = 0; i < 3000 && rearmed.fired === 0; i++) {
          await sleep(10);
          rearmed = await state("REARMED");
        }
        assert.equal(rearmed.fired, 1, "the rearmed alarm fired once");
        assert.equal(rearmed.alarmAt, null);
        const plain = await state("PLAIN");
        assert.ok(plainAt < Date.now(), "the plain alarm's time has passed");
        assert.equal(plain.fired, 0, "workerd never delivered the plain object's stored alarm");
        assert.equal(plain.alarmAt, plainAt);
      } finally {
        await second.dispose();
      }
    });
  });
}
