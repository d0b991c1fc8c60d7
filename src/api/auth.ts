import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/**
 * Compares two secrets in constant time. Hashing first gives both sides the
 * same length, so neither the content nor the length of the token leaks
 * through timing.
 */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match ? match[1]! : null;
}

/** `Authorization: Bearer <ADMIN_TOKEN>` for every route it guards. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async function requireAdmin(c, next) {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) throw new ApiError("internal_error", "the ADMIN_TOKEN secret is not set");
  const token = bearerToken(c.req.header("Authorization"));
  if (!token) throw new ApiError("unauthorized", "missing bearer token (Authorization: Bearer <token>)");
  if (!(await secretsEqual(token, expected))) throw new ApiError("unauthorized", "invalid token");
  await next();
};
