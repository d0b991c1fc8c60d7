/**
 * Failed sign-ins, throttled by client address: an address gets
 * `MAX_SIGN_IN_FAILURES` attempts per 15-minute window; after that, its
 * attempts are refused (429) before the token is compared, until the window
 * is over. Each attempt is counted before its token is looked at, in one
 * atomic upsert that answers the new count: so concurrent guesses are all
 * counted, and no more than `MAX_SIGN_IN_FAILURES` of them per window ever
 * reach the comparison. A successful sign-in clears its address's count.
 * D1 keeps the address, when its window began and the count: never the
 * token tried.
 */
import { eq, lte, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { consoleSignInFailures } from "../db/schema";

/** Attempts an address may make per window (the next one is refused). */
export const MAX_SIGN_IN_FAILURES = 5;
/** 15 minutes, in milliseconds. */
export const SIGN_IN_WINDOW_MS = 15 * 60 * 1000;
/** The one bucket of every request without CF-Connecting-IP (local development: Cloudflare always sets it). */
export const LOCAL_CLIENT = "local";

/**
 * The throttle's key for a request: its `CF-Connecting-IP` (set by
 * Cloudflare, not by the client), an IPv6 address by its /64 (one network,
 * which can hand out a new address per attempt), or `local` without one.
 */
export function clientOf(connectingIp: string | undefined): string {
  const address = connectingIp?.trim().toLowerCase() ?? "";
  if (!address) return LOCAL_CLIENT;
  // An IPv4 address, or one mapped into IPv6 (::ffff:192.0.2.1), counts as itself.
  if (address.includes(":") && !address.includes(".")) {
    const prefix = ipv6Prefix(address);
    if (prefix) return `${prefix}::/64`;
  }
  return address.slice(0, 64);
}

/** The first four groups of an IPv6 address (`2001:db8:0:1`), or null when it is not one. */
function ipv6Prefix(address: string): string | null {
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (part: string | undefined) => (part ? part.split(":") : []);
  const left = groupsOf(halves[0]);
  const right = groupsOf(halves[1]);
  // `::` stands for as many zero groups as make eight.
  const full = halves.length === 2 ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
  const first = full.slice(0, 4);
  if (first.length < 4 || !first.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return null;
  return first.map((group) => group.replace(/^0+(?=.)/, "")).join(":");
}

/** What counting an attempt decided: go on and compare the token, or refuse for `retryAfter` seconds. */
export type SignInAttempt = { allowed: true } | { allowed: false; retryAfter: number };

/**
 * Counts a sign-in attempt from `client` at `now`, before its token is
 * compared: one upsert adds 1 to the count of the current window, or starts
 * a new window at 1 when the old one is over, and answers the new count.
 * Past `MAX_SIGN_IN_FAILURES`, the attempt is refused until the window ends.
 */
export async function countSignInAttempt(db: Db, client: string, now: number): Promise<SignInAttempt> {
  const t = consoleSignInFailures;
  const over = sql`${t.windowStart} <= ${now - SIGN_IN_WINDOW_MS}`;
  const row = await db
    .insert(t)
    .values({ client, windowStart: new Date(now), count: 1 })
    .onConflictDoUpdate({
      target: t.client,
      // Both read the row as it was: a window that is over starts again, with this attempt.
      set: {
        windowStart: sql`CASE WHEN ${over} THEN ${now} ELSE ${t.windowStart} END`,
        count: sql`CASE WHEN ${over} THEN 1 ELSE ${t.count} + 1 END`,
      },
    })
    .returning({ windowStart: t.windowStart, count: t.count })
    .get();
  if (!row || row.count <= MAX_SIGN_IN_FAILURES) return { allowed: true };
  if (row.count === MAX_SIGN_IN_FAILURES + 1) console.warn(`mailgate: console sign-ins from ${client} refused for 15 minutes after ${MAX_SIGN_IN_FAILURES} failures`);
  return { allowed: false, retryAfter: Math.max(1, Math.ceil((row.windowStart.getTime() + SIGN_IN_WINDOW_MS - now) / 1000)) };
}

/** A successful sign-in: its address starts again from nothing. */
export async function clearSignInFailures(db: Db, client: string): Promise<void> {
  await db.delete(consoleSignInFailures).where(eq(consoleSignInFailures.client, client));
}

/** Deletes the counts whose window is over at `at` (swept with expired sessions, src/console/session.ts). */
export async function sweepSignInFailures(db: Db, at: number): Promise<void> {
  await db.delete(consoleSignInFailures).where(lte(consoleSignInFailures.windowStart, new Date(at - SIGN_IN_WINDOW_MS)));
}
