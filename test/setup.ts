import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, expect } from "vitest";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

/**
 * No test reaches the internet: the Worker runs in this isolate, so every
 * fetch it makes (webhooks, provider APIs) goes through this guard, which
 * lets loopback through (the tests' servers) and refuses anything else
 * before a name is looked up. A test during which something tried is failed.
 */
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "mailgate.test"]);
const outside: string[] = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (!LOCAL_HOSTS.has(url.hostname)) {
    outside.push(url.href);
    throw new TypeError(`tests do not reach the internet: fetch to ${url.host} refused`);
  }
  return realFetch(input, init);
}) as typeof fetch;

afterEach(() => {
  const tried = outside.splice(0);
  expect(tried, "fetches to the internet during this test").toEqual([]);
});
