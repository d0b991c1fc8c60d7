/**
 * OAuth 2.0 for mailboxes and relays at Google and Microsoft: the refresh
 * token an operator got once is exchanged at the provider's token endpoint
 * for an access token, which logs in with SASL XOAUTH2 (IMAP `AUTHENTICATE`,
 * POP3 and SMTP `AUTH`). Access tokens are kept sealed in D1 until shortly
 * before they expire (every isolate shares them) and in memory for the
 * isolate's life. Microsoft may answer with a new refresh token: it is kept
 * with the access token and used from then on, until the operator sets
 * another refresh token (the cache is tied to the configured one).
 *
 * Token requests follow the providers' documented form: a POST of
 * `application/x-www-form-urlencoded` with grant_type=refresh_token,
 * client_id, client_secret and refresh_token (Microsoft also wants the
 * scope). A refused refresh token (`invalid_grant`: revoked, expired, the
 * password changed) or client (`invalid_client`) is permanent and says
 * what to do; anything else (5xx, no answer) is temporary.
 */
import { eq } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "./db/client";
import { oauthTokens } from "./db/schema";
import type { Env } from "./env";
import { sha256Hex } from "./hash";
import { toBase64 } from "./mail/bytes";
import { seal, unseal } from "./secrets";

export const OAUTH_PROVIDERS = ["google", "microsoft"] as const;
export type OAuthProvider = (typeof OAUTH_PROVIDERS)[number];

/** The OAuth settings of a relay or an incoming server (sealed with its other credentials). */
export const OAuthSettings = z.strictObject({
  provider: z.enum(OAUTH_PROVIDERS),
  client_id: z.string().min(1).max(500),
  client_secret: z.string().min(1).max(500),
  refresh_token: z.string().min(1).max(4000),
  /** Microsoft: the directory (tenant) id or domain; `common` when absent. */
  tenant: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,100}$/, "a tenant id or domain")
    .optional(),
});
export type OAuthSettings = z.infer<typeof OAuthSettings>;

/** Whose cached tokens they are: a relay's or an incoming server's, so a change of its settings (or its deletion) forgets them. */
export function tokenOwner(kind: "relay" | "incoming", id: string): string {
  return `${kind}:${id}`;
}

/** What the token is for: Microsoft grants a scope per protocol. */
export type OAuthUse = "imap" | "pop3" | "smtp";

const MICROSOFT_SCOPES: Record<OAuthUse, string> = {
  imap: "https://outlook.office.com/IMAP.AccessAsUser.All",
  pop3: "https://outlook.office.com/POP.AccessAsUser.All",
  smtp: "https://outlook.office.com/SMTP.Send",
};

/** `cached`: the token was not asked for just now (a server refusing it may mean it was revoked early: forget it and ask again). */
export type AccessToken = { ok: true; token: string; cached: boolean } | { ok: false; error: string; temporary: boolean };

/** A token this close to its expiry is not used: a login takes a moment, and clocks differ. */
const EXPIRY_MARGIN_MS = 60_000;
const TOKEN_TIMEOUT_MS = 15_000;

interface Cached {
  token: string;
  /** The refresh token to use next time (Microsoft rotates them). */
  refreshToken: string;
  /** Digest of the configured refresh token this cache belongs to. */
  configured: string;
  expiresAt: number;
}

const memory = new Map<string, Cached>();

/** The endpoint a provider's refresh requests go to (the variables exist for tests and sovereign clouds). */
export function tokenEndpoint(env: Pick<Env, "OAUTH_GOOGLE_TOKEN_URL" | "OAUTH_MICROSOFT_TOKEN_URL">, settings: OAuthSettings): string {
  if (settings.provider === "google") return env.OAUTH_GOOGLE_TOKEN_URL ?? "https://oauth2.googleapis.com/token";
  const base = env.OAUTH_MICROSOFT_TOKEN_URL ?? "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token";
  return base.replace("{tenant}", encodeURIComponent(settings.tenant ?? "common"));
}

/**
 * An access token for `owner` (`relay:<id>`, `incoming:<id>`): the cached
 * one while it lasts, else a new one from the provider. Failures are values
 * whose text names the provider and the cause, never a secret.
 */
export async function accessToken(env: Env, db: Db, owner: string, settings: OAuthSettings, use: OAuthUse, now: number): Promise<AccessToken> {
  const configured = await sha256Hex(`${settings.provider}\n${settings.client_id}\n${settings.refresh_token}`, 16);
  const usable = (entry: Cached | null | undefined): boolean => !!entry && entry.configured === configured && entry.expiresAt - EXPIRY_MARGIN_MS > now;
  // This isolate's copy only while it lasts: another isolate may have stored a fresher token (and rotated refresh token) in D1.
  const remembered = memory.get(owner);
  const cached = usable(remembered) ? remembered : ((await readCached(env, db, owner)) ?? remembered);
  if (cached && usable(cached)) {
    memory.set(owner, cached);
    return { ok: true, token: cached.token, cached: true };
  }
  const refreshToken = cached?.configured === configured ? cached.refreshToken : settings.refresh_token;
  const answer = await requestToken(env, settings, refreshToken, use);
  if (!answer.ok) return answer;
  const fresh: Cached = { token: answer.token, refreshToken: answer.refreshToken ?? refreshToken, configured, expiresAt: now + answer.expiresInSeconds * 1000 };
  memory.set(owner, fresh);
  const sealed = await seal(env.SECRETS_KEY, fresh, "oauth-tokens");
  await db
    .insert(oauthTokens)
    .values({ owner, sealed, expiresAt: new Date(fresh.expiresAt) })
    .onConflictDoUpdate({ target: oauthTokens.owner, set: { sealed, expiresAt: new Date(fresh.expiresAt) } });
  return { ok: true, token: fresh.token, cached: false };
}

/**
 * Drops everything cached for `owner`, the refresh token Microsoft rotated
 * to included: when the owner's credentials change or it is deleted.
 */
export async function forgetAccessToken(db: Db, owner: string): Promise<void> {
  memory.delete(owner);
  await db.delete(oauthTokens).where(eq(oauthTokens.owner, owner));
}

/**
 * Drops the cached access token of `owner` after a server refused a login
 * with it (revoked before it expired), so the next call asks for another;
 * the refresh token Microsoft rotated to is kept and used for that (the
 * configured one may be past its own lifetime by then).
 */
export async function expireAccessToken(db: Db, owner: string): Promise<void> {
  memory.delete(owner);
  await db
    .update(oauthTokens)
    .set({ expiresAt: new Date(0) })
    .where(eq(oauthTokens.owner, owner));
}

async function readCached(env: Env, db: Db, owner: string): Promise<Cached | null> {
  const [row] = await db.select().from(oauthTokens).where(eq(oauthTokens.owner, owner));
  if (!row) return null;
  try {
    const cached = await unseal<Cached>(env.SECRETS_KEY, row.sealed, "oauth-tokens");
    // expireAccessToken moves the row's expiry, not the sealed one's.
    return { ...cached, expiresAt: Math.min(cached.expiresAt, row.expiresAt.getTime()) };
  } catch {
    // Sealed under a SECRETS_KEY since rotated: ask the provider again.
    return null;
  }
}

const TokenAnswer = z.object({ access_token: z.string().min(1), expires_in: z.coerce.number().positive().optional(), refresh_token: z.string().min(1).optional() });
const ErrorAnswer = z.object({ error: z.string(), error_description: z.string().optional() });

type TokenResult = { ok: true; token: string; expiresInSeconds: number; refreshToken: string | null } | { ok: false; error: string; temporary: boolean };

async function requestToken(env: Env, settings: OAuthSettings, refreshToken: string, use: OAuthUse): Promise<TokenResult> {
  const form = new URLSearchParams({ grant_type: "refresh_token", client_id: settings.client_id, client_secret: settings.client_secret, refresh_token: refreshToken });
  if (settings.provider === "microsoft") form.set("scope", `${MICROSOFT_SCOPES[use]} offline_access`);
  const who = settings.provider === "google" ? "Google" : "Microsoft";
  let response: Response;
  try {
    response = await fetch(tokenEndpoint(env, settings), {
      method: "POST",
      body: form,
      redirect: "manual",
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    });
  } catch (error) {
    return { ok: false, error: `OAuth: ${who}'s token endpoint did not answer (${error instanceof Error ? error.message : String(error)})`, temporary: true };
  }
  const body: unknown = await response.json().catch(() => null);
  if (response.ok) {
    const parsed = TokenAnswer.safeParse(body);
    if (!parsed.success) return { ok: false, error: `OAuth: ${who}'s token endpoint answered without an access token`, temporary: true };
    // Google's and Microsoft's access tokens last an hour; a missing lifetime is taken as that.
    return { ok: true, token: parsed.data.access_token, expiresInSeconds: parsed.data.expires_in ?? 3600, refreshToken: parsed.data.refresh_token ?? null };
  }
  const failure = ErrorAnswer.safeParse(body);
  const said = failure.success
    ? `${failure.data.error}${failure.data.error_description ? `: ${failure.data.error_description.split(/\r?\n/)[0]!.trim()}` : ""}`
    : `HTTP ${response.status}`;
  if (failure.success && failure.data.error === "invalid_grant") {
    return { ok: false, error: `OAuth: ${who} refused the refresh token (${said}); it was revoked or expired: authorize again and set the new refresh_token`, temporary: false };
  }
  if (failure.success && ["invalid_client", "unauthorized_client", "invalid_scope", "invalid_request"].includes(failure.data.error)) {
    return { ok: false, error: `OAuth: ${who} refused the client (${said}): check client_id, client_secret and the app's permissions`, temporary: false };
  }
  return { ok: false, error: `OAuth: ${who}'s token endpoint failed (${said})`, temporary: response.status >= 500 || response.status === 429 };
}

/** The SASL XOAUTH2 initial response (Google's and Microsoft's format), base64. */
export function xoauth2(user: string, token: string): string {
  return toBase64(new TextEncoder().encode(`user=${user}\u0001auth=Bearer ${token}\u0001\u0001`));
}
