/** Addresses of the real servers connector tests use (the machine's services; .ci/run starts them). */
import process from "node:process";

export const REDIS_URL = process.env.WEIR_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const NATS_SERVERS = process.env.WEIR_TEST_NATS_SERVERS ?? "127.0.0.1:4222";

let counter = 0;
/** A name no parallel test run uses: streams, subjects and keys of one test. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++counter}`;
}
export const POSTGRES_URL = process.env.WEIR_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
