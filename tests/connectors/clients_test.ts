import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { checkRedisUrl, connectRedis } from "../../connectors/clients/redis.ts";
import { checkNatsServers, connectNats, natsStreamExists } from "../../connectors/clients/nats.ts";
import type { WeirError } from "../../mod.ts";
import { REDIS_URL, NATS_SERVERS, uniqueName } from "./servers.ts";

describe("connector clients", () => {
  test("connectRedis() talks to the local Redis", async () => {
    const redis = await connectRedis(REDIS_URL);
    try {
      assert.equal(await redis.ping(), "PONG");
    } finally {
      redis.disconnect();
    }
  });

  test("connectRedis() of a server that is down fails with connector_unavailable naming it", async () => {
    await assert.rejects(connectRedis("redis://127.0.0.1:1"), (e: WeirError) => {
      assert.equal(e.code, "connector_unavailable");
      assert.match(e.message, /Redis server redis:\/\/127\.0\.0\.1:1 /);
      return true;
    });
  });

  test("checkRedisUrl() refuses what is not a Redis URL, naming the option", () => {
    for (const bad of ["127.0.0.1:6379", "http://x", 42, ""]) {
      assert.throws(() => checkRedisUrl(bad, "RedisStreamSource url"), (e: WeirError) => e.code === "invalid_option" && /RedisStreamSource url/.test(e.message));
    }
  });

  test("connectNats() opens JetStream and tells existing streams from missing ones", async () => {
    const nats = await connectNats(NATS_SERVERS);
    const name = uniqueName("CLIENTS");
    try {
      await nats.jsm.streams.add({ name, subjects: [`${name}.>`] });
      assert.equal(await natsStreamExists(nats, name), true);
      assert.equal(await natsStreamExists(nats, `${name}_MISSING`), false);
    } finally {
      await nats.jsm.streams.delete(name).catch(() => {});
      await nats.close();
    }
  });

  test("connectNats() of a server that is down fails with connector_unavailable naming it", async () => {
    await assert.rejects(connectNats("127.0.0.1:1", { connectTimeoutMs: 2000 }), (e: WeirError) => {
      assert.equal(e.code, "connector_unavailable");
      assert.match(e.message, /NATS server 127\.0\.0\.1:1 /);
      return true;
    });
  });

  test("checkNatsServers() takes a string or array and refuses anything else", () => {
    assert.deepEqual(checkNatsServers(["nats://a:1", "b:2"]), ["nats://a:1", "b:2"]);
    for (const bad of [[], "", 4222, ["ok:1", 3], "http://x:1"]) {
      assert.throws(() => checkNatsServers(bad), (e: WeirError) => e.code === "invalid_option");
    }
  });
});
