/**
 * Who is calling: the admin token (everything), or an API key (sending, and
 * reading the messages it sent). Keys are stored as SHA-256 hashes and
 * looked up by hash; the admin token is compared in constant time.
 */
import { and, eq, isNull } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { apiKeys } from "../db/schema";
import { secretsEqual, sha256Hex } from "../hash";
import { toBase64Url } from "../mail/bytes";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

/** API keys look like `mgk_<43 base64url characters>` (32 random bytes). */
export const API_KEY_PREFIX = "mgk_";

/** A new key, shown once: only its SHA-256 is stored (POST /v1/keys). The prefix lets `authenticate` skip the key lookup for any other token. */
export function newApiKey(): string {
  return API_KEY_PREFIX + toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match ? match[1]! : null;
}

/** Sets `principal`, or answers 401. */
export const authenticate: MiddlewareHandler<AppEnv> = async function authenticate(c, next) {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new ApiError("internal_error", "the ADMIN_TOKEN secret is not set");
  const token = bearerToken(c.req.header("Authorization"));
  if (!token) throw new ApiError("unauthorized", "missing bearer token (Authorization: Bearer <token>)");
  if (await secretsEqual(token, expected)) {
    c.set("principal", { kind: "admin" });
    return next();
  }
  if (token.startsWith(API_KEY_PREFIX)) {
    const key = await c
      .get("db")
      .select({ id: apiKeys.id, fromDomains: apiKeys.fromDomains })
      .from(apiKeys)
      .where(and(eq(apiKeys.hash, await sha256Hex(token)), isNull(apiKeys.revokedAt)))
      .get();
    if (key) {
      c.set("principal", { kind: "key", id: key.id, fromDomains: key.fromDomains });
      return next();
    }
  }
  throw new ApiError("unauthorized", "invalid token");
};

/** What an API key may call: sending, reading the messages it sent, and its own event hooks (src/api/event-hooks.ts scopes them). */
function keyMayCall(method: string, path: string): boolean {
  if (path === "/v1/messages") return method === "POST" || method === "GET";
  if (path === "/v1/event-hooks") return method === "POST" || method === "GET";
  if (/^\/v1\/event-hooks\/[^/]+$/.test(path)) return method === "GET" || method === "PATCH" || method === "DELETE";
  if (/^\/v1\/event-hooks\/[^/]+\/secret$/.test(path)) return method === "POST";
  return method === "GET" && /^\/v1\/messages\/[^/]+(\/raw)?$/.test(path);
}

/** Answers 403 when an API key calls an admin route. */
export const restrictKeys: MiddlewareHandler<AppEnv> = async function restrictKeys(c, next) {
  const principal = c.get("principal");
  if (principal.kind === "key" && !keyMayCall(c.req.method, c.req.path)) {
    throw new ApiError("forbidden", "API keys may only send messages, read the messages they sent and manage their own event hooks; this needs the admin token");
  }
  await next();
};
