/**
 * "Test connection" and "send a test message" for relays (issue 12):
 * POST /v1/relays/{id}/test against the real Postfix (plaintext, STARTTLS,
 * implicit TLS, AUTH through the real Dovecot, an untrusted certificate),
 * npm smtp-server (a wrong password), each fake provider's documented
 * read-only request (test/node/mail-servers.ts) and the OAuth provider
 * (test/node/dovecot.ts); POST /v1/relays/{id}/test-message through Postfix
 * (delivered) and a provider, and its refusals.
 */
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import { ADMIN_TOKEN, api, headerValues, messagesFor, ok, postfixDelivered, queueSpy, setupDomain, smtpReceived, smtpRelay, unique } from "./helpers";

const mail = inject("mail");
const { credentials } = mail;
const dovecot = inject("dovecot");

/** Keys the fakes know with fewer rights (test/node/mail-servers.ts LIMITED_CREDENTIALS). */
const LIMITED = { resendSendingOnly: "re_sending_only_key", sesSendOnlyKeyId: "AKIDSENDONLYMAILGATE", sendgridNoMailSend: "SG.stats-read-only" };

const PROVIDERS: Record<string, Record<string, unknown>> = {
  postmark: { server_token: credentials.postmark },
  resend: { api_key: credentials.resend },
  ses: { region: credentials.ses.region, access_key_id: credentials.ses.accessKeyId, secret_access_key: credentials.ses.secretAccessKey },
  mailgun: { domain: credentials.mailgun.domain, api_key: credentials.mailgun.apiKey },
  sendgrid: { api_key: credentials.sendgrid },
};

/** A relay, created (disabled unless asked: testing needs no enabled relay, and other tests' relay choice stays untouched). */
async function createRelay(spec: Record<string, any>): Promise<any> {
  return ok("POST", "/v1/relays", { enabled: false, ...spec }, 201);
}

function providerSpec(type: string, config: Record<string, unknown> = {}, fields: Record<string, unknown> = {}) {
  return { name: `${type} ${unique()}`, type, config: { ...PROVIDERS[type], base_url: `${mail.control}/${type}`, ...config }, ...fields };
}

async function testRelay(id: string, via: { env?: Env } = {}): Promise<any> {
  const response = await api("POST", `/v1/relays/${id}/test`, undefined, ADMIN_TOKEN, {}, via);
  expect(response.status).toBe(200);
  return response.body;
}

async function testMessage(id: string, to: unknown): Promise<{ status: number; body: any }> {
  return api("POST", `/v1/relays/${id}/test-message`, { to });
}

/** The provider requests a relay test made, newest last. */
async function probeRequests(provider: string, path: string): Promise<any[]> {
  return (await fetch(`${mail.control}/requests?provider=${provider}&path=${encodeURIComponent(path)}`)).json();
}

describe("POST /v1/relays/{id}/test: SMTP", () => {
  it("Postfix in plaintext: the greeting, the EHLO extensions and QUIT, in the server's words", async () => {
    const relay = await createRelay(smtpRelay("postfix:plain", { enabled: true }));
    const result = await testRelay(relay.id);
    expect(result.ok).toBe(true);
    const lines: string[] = result.answer.split("\n");
    expect(lines[0]).toMatch(/^connecting to 127\.0\.0\.1:\d+ \(plaintext\)$/);
    expect(lines[1]).toMatch(/^S: 220 .*ESMTP/);
    expect(lines.filter((l) => /^C: EHLO [a-z0-9.-]+$/.test(l))).toHaveLength(1);
    expect(lines).toContain("S: 250-PIPELINING");
    expect(lines.slice(-2)).toEqual(["C: QUIT", expect.stringMatching(/^S: 221 2\.0\.0 Bye/)]);
    expect(result.answer).not.toContain("disabled");
  });

  it("Postfix with STARTTLS, with implicit TLS", async () => {
    const starttls = await testRelay((await createRelay(smtpRelay("postfix:starttls"))).id);
    expect(starttls.ok).toBe(true);
    const lines: string[] = starttls.answer.split("\n");
    expect(lines.indexOf("C: STARTTLS")).toBeGreaterThan(0);
    expect(lines[lines.indexOf("C: STARTTLS") + 1]).toMatch(/^S: 220 2\.0\.0 Ready to start TLS/);
    expect(lines).toContain("TLS started");
    // EHLO again after TLS, as RFC 3207 asks.
    expect(lines.filter((l) => l.startsWith("C: EHLO"))).toHaveLength(2);

    const tls = await testRelay((await createRelay(smtpRelay("postfix:tls"))).id);
    expect(tls.ok).toBe(true);
    expect(tls.answer).toMatch(/^connecting to 127\.0\.0\.1:\d+ \(implicit TLS\)\nS: 220 /);
    expect(tls.answer).not.toContain("STARTTLS\nS: 220");
  });

  it("AUTH with a password, through Postfix and the real Dovecot: the AUTH reply shown, the credentials never", async () => {
    const [user, password] = Object.entries(dovecot.users)[0]!;
    const relay = await createRelay(smtpRelay("postfix:oauth", {}, { username: user, password }));
    const result = await testRelay(relay.id);
    expect(result.ok).toBe(true);
    expect(result.answer).toContain("C: AUTH PLAIN <credentials hidden>");
    expect(result.answer).toMatch(/\nS: 235 2\.7\.0 Authentication successful\n/);
    expect(result.answer).not.toContain(btoa(`\0${user}\0${password}`));
    // The relay is disabled, and the answer says what that means.
    expect(result.answer).toMatch(/\(This relay is disabled: mailgate sends nothing else through it until it is enabled\.\)$/);
  });

  it("a wrong password: the server's refusal, with the transcript until then, and no password anywhere", async () => {
    const password = `wrong-${unique()}`;
    const relay = await createRelay(smtpRelay("starttls", {}, { username: mail.smtpUser, password }));
    const result = await testRelay(relay.id);
    expect(result).toMatchObject({ ok: false, error: "authentication failed: 535 5.7.8 Authentication credentials invalid", code: "535" });
    expect(result.answer).toContain("C: AUTH PLAIN <credentials hidden>");
    expect(JSON.stringify(result)).not.toContain(password);
    expect(JSON.stringify(result)).not.toContain(btoa(`\0${mail.smtpUser}\0${password}`));
  });

  it("an untrusted certificate: a clear TLS error naming the cause", async () => {
    const relay = await createRelay(smtpRelay("postfix:untrusted"));
    const result = await testRelay(relay.id);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(
      /^TLS with 127\.0\.0\.1:\d+ \(STARTTLS\) failed: the server's certificate (chain ends at "CN=localhost", which is not a trusted root|is self-signed)/,
    );
    expect(result.code).toMatch(/^tls_(untrusted_issuer|self_signed)$/);
  });

  it("a server that never answers: the timeout", async () => {
    const relay = await createRelay(smtpRelay("silent", {}, { timeout_ms: 1000 }));
    expect(await testRelay(relay.id)).toMatchObject({ ok: false, error: "no reply from the SMTP server within 1000 ms", code: "timeout" });
  });
});

describe("POST /v1/relays/{id}/test: OAuth (XOAUTH2)", () => {
  const oauthEnv: Env = {
    ...queueSpy().env,
    OAUTH_GOOGLE_TOKEN_URL: `${dovecot.control}/oauth/google/token`,
    OAUTH_MICROSOFT_TOKEN_URL: `${dovecot.control}/oauth/microsoft/{tenant}/oauth2/v2.0/token`,
  };
  const control = async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(`${dovecot.control}${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body) }) });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const googleRelay = async (grant: { client_id: string; client_secret: string; refresh_token: string }, user: string) =>
    createRelay(
      smtpRelay(
        "postfix:oauth",
        {},
        { username: user, oauth: { provider: "google", client_id: grant.client_id, client_secret: grant.client_secret, refresh_token: grant.refresh_token } },
      ),
    );

  it("logs in with a token from the provider: the XOAUTH2 exchange shown, the token hidden", async () => {
    const { user, oauth } = await control("POST", "/users", { password: false });
    const relay = await googleRelay(oauth.google, user);
    const result = await testRelay(relay.id, { env: oauthEnv });
    expect(result.ok).toBe(true);
    expect(result.answer).toMatch(/\nC: AUTH XOAUTH2 <token hidden>\nS: 235 /);
    for (const secret of [oauth.google.client_secret, oauth.google.refresh_token]) expect(result.answer).not.toContain(secret);
  });

  it("a revoked refresh token shows clearly, as the provider's refusal", async () => {
    const { user, oauth } = await control("POST", "/users", { password: false });
    const relay = await googleRelay(oauth.google, user);
    await control("POST", "/oauth/revoke", { refresh_token: oauth.google.refresh_token });
    const result = await testRelay(relay.id, { env: oauthEnv });
    expect(result).toMatchObject({
      ok: false,
      code: "oauth_refused",
      error: `no OAuth access token to log in as ${user}: OAuth: Google refused the refresh token (invalid_grant: Token has been expired or revoked.); it was revoked or expired: authorize again and set the new refresh_token`,
    });
    expect(JSON.stringify(result)).not.toContain(oauth.google.refresh_token);
  });
});

describe("POST /v1/relays/{id}/test: HTTP providers and Cloudflare", () => {
  it("Postmark: GET /server with the server token; the server named, its API tokens never shown", async () => {
    const relay = await createRelay(providerSpec("postmark"));
    const result = await testRelay(relay.id);
    expect(result).toMatchObject({ ok: true, answer: expect.stringMatching(/^Postmark answered HTTP 200: the token is the server "mailgate test server" \(ID 4242\)/) });
    expect(result.answer).not.toContain(credentials.postmark);
    const [request] = (await probeRequests("postmark", "/server")).filter((r) => r.status === 200);
    expect(request).toMatchObject({ method: "GET", headers: { accept: "application/json", "x-postmark-server-token": credentials.postmark } });

    const wrong = await createRelay(providerSpec("postmark", { server_token: "not-the-token" }));
    expect(await testRelay(wrong.id)).toEqual({ ok: false, error: 'Postmark answered HTTP 401: {"ErrorCode":10,"Message":"Bad or missing Server API token."}', code: "401" });
  });

  it("Resend: GET /domains; a sending-only key passes, saying so; a wrong key fails in Resend's words", async () => {
    const good = await testRelay((await createRelay(providerSpec("resend"))).id);
    expect(good).toEqual({
      ok: true,
      answer: "Resend answered HTTP 200: domains example.com (verified)\n(This relay is disabled: mailgate sends nothing else through it until it is enabled.)",
    });
    const sendingOnly = await testRelay((await createRelay(providerSpec("resend", { api_key: LIMITED.resendSendingOnly }))).id);
    expect(sendingOnly).toMatchObject({
      ok: true,
      answer: expect.stringContaining('HTTP 401 restricted_api_key: "This API key is restricted to only send emails.": the key is valid'),
    });
    const wrong = await testRelay((await createRelay(providerSpec("resend", { api_key: "re_wrong" }))).id);
    expect(wrong).toMatchObject({ ok: false, code: "403", error: expect.stringContaining('"name":"invalid_api_key","message":"API key is invalid"') });
    const [request] = await probeRequests("resend", "/domains");
    expect(request).toMatchObject({ method: "GET", headers: { authorization: `Bearer ${credentials.resend}` } });
  });

  it("Amazon SES: GetAccount signed with SigV4 (the fake checks the signature); a key allowed only to send passes; a wrong key fails", async () => {
    const good = await testRelay((await createRelay(providerSpec("ses"))).id);
    expect(good.ok).toBe(true);
    expect(good.answer).toMatch(/^Amazon SES answered HTTP 200: sending enabled in eu-west-1, production access; sent 12 of 50000 in the last 24 hours, at most 14 a second/);
    const sendOnly = await testRelay((await createRelay(providerSpec("ses", { access_key_id: LIMITED.sesSendOnlyKeyId }))).id);
    expect(sendOnly).toMatchObject({ ok: true, answer: expect.stringContaining("HTTP 403 AccessDeniedException: AWS accepted the keys") });
    const wrongSecret = await testRelay((await createRelay(providerSpec("ses", { secret_access_key: "not-the-secret-key" }))).id);
    expect(wrongSecret).toEqual({
      ok: false,
      code: "403",
      error: "Amazon SES answered HTTP 403: SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.",
    });
    const wrongKey = await testRelay((await createRelay(providerSpec("ses", { access_key_id: "AKIDUNKNOWNEXAMPLE" }))).id);
    expect(wrongKey.error).toContain("UnrecognizedClientException: The security token included in the request is invalid.");
  });

  it("Mailgun: GET /v4/domains/{domain}; a wrong key and an unknown domain in Mailgun's words", async () => {
    const good = await testRelay((await createRelay(providerSpec("mailgun"))).id);
    expect(good.answer).toMatch(/^Mailgun answered HTTP 200: the domain mg\.example\.com is active/);
    const wrong = await testRelay((await createRelay(providerSpec("mailgun", { api_key: "key-wrong" }))).id);
    expect(wrong).toMatchObject({ ok: false, code: "401", error: expect.stringMatching(/^Mailgun answered HTTP 401: \{"message":"Invalid private key"\} \(a wrong API key/) });
    const unknown = await testRelay((await createRelay(providerSpec("mailgun", { domain: "other.example.com" }))).id);
    expect(unknown).toEqual({ ok: false, code: "404", error: 'Mailgun answered HTTP 404: {"message":"Domain not found"}' });
    const [request] = await probeRequests("mailgun", `/v4/domains/${credentials.mailgun.domain}`);
    expect(request.headers.authorization).toBe(`Basic ${btoa(`api:${credentials.mailgun.apiKey}`)}`);
  });

  it("SendGrid: GET /v3/scopes; passes with mail.send, fails without it or with a wrong key", async () => {
    const good = await testRelay((await createRelay(providerSpec("sendgrid"))).id);
    expect(good.answer).toMatch(/^SendGrid answered HTTP 200: the key has the mail\.send scope \(5 scopes in all\)/);
    const noSend = await testRelay((await createRelay(providerSpec("sendgrid", { api_key: LIMITED.sendgridNoMailSend }))).id);
    expect(noSend).toMatchObject({ ok: false, code: "scope", error: expect.stringContaining("lacks the mail.send scope sending needs (it has stats.read, user.profile.read)") });
    const wrong = await testRelay((await createRelay(providerSpec("sendgrid", { api_key: "SG.wrong" }))).id);
    expect(wrong).toEqual({ ok: false, code: "401", error: 'SendGrid answered HTTP 401: {"errors":[{"field":null,"message":"authorization required"}]}' });
  });

  it("a provider that does not answer: the network error", async () => {
    const relay = await createRelay(providerSpec("postmark", { base_url: "http://127.0.0.1:9/postmark" }));
    expect(await testRelay(relay.id)).toMatchObject({ ok: false, code: "network", error: expect.stringMatching(/^Postmark did not answer: /) });
  });

  it("Cloudflare: nothing to connect to; the binding is there, and sending is checked only by sending", async () => {
    const relay = await createRelay({ name: `cf ${unique()}`, type: "cloudflare" });
    const result = await testRelay(relay.id);
    expect(result).toMatchObject({ ok: true, answer: expect.stringContaining("checked only by sending") });
  });

  it("both endpoints are in the OpenAPI document", async () => {
    const doc = await api("GET", "/v1/openapi.json", undefined, null);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(["/v1/relays/{id}/test", "/v1/relays/{id}/test-message"]));
    expect(doc.body.components.schemas).toHaveProperty("RelayTest");
    expect(doc.body.components.schemas).toHaveProperty("RelayTestMessage");
  });

  it("an unknown relay is 404; an API key may not test", async () => {
    expect(await api("POST", "/v1/relays/rly_nope/test")).toMatchObject({ status: 404, body: { error: { message: "relay rly_nope not found" } } });
    expect(await api("POST", "/v1/relays/rly_nope/test-message", { to: "a@example.org" })).toMatchObject({ status: 404 });
    const { key } = await ok("POST", "/v1/keys", { name: unique("key") }, 201);
    const relay = await createRelay(smtpRelay("postfix:plain"));
    expect((await api("POST", `/v1/relays/${relay.id}/test`, undefined, key)).status).toBe(403);
    expect((await api("POST", `/v1/relays/${relay.id}/test-message`, { to: "a@example.org" }, key)).status).toBe(403);
  });
});

describe("POST /v1/relays/{id}/test-message", () => {
  it("through Postfix: the reply to the end of DATA, the message delivered, from the domain's notifications address, and nothing stored", async () => {
    const domain = await setupDomain();
    const relay = await createRelay(smtpRelay("postfix:plain", { from_filter: domain }));
    const rcpt = `${unique("test")}@example.org`;
    const { status, body } = await testMessage(relay.id, rcpt);
    expect(status).toBe(200);
    expect(body).toMatchObject({ ok: true, answer: expect.stringMatching(/^250 2\.0\.0 Ok: queued as \w+$/m), from: `"mailgate" <notifications@${domain}>` });
    expect(body.message_id).toMatch(new RegExp(`^<test\\.[0-9a-f]{20}@${domain.replace(/\./g, "\\.")}>$`));
    expect(body.answer).toContain("(This relay is disabled");

    const [copy] = await postfixDelivered(rcpt);
    expect(headerValues(copy, "Message-ID")).toEqual([body.message_id]);
    expect(headerValues(copy, "From")).toEqual([`"mailgate" <notifications@${domain}>`]);
    expect(headerValues(copy, "Auto-Submitted")).toEqual(["auto-generated"]);
    // The envelope is the From: no VERP address names a message that is not stored.
    expect(headerValues(copy, "Return-Path")).toEqual([`<notifications@${domain}>`]);
    expect(headerValues(copy, "Subject")[0]).toContain(relay.name);
    expect(await messagesFor(body.message_id)).toEqual([]);
  });

  it("through a provider: its status and message id; from the relay's fixed sender", async () => {
    const fixed = `account.${unique()}@provider.example`;
    const relay = await createRelay(providerSpec("postmark", { fixed_sender: fixed }, { from_filter: "elsewhere.example" }));
    const rcpt = `${unique("pm")}@example.org`;
    const { body } = await testMessage(relay.id, `Rick Receiver <${rcpt}>`);
    expect(body).toMatchObject({ ok: true, from: `"mailgate" <${fixed}>`, answer: expect.stringMatching(/^accepted \(HTTP 200\), message id [0-9a-f-]{36}/) });
    expect(body.answer).toContain(body.provider_message_id);
    const [request] = (await (await fetch(`${mail.control}/requests?provider=postmark&contains=${encodeURIComponent(rcpt)}`)).json()) as any[];
    expect(request.body).toMatchObject({ From: `"mailgate" <${fixed}>`, To: `"Rick Receiver" <${rcpt}>` });
    expect(request.body.ReplyTo).toBeUndefined();
  });

  it("a recipient the server refuses, and a relay that refuses the login: ok false, in the server's words", async () => {
    const domain = await setupDomain();
    const login = { username: mail.smtpUser, password: mail.smtpPassword };
    const relay = await createRelay(smtpRelay("plain", { from_filter: domain }, login));
    const refused = await testMessage(relay.id, `reject${unique()}@example.org`);
    expect(refused.body).toMatchObject({ ok: false, code: "550", error: expect.stringMatching(/^the relay refused reject.*@example\.org: 550 5\.1\.1 Mailbox does not exist$/) });

    const badLogin = await createRelay(smtpRelay("starttls", { from_filter: domain }, { ...login, password: "wrong-password" }));
    const rcpt = `${unique("never")}@example.org`;
    const failed = await testMessage(badLogin.id, rcpt);
    expect(failed.body).toMatchObject({ ok: false, code: "535", error: "authentication failed: 535 5.7.8 Authentication credentials invalid" });
    expect(await smtpReceived(rcpt)).toEqual([]);
  });

  it("refuses a suppressed address (422, naming the suppression), an invalid `to` (400), and a relay with no From that fits (422)", async () => {
    const domain = await setupDomain();
    const relay = await createRelay(smtpRelay("postfix:plain", { from_filter: domain }));
    const gone = `${unique("gone")}@example.org`;
    await ok("POST", "/v1/contacts", { email: gone }, 201);
    await ok("PATCH", `/v1/contacts/${gone}`, { suppressed: true });
    const suppressed = await testMessage(relay.id, gone.toUpperCase());
    expect(suppressed).toMatchObject({
      status: 422,
      body: { error: { code: "unprocessable", message: expect.stringMatching(new RegExp(`^to: ${gone} is suppressed for every stream \\(manual since `)) } },
    });
    expect(await postfixDelivered(gone, 200)).toEqual([]);

    for (const to of ["not an address", "two@example.org, three@example.org", ""]) {
      const invalid = await testMessage(relay.id, to);
      expect(invalid).toMatchObject({ status: 400, body: { error: { code: "invalid_request", message: expect.stringMatching(/^invalid body: to: /) } } });
    }
    expect((await api("POST", `/v1/relays/${relay.id}/test-message`, {})).status).toBe(400);

    const nowhere = `${unique("nowhere")}.example`;
    const unfit = await createRelay(smtpRelay("postfix:plain", { from_filter: nowhere }));
    const noFrom = await testMessage(unfit.id, `${unique("x")}@example.org`);
    expect(noFrom).toMatchObject({
      status: 422,
      body: {
        error: { message: expect.stringContaining(`no From fits: relay "${unfit.name}" may send as no address mailgate sends as: its from_filter (${nowhere}) allows none`) },
      },
    });
  });

  it("an address in the relay's from_filter is a From it may send as (Odoo's test address)", async () => {
    const sender = `sales.${unique()}@shop-${unique()}.example`;
    const relay = await createRelay(smtpRelay("postfix:plain", { from_filter: sender }));
    const rcpt = `${unique("filter")}@example.org`;
    const { body } = await testMessage(relay.id, rcpt);
    expect(body).toMatchObject({ ok: true, from: `"mailgate" <${sender}>` });
    const [copy] = await postfixDelivered(rcpt);
    expect(headerValues(copy, "Return-Path")).toEqual([`<${sender}>`]);
  });
});
