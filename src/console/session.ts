/**
 * Console sessions: signing in with the admin token gives the browser a
 * random 32-byte secret in a cookie (`HttpOnly; Secure; SameSite=Strict`,
 * 12 hours), never the token. D1 keeps only the secret's SHA-256 (the row's
 * id) and when it expires, so signing out (deleting the row) really ends the
 * session, and a copy of the table is no cookie. Every POST carries a CSRF
 * token derived from the secret (SHA-256 of `csrf:` + secret: one-way, so a
 * page showing it does not show the secret) and must come from our own
 * origin (Origin, Sec-Fetch-Site).
 */
import { and, eq, gt, lte } from "drizzle-orm";
import type { Context, Hono, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import type { Clock } from "../clock";
import type { Db } from "../db/client";
import { consoleSessions } from "../db/schema";
import type { Env } from "../env";
import { secretsEqual, sha256Hex } from "../hash";
import { toBase64Url } from "../mail/bytes";
import { sweepSignInFailures } from "./throttle";

/** The cookie's name (the browser tests look for it). */
export const SESSION_COOKIE = "mailgate_session";
/** 12 hours, in seconds (the cookie's Max-Age) and in the row's expiry. */
export const SESSION_SECONDS = 12 * 3600;
/** The hidden field every console form carries. */
export const CSRF_FIELD = "csrf";

/** A refusal or failure the console shows as a page with this status and text (app.tsx's error handler renders it). */
export class ConsoleError extends Error {
  override name = "ConsoleError";
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 422 | 500 | 502 | 503,
    message: string,
  ) {
    super(message);
  }
}

/** A signed-in browser: the row's id (never shown), the CSRF token its forms carry, and when it ends. */
export interface Session {
  id: string;
  csrf: string;
  expiresAt: number;
}

/** Calls the HTTP API in-process with the admin principal (src/console/api-client.ts). */
export type ApiFetch = (request: Request) => Promise<Response>;

/** What every console handler has: the bindings, the database (sessions only: data comes through the API), the clock, the API, and the session. */
export type ConsoleEnv = {
  Bindings: Env;
  Variables: {
    db: Db;
    clock: Clock;
    api: ApiFetch;
    /** The session when the browser is signed in, else null (set for every request). */
    signedIn: Session | null;
    /** Set by `requireSession`: the handlers of the pages can count on it. */
    session: Session;
  };
};

/** The console's Hono app, as page modules receive it in `register(app)`. */
export type ConsoleApp = Hono<ConsoleEnv>;

/** The console's request context. */
export type ConsoleContext = Context<ConsoleEnv>;

function csrfOf(secret: string): Promise<string> {
  return sha256Hex(`csrf:${secret}`);
}

/** Starts a session: the row in D1, the cookie in the answer. */
export async function startSession(c: ConsoleContext): Promise<Session> {
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const now = c.get("clock")();
  const session: Session = { id: await sha256Hex(secret), csrf: await csrfOf(secret), expiresAt: now + SESSION_SECONDS * 1000 };
  await c
    .get("db")
    .insert(consoleSessions)
    .values({ id: session.id, expiresAt: new Date(session.expiresAt), createdAt: new Date(now) });
  setCookie(c, SESSION_COOKIE, secret, { httpOnly: true, secure: true, sameSite: "Strict", path: "/", maxAge: SESSION_SECONDS });
  return session;
}

/** Ends the session: its row goes (the cookie, even if kept, no longer works) and the cookie is cleared. */
export async function endSession(c: ConsoleContext, session: Session): Promise<void> {
  await c.get("db").delete(consoleSessions).where(eq(consoleSessions.id, session.id));
  deleteCookie(c, SESSION_COOKIE, { httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
}

/** Sets `signedIn` from the cookie: a live row for its secret's hash, or null. */
export const loadSession: MiddlewareHandler<ConsoleEnv> = async function loadSession(c, next) {
  c.set("signedIn", null);
  const secret = getCookie(c, SESSION_COOKIE);
  // A secret is 43 base64url characters: anything else is not ours, and costs no query.
  if (secret && /^[A-Za-z0-9_-]{43}$/.test(secret)) {
    const id = await sha256Hex(secret);
    const now = c.get("clock")();
    const row = await c
      .get("db")
      .select({ expiresAt: consoleSessions.expiresAt })
      .from(consoleSessions)
      .where(and(eq(consoleSessions.id, id), gt(consoleSessions.expiresAt, new Date(now))))
      .get();
    if (row) c.set("signedIn", { id, csrf: await csrfOf(secret), expiresAt: row.expiresAt.getTime() });
  }
  await next();
};

/** Pages need a session: without one, a GET goes to the sign-in page (`/`), anything else is refused. */
export const requireSession: MiddlewareHandler<ConsoleEnv> = async function requireSession(c, next) {
  const session = c.get("signedIn");
  if (!session) {
    if (c.req.method === "GET" || c.req.method === "HEAD") return c.redirect("/", 303);
    throw new ConsoleError(403, "Your session has ended: sign in again.");
  }
  c.set("session", session);
  await next();
};

/**
 * A POST from a page of ours, as far as the browser says: `Sec-Fetch-Site`
 * must be `same-origin`, and an `Origin` must be ours. Our pages send
 * `Referrer-Policy: no-referrer`, under which browsers send `Origin: null`
 * for form posts: that one says nothing, and Sec-Fetch-Site decides. A
 * client that sends neither (not a browser) has the CSRF token to show.
 */
export function sameOrigin(c: ConsoleContext): boolean {
  const site = c.req.header("Sec-Fetch-Site");
  if (site !== undefined && site !== "same-origin") return false;
  const origin = c.req.header("Origin");
  if (origin === undefined || origin === "null") return true;
  return origin === new URL(c.req.url).origin;
}

/** Every POST: from our origin, with the session's CSRF token in the form (compared in constant time). */
export const checkCsrf: MiddlewareHandler<ConsoleEnv> = async function checkCsrf(c, next) {
  const session = c.get("signedIn");
  if (!session || !sameOrigin(c)) throw new ConsoleError(403, "This form did not come from this console: reload the page and try again.");
  // `all: true`: a csrf field given twice is a list, and refused. Hono keeps the form data: handlers parse it again at no cost.
  const form = await c.req.parseBody({ all: true });
  const given = form[CSRF_FIELD];
  if (typeof given !== "string" || !(await secretsEqual(given, session.csrf))) {
    throw new ConsoleError(403, "This form has expired or did not come from this console: reload the page and try again.");
  }
  await next();
};

/** The hidden input every console form includes. */
export function csrfField(session: Session) {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${session.csrf}">`;
}

/** Deletes expired sessions, and failed sign-in counts whose window is over (the scheduled handler, src/worker.ts). */
export async function sweepConsoleSessions(db: Db, at: number): Promise<void> {
  await db.delete(consoleSessions).where(lte(consoleSessions.expiresAt, new Date(at)));
  await sweepSignInFailures(db, at);
}
