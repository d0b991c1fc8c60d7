/**
 * Security (issue 7, items 5-9): API keys stay inside their own threads,
 * relay credentials never follow a relay to a new destination, lists never
 * carry secrets, reserved headers are refused as documented, and signed
 * links name one thing, spelled one way, served inert.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { signedUrl } from "../src/deliveries/signed-url";
import { api, createAlias, deliver, findMessage, messageIdOf, mime, ok, onlyRelays, send, setupDomain, smtpOutcome, unique } from "./helpers";

const mail = inject("mail");

describe("API keys stay inside their own threads (item 5)", () => {
  it("a key may continue a thread it sent into; any other thread is 404, exactly like one that does not exist", async () => {
    const domain = await setupDomain();
    await onlyRelays([{ name: "cloudflare", type: "cloudflare", from_filter: domain }]);
    const mine = await ok("POST", "/v1/keys", { name: "mine" }, 201);
    const theirs = await ok("POST", "/v1/keys", { name: "theirs" }, 201);
    const base = { from: `shop@${domain}`, to: ["customer@example.org"], subject: "Order", text: "Hi" };

    const first = await api("POST", "/v1/messages", base, mine.key);
    expect(first.status).toBe(202);
    expect((await api("POST", "/v1/messages", { ...base, thread_id: first.body.thread_id }, mine.key)).status).toBe(202);

    // Someone else's conversation: another key's, and mail that came in to an alias.
    const other = await api("POST", "/v1/messages", base, theirs.key);
    await createAlias({ name: "support", domain });
    const inbound = mime({ From: "client@example.org", To: `support@${domain}`, Subject: "Private matter" });
    expect(smtpOutcome(await deliver({ to: `support@${domain}`, raw: inbound }))).toBe("accepted");
    const inboundThread = (await findMessage(messageIdOf(inbound))).thread_id;

    const answers = [];
    for (const threadId of [other.body.thread_id, inboundThread, "thr_00000000000000000000000000"]) {
      const refused = await api("POST", "/v1/messages", { ...base, thread_id: threadId }, mine.key);
      expect(refused.status).toBe(404);
      answers.push(refused.body.error.message.replace(threadId, "<id>"));
    }
    // The same answer whether the thread exists or not: the id is not confirmed.
    expect(new Set(answers).size).toBe(1);
    // Nothing was written into those threads, no follower added.
    expect((await ok("GET", `/v1/threads/${inboundThread}`)).followers.map((f: any) => f.email)).not.toContain("customer@example.org");
    // The admin token is unchanged: any thread, and 422 for one that does not exist.
    expect((await api("POST", "/v1/messages", { ...base, thread_id: inboundThread })).status).toBe(202);
    expect((await api("POST", "/v1/messages", { ...base, thread_id: "thr_00000000000000000000000000" })).status).toBe(422);
  });
});

describe("relay credentials are write-only (item 6)", () => {
  const smtp = { host: "127.0.0.1", port: 2525, security: "none", username: "user", password: "s3cret-password", timeout_ms: 20_000 };

  it("changing where a relay connects needs the credentials again; other changes merge into the settings", async () => {
    const relay = await ok("POST", "/v1/relays", { name: unique("smtp"), type: "smtp", config: smtp }, 201);
    expect(relay.secrets_set).toEqual(["password"]);
    for (const moved of [{ host: "mail.elsewhere.example" }, { port: 2526 }, { security: "starttls" }]) {
      const refused = await api("PATCH", `/v1/relays/${relay.id}`, { config: moved });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/config\.password: required again when config\.(host|port|security) changes/);
    }
    // Nothing changed.
    expect((await ok("GET", `/v1/relays/${relay.id}`)).config).toMatchObject({ host: "127.0.0.1", port: 2525 });

    // Given again with the move: accepted.
    const moved = await ok("PATCH", `/v1/relays/${relay.id}`, { config: { host: "mail.elsewhere.example", password: "another-password" } });
    expect(moved.config).toMatchObject({ host: "mail.elsewhere.example", port: 2525, security: "none", username: "user", timeout_ms: 20_000 });
    expect(moved.secrets_set).toEqual(["password"]);

    // Only the password: no need to repeat the rest. Only a setting: the password stays.
    const rotated = await ok("PATCH", `/v1/relays/${relay.id}`, { config: { password: "third-password" } });
    expect(rotated.config).toEqual(moved.config);
    const tuned = await ok("PATCH", `/v1/relays/${relay.id}`, { config: { timeout_ms: 5_000, helo: "mx.example.com" } });
    expect(tuned.config).toMatchObject({ host: "mail.elsewhere.example", timeout_ms: 5_000, helo: "mx.example.com" });
    expect(tuned.secrets_set).toEqual(["password"]);
    // null removes a setting (RFC 7396).
    expect((await ok("PATCH", `/v1/relays/${relay.id}`, { config: { helo: null } })).config.helo).toBeUndefined();
    expect(JSON.stringify(await ok("GET", "/v1/relays"))).not.toContain('password":');
  });

  it("a provider's base URL gets the webhook rules: https and no private or internal host, unless ALLOW_PRIVATE_WEBHOOKS is set", async () => {
    const production = { ...env, ALLOW_PRIVATE_WEBHOOKS: undefined };
    const create = (base_url: string) =>
      api("POST", "/v1/relays", { name: unique("pm"), type: "postmark", config: { server_token: "pm-token", base_url } }, undefined, {}, { env: production });
    for (const [url, reason] of [
      ["http://api.postmarkapp.com", /must be https/],
      ["https://127.0.0.1:8443", /private, loopback/],
      ["https://169.254.169.254", /private, loopback/],
      ["https://metadata.internal", /private, loopback/],
      ["https://[::1]", /private, loopback/],
    ] as const) {
      const response = await create(url);
      expect(response.status).toBe(400);
      expect(response.body.error.message).toMatch(/config\.base_url: the URL /);
      expect(response.body.error.message).toMatch(reason);
    }
    const allowed = await create("https://api.postmarkapp.com");
    expect(allowed.status).toBe(201);
    // Moving it needs the token again, and the new URL is checked too.
    const patch = (config: Record<string, unknown>) => api("PATCH", `/v1/relays/${allowed.body.id}`, { config }, undefined, {}, { env: production });
    expect((await patch({ base_url: "https://collector.example" })).body.error.message).toMatch(/config\.server_token: required again when config\.base_url changes/);
    expect((await patch({ base_url: "https://10.1.2.3", server_token: "pm-token" })).status).toBe(400);
    expect((await patch({ base_url: "https://collector.example", server_token: "pm-token" })).status).toBe(200);
  });
});

describe("lists never carry secrets (item 7)", () => {
  it("GET /v1/aliases shows no webhook secret, for any position in the page", async () => {
    const domain = await setupDomain();
    const made = [];
    for (let i = 0; i < 4; i++) made.push(await createAlias({ name: `hook${i}`, domain, destinations: [{ type: "webhook", url: `${mail.control}/hooks/${unique("list")}` }] }));
    // The secret is in the creating answer only.
    expect(made.every((a) => typeof a.webhook_secret === "string")).toBe(true);
    const listed = await ok("GET", `/v1/aliases?domain=${domain}&limit=10`);
    expect(listed.items).toHaveLength(4);
    for (const item of listed.items) {
      expect(item).not.toHaveProperty("webhook_secret");
      expect(item.webhook_secret_set).toBe(true);
    }
    const text = JSON.stringify(listed);
    for (const alias of made) expect(text).not.toContain(alias.webhook_secret);
  });
});

describe("reserved headers (item 8)", () => {
  const refused = [
    "Content-Type",
    "Content-Language",
    "Content-Foo",
    "Authentication-Results",
    "Return-Path",
    "Received",
    "X-Mailgate-Message-Id",
    "X-Mailgate-Trace",
    "DKIM-Signature",
    "MIME-Version",
    "Sender",
  ];
  it("refuses every Content-*, Authentication-Results, Return-Path, Received and X-Mailgate-* header, naming it", async () => {
    const domain = await setupDomain();
    await onlyRelays([{ name: "cloudflare", type: "cloudflare" }]);
    for (const name of refused) {
      const response = await api("POST", "/v1/messages", { from: `a@${domain}`, to: ["b@example.org"], subject: "x", text: "x", headers: { [name]: "value" } });
      expect({ name, status: response.status }).toEqual({ name, status: 400 });
      expect(response.body.error.message).toContain(`headers.${name}: `);
    }
  });

  it("allows Auto-Submitted (RFC 3834 asks automatic mail to say so), and sends it", async () => {
    const domain = await setupDomain();
    await onlyRelays([{ name: "cloudflare", type: "cloudflare" }]);
    const sent = await send({ from: `a@${domain}`, to: ["b@example.org"], subject: "x", text: "x", headers: { "Auto-Submitted": "auto-generated", "X-Campaign": "c1" } });
    const raw = (await api("GET", `/v1/messages/${sent.id}/raw`)).body as string;
    expect(raw).toMatch(/^Auto-Submitted: auto-generated\r$/m);
  });
});

describe("signed links are canonical and inert (item 9)", () => {
  async function storedWithAttachments() {
    const domain = await setupDomain();
    await createAlias({ name: "files", domain });
    const boundary = "b1";
    const body = [
      `--${boundary}`,
      "Content-Type: text/plain",
      "",
      "see attached",
      `--${boundary}`,
      "Content-Type: text/html; name=page.html",
      "Content-Disposition: attachment; filename=page.html",
      "",
      "<script>alert(document.cookie)</script>",
      `--${boundary}`,
      "Content-Type: application/pdf",
      "Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9%20%E2%80%94%20%22final%22.pdf",
      "Content-Transfer-Encoding: base64",
      "",
      btoa("%PDF-1.4"),
      `--${boundary}--`,
      "",
    ].join("\r\n");
    const raw = mime({ From: "a@example.org", To: `files@${domain}`, "Content-Type": `multipart/mixed; boundary=${boundary}` }, body);
    expect(smtpOutcome(await deliver({ to: `files@${domain}`, raw }))).toBe("accepted");
    return (await findMessage(messageIdOf(raw))).id as string;
  }
  const link = (path: string, expires = Math.floor(Date.now() / 1000) + 3600) => signedUrl("https://mailgate.test", env.SECRETS_KEY, path, expires);
  const asciiOnly = (headers: Headers) => [...headers].every(([, value]) => /^[\x20-\x7e]*$/.test(value));

  it("serves what was signed with nosniff, an RFC 6266 filename* and active content as plain bytes", async () => {
    const id = await storedWithAttachments();
    const html = await api("GET", await link(`/files/${id}/attachments/0`), undefined, null);
    expect(html.status).toBe(200);
    expect(html.headers.get("content-type")).toBe("application/octet-stream");
    expect(html.headers.get("x-content-type-options")).toBe("nosniff");
    expect(html.headers.get("content-disposition")).toBe(`attachment; filename="page.html"; filename*=UTF-8''page.html`);

    const pdf = await api("GET", await link(`/files/${id}/attachments/1`), undefined, null);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get("content-type")).toBe("application/pdf");
    expect(pdf.headers.get("content-disposition")).toBe(`attachment; filename="R_sum_ _ _final_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%94%20%22final%22.pdf`);
    expect(asciiOnly(pdf.headers)).toBe(true);

    const raw = await api("GET", await link(`/files/${id}/raw`), undefined, null);
    expect(raw.status).toBe(200);
    expect(raw.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await api("GET", `/v1/messages/${id}/raw`)).headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("accepts only the exact form it wrote: no other spelling of the part, the expiry or the signature", async () => {
    const id = await storedWithAttachments();
    const good = new URL(await link(`/files/${id}/attachments/1`));
    const expires = good.searchParams.get("expires")!;
    const signature = good.searchParams.get("signature")!;
    expect((await api("GET", good.href, undefined, null)).status).toBe(200);
    const variants = [
      ...["0x1", "+1", "01", "1.0", "1e0", " 1"].map((index) => `/files/${id}/attachments/${encodeURIComponent(index)}?expires=${expires}&signature=${signature}`),
      ...[`0x${Number(expires).toString(16)}`, `+${expires}`, `0${expires}`, `${expires}.0`, `${expires}e0`].map(
        (e) => `/files/${id}/attachments/1?expires=${encodeURIComponent(e)}&signature=${signature}`,
      ),
      `/files/${id}/attachments/1?expires=${expires}&signature=${signature.toUpperCase()}`,
      `/files/${id}/attachments/1?expires=${expires}&signature=${signature}0`,
    ];
    for (const path of variants) {
      const response = await api("GET", path, undefined, null);
      expect({ path, ok: response.status === 200 }).toEqual({ path, ok: false });
    }
    // -0 never names attachment 0.
    const zero = new URL(await link(`/files/${id}/attachments/0`));
    expect((await api("GET", `/files/${id}/attachments/-0${zero.search}`, undefined, null)).status).not.toBe(200);
  });
});

describe("webhook URLs and provider URLs share one SSRF rule", () => {
  it("the test environment allows loopback (ALLOW_PRIVATE_WEBHOOKS), which is how the fake providers are reached", () => {
    expect(env.ALLOW_PRIVATE_WEBHOOKS).toBe("true");
    expect(mail.control).toMatch(/^http:\/\/127\.0\.0\.1:/);
  });
});
