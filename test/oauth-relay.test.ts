/**
 * SMTP relays that log in with OAuth (Gmail, Microsoft 365), the whole way
 * for real: mailgate exchanges the refresh token at the local provider's
 * token endpoint (test/node/dovecot.ts, which checks each request as Google
 * and Microsoft document it), logs in to the real Postfix's `oauth` service
 * with SASL XOAUTH2, and Postfix asks the real Dovecot, which asks the
 * provider whether the token is good (introspection).
 */
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import { tokenEndpoint, xoauth2 } from "../src/oauth";
import { api, headerValues, ok, onlyRelays, postfixDelivered, queueSpy, runJobs, sendAndDeliver, setupDomain, smtpRelay, unique } from "./helpers";

const dovecot = inject("dovecot");
/**
 * The Worker's bindings with the token endpoints pointed at the local
 * provider, and a queue that keeps the send jobs (each test runs them
 * itself): the runtime's own consumer would run them with the real
 * bindings, whose token endpoints are Google's and Microsoft's.
 */
const oauthEnv: Env = {
  ...queueSpy().env,
  OAUTH_GOOGLE_TOKEN_URL: `${dovecot.control}/oauth/google/token`,
  OAUTH_MICROSOFT_TOKEN_URL: `${dovecot.control}/oauth/microsoft/{tenant}/oauth2/v2.0/token`,
};
const via = { env: oauthEnv };

type Grant = { client_id: string; client_secret: string; refresh_token: string; user: string };
interface ProviderRequest {
  kind: "token" | "introspect";
  provider: string | null;
  tenant: string | null;
  content_type: string | null;
  form: Record<string, string>;
  status: number;
  answer: any;
}

async function control(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${dovecot.control}${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body) }) });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** A mailbox user of its own, with a grant at each provider. */
async function newUser(): Promise<{ user: string; oauth: { google: Grant; microsoft: Grant } }> {
  return control("POST", "/users", { password: false });
}

/** The token requests that carried one of these refresh tokens, in order. */
async function tokenRequests(...refreshTokens: string[]): Promise<ProviderRequest[]> {
  const log: ProviderRequest[] = await control("GET", "/oauth/log?kind=token");
  return log.filter((r) => refreshTokens.includes(r.form.refresh_token ?? ""));
}

/** Dovecot's questions about the access tokens these token requests answered. */
async function introspections(requests: ProviderRequest[]): Promise<ProviderRequest[]> {
  const tokens = new Set(requests.map((r) => r.answer?.access_token).filter(Boolean));
  const log: ProviderRequest[] = await control("GET", "/oauth/log?kind=introspect");
  return log.filter((r) => tokens.has(r.form.token));
}

/** An `smtp` relay to Postfix's oauth service (STARTTLS, AUTH required) logging in as `user` with this grant. */
async function oauthRelay(domain: string, user: string, oauth: Record<string, unknown>) {
  const [relay] = await onlyRelays([smtpRelay("postfix:oauth", { from_filter: domain }, { username: user, oauth })]);
  return relay;
}

const google = (grant: Grant) => ({ provider: "google", client_id: grant.client_id, client_secret: grant.client_secret, refresh_token: grant.refresh_token });
const microsoft = (grant: Grant, tenant?: string) => ({ ...google(grant), provider: "microsoft", ...(tenant && { tenant }) });

async function sendOne(domain: string, subject: string) {
  const rcpt = `${unique("oauth")}@example.org`;
  const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject, text: "Sent with XOAUTH2." }, undefined, via);
  return { rcpt, message };
}

describe("SMTP relays with OAuth (XOAUTH2)", () => {
  it("Google: the refresh token is exchanged as Google documents it, Postfix takes the XOAUTH2 login, and a second send reuses the token", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    await oauthRelay(domain, user, google(oauth.google));

    const first = await sendOne(domain, "first");
    expect(first.message.status).toBe("sent");
    const [copy] = await postfixDelivered(first.rcpt);
    // Postfix names the account the client authenticated as (smtpd_sasl_authenticated_header).
    expect(headerValues(copy, "Received").join("\n")).toContain(`(Authenticated sender: ${user})`);

    const second = await sendOne(domain, "second");
    expect(second.message.status).toBe("sent");
    expect(await postfixDelivered(second.rcpt)).toHaveLength(1);

    // One token request for both sessions, as Google documents the refresh: a form POST of exactly these fields.
    const requests = await tokenRequests(oauth.google.refresh_token);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ provider: "google", content_type: "application/x-www-form-urlencoded", status: 200 });
    expect(requests[0]!.form).toEqual({
      grant_type: "refresh_token",
      client_id: oauth.google.client_id,
      client_secret: oauth.google.client_secret,
      refresh_token: oauth.google.refresh_token,
    });
    // Dovecot checked the token at each login: the same token, twice, good both times.
    const checks = await introspections(requests);
    expect(checks.map((c) => c.answer)).toEqual([expect.objectContaining({ active: true, username: user }), expect.objectContaining({ active: true, username: user })]);
  });

  it("Microsoft: the tenant's endpoint, the SMTP.Send scope, a long token sent in two steps, and the rotated refresh token used next", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    await oauthRelay(domain, user, microsoft(oauth.microsoft, "contoso.onmicrosoft.com"));

    expect((await sendOne(domain, "first")).message.status).toBe("sent");
    const [first] = await tokenRequests(oauth.microsoft.refresh_token);
    expect(first).toMatchObject({ provider: "microsoft", tenant: "contoso.onmicrosoft.com", content_type: "application/x-www-form-urlencoded", status: 200 });
    expect(first!.form).toEqual({
      grant_type: "refresh_token",
      client_id: oauth.microsoft.client_id,
      client_secret: oauth.microsoft.client_secret,
      refresh_token: oauth.microsoft.refresh_token,
      scope: "https://outlook.office.com/SMTP.Send offline_access",
    });
    // Microsoft's access tokens are JWTs far over the 512 octets an AUTH line with its initial response may take.
    expect(first!.answer.access_token.length).toBeGreaterThan(1000);
    const rotated: string = first!.answer.refresh_token;
    expect(rotated).not.toBe(oauth.microsoft.refresh_token);

    // The access token dies before its hour is up: the next login is refused, and the relay asks again, with the rotated refresh token.
    await control("POST", "/oauth/expire", { user });
    const second = await sendOne(domain, "second");
    expect(second.message.status).toBe("sent");
    expect(await postfixDelivered(second.rcpt)).toHaveLength(1);
    const requests = await tokenRequests(oauth.microsoft.refresh_token, rotated);
    expect(requests.map((r) => r.form.refresh_token)).toEqual([oauth.microsoft.refresh_token, rotated]);
    expect(requests[1]!.form.scope).toBe("https://outlook.office.com/SMTP.Send offline_access");
  });

  it("a cached token the server refuses (revoked early) is dropped and the login tried once more with a new one", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    await oauthRelay(domain, user, google(oauth.google));
    expect((await sendOne(domain, "first")).message.status).toBe("sent");

    await control("POST", "/oauth/expire", { user });
    const { rcpt, message } = await sendOne(domain, "after expiry");
    expect(message.status).toBe("sent");
    expect(message.attempts).toMatchObject([{ result: "sent" }]);
    expect(await postfixDelivered(rcpt)).toHaveLength(1);
    const requests = await tokenRequests(oauth.google.refresh_token);
    expect(requests).toHaveLength(2);
    expect((await introspections(requests)).map((c) => c.answer.active)).toEqual([true, false, true]);
  });

  it("a revoked refresh token fails the attempt with an error that says so, and nothing is sent", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    const relay = await oauthRelay(domain, user, google(oauth.google));
    expect((await sendOne(domain, "before")).message.status).toBe("sent");

    // The user withdraws the app's access: the refresh token and its access tokens stop working.
    await control("POST", "/oauth/revoke", { refresh_token: oauth.google.refresh_token });
    const { rcpt, message } = await sendOne(domain, "after revocation");
    expect(message.status).toBe("queued");
    expect(message.attempts).toEqual([
      expect.objectContaining({
        relay_id: relay.id,
        result: "relay_error",
        error: `no OAuth access token to log in as ${user}: OAuth: Google refused the refresh token (invalid_grant: Token has been expired or revoked.); it was revoked or expired: authorize again and set the new refresh_token`,
      }),
    ]);
    expect(await postfixDelivered(rcpt, 300)).toEqual([]);
  });

  it("Microsoft's refusal is named by its AADSTS code, without the trace and correlation ids", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    await oauthRelay(domain, user, microsoft(oauth.microsoft));
    await control("POST", "/oauth/revoke", { refresh_token: oauth.microsoft.refresh_token });
    const { message } = await sendOne(domain, "revoked");
    expect(message.status).toBe("queued");
    const error: string = message.attempts[0].error;
    expect(error).toMatch(
      /^no OAuth access token to log in as .+: OAuth: Microsoft refused the refresh token \(invalid_grant: AADSTS70000: The provided value for the 'refresh_token' is not valid\. .*\); it was revoked or expired/,
    );
    expect(error).not.toMatch(/Trace ID|Correlation ID/);
    const [request] = await tokenRequests(oauth.microsoft.refresh_token);
    expect(request).toMatchObject({ tenant: "common", status: 400, answer: { error: "invalid_grant", error_codes: [70000] } });
  });

  it("a client the provider does not know, or a wrong secret, says to check the client", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    await oauthRelay(domain, user, { ...google(oauth.google), client_secret: "GOCSPX-wrong" });
    const { message } = await sendOne(domain, "wrong secret");
    expect(message.attempts[0].error).toBe(
      `no OAuth access token to log in as ${user}: OAuth: Google refused the client (invalid_client: Unauthorized): check client_id, client_secret and the app's permissions`,
    );

    await oauthRelay(domain, user, { ...microsoft(oauth.microsoft), client_id: "00000000-0000-0000-0000-000000000000" });
    const other = await sendOne(domain, "unknown client");
    expect(other.message.attempts[0].error).toMatch(/OAuth: Microsoft refused the client \(unauthorized_client: AADSTS700016: Application with identifier '00000000-/);
  });

  it("the token endpoint down is temporary: the message waits, and the retry sends it", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    await oauthRelay(domain, user, google(oauth.google));
    await control("POST", "/oauth/fail", { status: 503, body: { error: "temporarily_unavailable" }, refresh_token: oauth.google.refresh_token });
    const rcpt = `${unique("down")}@example.org`;
    const { answer, message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "outage", text: "x" }, undefined, via);
    expect(message.status).toBe("queued");
    expect(message.attempts[0]).toMatchObject({
      result: "relay_error",
      error: `no OAuth access token to log in as ${user}: OAuth: Google's token endpoint failed (temporarily_unavailable)`,
    });

    await runJobs("send", [answer.id], { attempts: 2, ...via });
    expect((await ok("GET", `/v1/messages/${answer.id}`)).status).toBe("sent");
    expect(await postfixDelivered(rcpt)).toHaveLength(1);
  });

  it("a token for another account is refused with the server's answer, and a fresh token is not asked for twice", async () => {
    const domain = await setupDomain();
    const { oauth } = await newUser();
    const other = await newUser();
    await oauthRelay(domain, other.user, google(oauth.google));
    const { message } = await sendOne(domain, "wrong account");
    expect(message.status).toBe("queued");
    expect(message.attempts[0].error).toBe(
      `XOAUTH2 authentication as ${other.user} failed: 535 5.7.8 Error: authentication failed: (reason unavailable) ({"status":"401","schemes":"bearer","scope":"mail"})`,
    );
    expect(await tokenRequests(oauth.google.refresh_token)).toHaveLength(1);
  });

  it("a server without XOAUTH2 is named, and no token is asked for", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    await onlyRelays([smtpRelay("postfix:starttls", { from_filter: domain }, { username: user, oauth: google(oauth.google) })]);
    const { message } = await sendOne(domain, "no auth offered");
    expect(message.attempts[0].error).toMatch(/^the SMTP server does not offer AUTH XOAUTH2, which OAuth needs/);
    expect(await tokenRequests(oauth.google.refresh_token)).toEqual([]);
  });
});

describe("OAuth settings through the relays API", () => {
  it("are write-only: sealed, shown only as set, never in any answer, even after sending", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    const created = await oauthRelay(domain, user, google(oauth.google));
    expect(created.secrets_set).toEqual(["oauth"]);
    expect(created.config).toEqual(expect.not.objectContaining({ oauth: expect.anything() }));
    const { answer } = await sendAndDeliver({ from: `mary@${domain}`, to: [`${unique("w")}@example.org`], subject: "secret", text: "x" }, undefined, via);
    const [request] = await tokenRequests(oauth.google.refresh_token);
    const accessToken: string = request!.answer.access_token;

    const patched = await ok("PATCH", `/v1/relays/${created.id}`, { name: "renamed", config: { timeout_ms: 20_000 } });
    expect(patched.secrets_set).toEqual(["oauth"]);
    const answers = [created, patched, await ok("GET", `/v1/relays/${created.id}`), await ok("GET", "/v1/relays"), await ok("GET", `/v1/messages/${answer.id}`)];
    for (const body of answers) {
      const text = JSON.stringify(body);
      for (const secret of [oauth.google.client_secret, oauth.google.refresh_token, accessToken]) expect(text).not.toContain(secret);
    }
  });

  it("are checked: a username to log in as, OAuth or a password but not both, a known provider; moving the relay wants them again", async () => {
    const domain = await setupDomain();
    const { user, oauth } = await newUser();
    const refused = async (config: Record<string, unknown>) => {
      const response = await api("POST", "/v1/relays", smtpRelay("postfix:oauth", { from_filter: domain }, config));
      expect(response.status).toBe(400);
      return response.body.error.message as string;
    };
    expect(await refused({ oauth: google(oauth.google) })).toContain("config.username: required with config.oauth");
    expect(await refused({ username: user, password: "x", oauth: google(oauth.google) })).toContain("config.oauth: a relay logs in with a password or OAuth, not both");
    expect(await refused({ username: user, oauth: { ...google(oauth.google), provider: "yahoo" } })).toContain("config.oauth.provider");
    expect(await refused({ username: user, oauth: { provider: "google", client_id: "x" } })).toContain("config.oauth.client_secret");
    expect(await refused({ username: user, oauth: { ...microsoft(oauth.microsoft), tenant: "a/b" } })).toContain("config.oauth.tenant");

    const relay = await ok("POST", "/v1/relays", smtpRelay("postfix:oauth", { from_filter: domain }, { username: user, oauth: google(oauth.google) }), 201);
    const moved = await api("PATCH", `/v1/relays/${relay.id}`, { config: { host: "localhost" } });
    expect(moved.status).toBe(400);
    expect(moved.body.error.message).toContain("config.oauth: required again when config.host changes");
    // Switching to a password drops the OAuth settings.
    const switched = await ok("PATCH", `/v1/relays/${relay.id}`, { config: { oauth: null, password: "secret" } });
    expect(switched.secrets_set).toEqual(["password"]);
  });
});

describe("XOAUTH2 and token endpoints (src/oauth.ts)", () => {
  it("builds the initial response of Google's documented example", () => {
    // https://developers.google.com/workspace/gmail/imap/xoauth2-protocol
    expect(xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")).toBe(
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==",
    );
  });

  it("sends Google's refreshes to Google and Microsoft's to the tenant's endpoint (common when none is set)", () => {
    const base = { client_id: "c", client_secret: "s", refresh_token: "r" };
    expect(tokenEndpoint({}, { ...base, provider: "google" })).toBe("https://oauth2.googleapis.com/token");
    expect(tokenEndpoint({}, { ...base, provider: "microsoft" })).toBe("https://login.microsoftonline.com/common/oauth2/v2.0/token");
    expect(tokenEndpoint({}, { ...base, provider: "microsoft", tenant: "contoso.onmicrosoft.com" })).toBe(
      "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
    );
    expect(tokenEndpoint({ OAUTH_MICROSOFT_TOKEN_URL: "http://127.0.0.1:1/ms/{tenant}/token" }, { ...base, provider: "microsoft", tenant: "t1" })).toBe(
      "http://127.0.0.1:1/ms/t1/token",
    );
  });
});
