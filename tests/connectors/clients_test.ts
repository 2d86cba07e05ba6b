import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { checkRedisUrl, connectRedis } from "../../connectors/clients/redis.ts";
import { checkNatsServers, connectNats, natsStreamExists } from "../../connectors/clients/nats.ts";
import type { WeirError } from "../../mod.ts";
import { connectPostgres, isConnectionError } from "../../connectors/clients/postgres.ts";
import { REDIS_URL, NATS_SERVERS, POSTGRES_URL, uniqueName } from "./servers.ts";
import { TcpProxy } from "./tcp_proxy.ts";

/** `p`, or a rejection naming `what` once `ms` passed: a test of a hang fails rather than hangs. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

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

  test("a Redis server that stops answering fails a command and a connect, naming it: no endless wait", async () => {
    const proxy = new TcpProxy(6379);
    const port = await proxy.start();
    try {
      const redis = await connectRedis(`redis://127.0.0.1:${port}`, { commandTimeoutMs: 300 });
      try {
        assert.equal(await redis.ping(), "PONG");
        proxy.stall();
        await assert.rejects(within(redis.ping(), 3_000, "a ping"), /Command timed out/);
      } finally {
        redis.disconnect();
      }
      await assert.rejects(within(connectRedis(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 300 }), 3_000, "the connect"), (e: WeirError) => {
        assert.equal(e.code, "connector_unavailable", e.message);
        assert.match(e.message, new RegExp(`Redis server redis://127\\.0\\.0\\.1:${port} is unavailable`));
        return true;
      });
    } finally {
      await proxy.close();
    }
  });

  test("a PostgreSQL server that stops answering fails the query as a connection error, and a connect: no endless wait", async () => {
    const proxy = new TcpProxy(5432);
    const port = await proxy.start();
    const url = POSTGRES_URL.replace(":5432/", `:${port}/`);
    try {
      const pg = await connectPostgres(url, { queryTimeoutMs: 300 });
      try {
        assert.deepEqual(await pg.query("select 1 as one"), [{ one: 1 }]);
        proxy.stall();
        await assert.rejects(within(pg.query("select 1"), 3_000, "a query"), (e: Error) => isConnectionError(e));
      } finally {
        void pg.end();
      }
      await assert.rejects(within(connectPostgres(url, { connectTimeoutMs: 300 }), 3_000, "the connect"), (e: WeirError) => e.code === "connector_unavailable");
    } finally {
      await proxy.close();
    }
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
