/**
 * Webhook destinations against a local receiver (test/node/mail-servers.ts)
 * that verifies each signature the way the README tells receivers to, fails
 * the first attempts when told to, and records every payload.
 */
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import { api, clockedWorker, createAlias, deliver, findMessage, messageIdOf, mime, ok, queueSpy, runJobs, runScheduled, setupDomain, unique } from "./helpers";

const mail = inject("mail");

/** A receiver on loopback that knows these secrets; returns its URL. */
async function receiver(secrets: string[], options: { fail?: number; failStatus?: number } = {}, name = unique("hook")): Promise<string> {
  const url = `${mail.control}/hooks/${name}`;
  await fetch(url, { method: "PUT", body: JSON.stringify({ secrets, fail: options.fail ?? 0, failStatus: options.failStatus ?? 500 }) });
  return url;
}

async function configure(url: string, secrets: string[], options: { fail?: number; failStatus?: number } = {}) {
  await fetch(url, { method: "PUT", body: JSON.stringify({ secrets, fail: options.fail ?? 0, failStatus: options.failStatus ?? 500 }) });
}

async function received(url: string): Promise<any[]> {
  return (await fetch(url)).json();
}

/** An alias posting to a fresh receiver; the receiver learns the secret the API made. */
async function webhookAlias(options: { fail?: number; failStatus?: number; inline?: number } = {}) {
  const domain = await setupDomain();
  const url = await receiver([]);
  const alias = await createAlias({
    name: "hooks",
    domain,
    destinations: [{ type: "webhook", url, ...(options.inline !== undefined && { inline_max_bytes: options.inline }) }],
  });
  expect(alias.webhook_secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
  await configure(url, [alias.webhook_secret], options);
  return { domain, url, alias, address: `hooks@${domain}` };
}

const pendingWebhooks = async (messageId: string, rcpt: string) => (await findMessage(messageId, rcpt)).deliveries.filter((d: any) => d.type === "webhook");

/** Runs the pending webhook deliveries of a message on `at`'s Worker when they are due: its clock moves on to the latest retry time. */
async function runWebhooks(messageId: string, rcpt: string, at = clockedWorker(), bindings: Env = env) {
  const pending = (await pendingWebhooks(messageId, rcpt)).filter((d: any) => d.status === "pending");
  const due = Math.max(...pending.map((d: any) => (d.next_attempt_at ? Date.parse(d.next_attempt_at) : 0)));
  if (due > at.clock.now()) at.clock.advance(due - at.clock.now());
  return runJobs(
    "deliver",
    pending.map((d: any) => d.id),
    { worker: at.worker, env: bindings },
  );
}

function multipart(headers: Record<string, string>, parts: string[]): string {
  const boundary = `b-${unique()}`;
  return mime(
    { ...headers, "MIME-Version": "1.0", "Content-Type": `multipart/mixed; boundary="${boundary}"` },
    `${parts.map((p) => `--${boundary}\r\n${p}\r\n`).join("")}--${boundary}--\r\n`,
  );
}

describe("webhook destinations", () => {
  it("posts a signed payload with everything a receiver needs, and links that work until they expire", async () => {
    const { alias, address, url } = await webhookAlias({ inline: 100 });
    const small = "small attachment";
    const big = "x".repeat(500);
    const raw = multipart({ From: '"Mary Major" <mary@example.org>', To: `"Hooks" <${address}>`, Cc: '"Ann Other" <ann@example.org>', Subject: "=?UTF-8?Q?R=C3=A9union?= notes" }, [
      "Content-Type: text/plain; charset=utf-8\r\n\r\nThanks, that works for me.\r\n\r\nOn Fri, Nov 20, 2026 at 10:00 AM Bob <bob@example.org> wrote:\r\n> Does Tuesday work?\r\n",
      `Content-Type: text/plain; name="small.txt"\r\nContent-Disposition: attachment; filename="small.txt"\r\nContent-Transfer-Encoding: base64\r\n\r\n${btoa(small)}`,
      `Content-Type: application/octet-stream; name="big.bin"\r\nContent-Disposition: attachment; filename="big.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${btoa(big)}`,
    ]);
    const messageId = messageIdOf(raw);
    expect((await deliver({ from: "bounces@example.org", to: address, raw })).rejected).toBeNull();
    const [pending] = await pendingWebhooks(messageId, address);
    expect(pending).toMatchObject({ status: "pending", target: url, attempts: 0 });

    await runWebhooks(messageId, address);
    const [request] = await received(url);
    expect(request.verified).toBe(true);
    expect(request.headers["content-type"]).toBe("application/json");
    const payload = request.body;
    const stored = await findMessage(messageId, address);
    expect(payload).toMatchObject({
      id: pending.id,
      redelivery_of: null,
      type: "message.received",
      message: {
        id: stored.id,
        message_id: messageId,
        alias_id: alias.id,
        thread_id: stored.thread_id,
        envelope: { from: "bounces@example.org", to: address },
        from: { name: "Mary Major", address: "mary@example.org" },
        to: [{ name: "Hooks", address }],
        cc: [{ name: "Ann Other", address: "ann@example.org" }],
        subject: "Réunion notes",
        stripped_text: "Thanks, that works for me.",
        decision: { outcome: "accepted", reason: "routed" },
      },
    });
    expect(payload.message.text).toContain("> Does Tuesday work?");
    expect(payload.message.headers).toEqual(expect.arrayContaining([{ name: "Subject", value: "Réunion notes" }]));
    expect(payload.message.attachments).toMatchObject([
      { filename: "small.txt", content_type: "text/plain", size: small.length, content: btoa(small) },
      { filename: "big.bin", content_type: "application/octet-stream", size: big.length },
    ]);
    expect(payload.message.attachments[1].content).toBeUndefined();

    // The links are signed and expire; nothing else opens them.
    const rawLink = await api("GET", payload.message.raw_url, undefined, null);
    expect(rawLink.status).toBe(200);
    expect(rawLink.body).toBe(raw);
    const attachment = await api("GET", payload.message.attachments[1].url, undefined, null);
    expect(attachment.status).toBe(200);
    expect(attachment.body).toBe(big);
    const forged = payload.message.raw_url.replace(/signature=([0-9a-f])/, (_: string, c: string) => `signature=${c === "0" ? "1" : "0"}`);
    expect((await api("GET", forged, undefined, null)).status).toBe(403);
    const otherPart = payload.message.attachments[0].url.replace("/attachments/0", "/attachments/1");
    expect((await api("GET", otherPart, undefined, null)).status).toBe(403);
    const expired = payload.message.raw_url.replace(/expires=\d+/, "expires=1700000000");
    expect((await api("GET", expired, undefined, null)).status).toBe(403);

    const [delivery] = await pendingWebhooks(messageId, address);
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1, history: [{ result: "delivered", status_code: 200 }] });
    // The secret was shown once, at creation.
    const shown = await ok("GET", `/v1/aliases/${alias.id}`);
    expect(shown.webhook_secret).toBeUndefined();
    expect(shown.webhook_secret_set).toBe(true);
  });

  it("retries failures with backoff, with the same id every time, until the receiver takes it", async () => {
    const { address, url } = await webhookAlias({ fail: 2 });
    const raw = mime({ From: "mary@example.org", To: address, Subject: "retry me" });
    const messageId = messageIdOf(raw);
    const at = clockedWorker();
    await deliver({ to: address, raw }, at);

    await runWebhooks(messageId, address, at);
    let [delivery] = await pendingWebhooks(messageId, address);
    expect(delivery).toMatchObject({ status: "pending", attempts: 1, last_error: expect.stringContaining("HTTP 500"), history: [{ result: "retry", status_code: 500 }] });
    const firstRetryAt = Date.parse(delivery.next_attempt_at);
    expect(firstRetryAt - at.clock.now()).toBeGreaterThan(20_000);
    // A job that comes before the retry is due (the sweeper's, while the retry's own job waits) does nothing.
    await runJobs("deliver", [delivery.id], at);
    expect(await received(url)).toHaveLength(1);

    await runWebhooks(messageId, address, at);
    [delivery] = await pendingWebhooks(messageId, address);
    expect(Date.parse(delivery.next_attempt_at) - at.clock.now()).toBeGreaterThan(50_000);
    await runWebhooks(messageId, address, at);
    [delivery] = await pendingWebhooks(messageId, address);
    expect(delivery).toMatchObject({ status: "delivered", attempts: 3, next_attempt_at: null });
    expect(delivery.history.map((h: any) => [h.result, h.status_code])).toEqual([
      ["retry", 500],
      ["retry", 500],
      ["delivered", 200],
    ]);
    const requests = await received(url);
    expect(requests.map((r: any) => [r.body.id, r.status])).toEqual([
      [delivery.id, 500],
      [delivery.id, 500],
      [delivery.id, 200],
    ]);
    // A queue redelivery of a settled delivery posts nothing.
    await runJobs("deliver", [delivery.id]);
    expect(await received(url)).toHaveLength(3);
  });

  it("stops at 410 Gone, and gives up 24 hours after the mail arrived", async () => {
    const gone = await webhookAlias({ fail: 1, failStatus: 410 });
    const raw = mime({ From: "mary@example.org", To: gone.address, Subject: "gone" });
    const messageId = messageIdOf(raw);
    await deliver({ to: gone.address, raw });
    await runWebhooks(messageId, gone.address);
    const [stopped] = await pendingWebhooks(messageId, gone.address);
    expect(stopped).toMatchObject({ status: "failed", history: [{ result: "gone", status_code: 410 }], last_error: expect.stringContaining("410 Gone") });
    await runJobs("deliver", [stopped.id]);
    expect(await received(gone.url)).toHaveLength(1);

    const late = await webhookAlias({ fail: 100 });
    const raw2 = mime({ From: "mary@example.org", To: late.address, Subject: "late" });
    const messageId2 = messageIdOf(raw2);
    // The mail arrived a day and a second ago (so that the attempt, now, is signed with a time the receiver accepts).
    const at = clockedWorker(Date.now() - 24 * 3600_000 - 1000);
    await deliver({ to: late.address, raw: raw2 }, at);
    at.clock.advance(24 * 3600_000 + 1000);
    await runWebhooks(messageId2, late.address, at);
    const [givenUp] = await pendingWebhooks(messageId2, late.address);
    expect(givenUp).toMatchObject({ status: "failed", last_error: expect.stringMatching(/^gave up after 24 hours: HTTP 500/) });
  });

  it("signs with both secrets during a rotation, then with the new one only", async () => {
    const { alias, address, url } = await webhookAlias();
    const oldSecret = alias.webhook_secret;
    const rotated = await ok("POST", `/v1/aliases/${alias.id}/webhook-secret`, { previous_valid_seconds: 3600 });
    expect(rotated.secret).not.toBe(oldSecret);
    expect(Date.parse(rotated.previous_expires_at) - Date.now()).toBeGreaterThan(3500_000);

    const post = async () => {
      const raw = mime({ From: "mary@example.org", To: address, Subject: "rotation" });
      await deliver({ to: address, raw });
      await runWebhooks(messageIdOf(raw), address);
      return (await received(url)).at(-1);
    };
    await configure(url, [oldSecret]);
    expect((await post()).verified).toBe(true);
    await configure(url, [rotated.secret]);
    const both = await post();
    expect(both.verified).toBe(true);
    expect(both.headers["mailgate-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);

    const given = `my-own-secret-${unique()}-long-enough`;
    await ok("POST", `/v1/aliases/${alias.id}/webhook-secret`, { secret: given, previous_valid_seconds: 0 });
    await configure(url, [rotated.secret]);
    expect((await post()).verified).toBe(false);
    await configure(url, [given]);
    const only = await post();
    expect(only.verified).toBe(true);
    expect(only.headers["mailgate-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  });

  it("replays stored mail to its webhooks as new deliveries naming the first", async () => {
    const { domain, address, url, alias } = await webhookAlias();
    await ok("PATCH", `/v1/aliases/${alias.id}`, { destinations: [{ type: "webhook", url }, { type: "forward", to: "keep@example.org" }, { type: "store" }] });
    const raw = mime({ From: "mary@example.org", To: address, Subject: "replay" });
    const messageId = messageIdOf(raw);
    await deliver({ to: address, raw });
    await runWebhooks(messageId, address);
    const stored = await findMessage(messageId, address);
    const first = stored.deliveries.find((d: any) => d.type === "webhook");

    const replay = await api("POST", `/v1/messages/${stored.id}/redeliver`, {});
    expect(replay.status).toBe(202);
    expect(replay.body.deliveries).toEqual([{ id: expect.any(String), type: "webhook", target: url, redelivery_of: first.id }]);
    expect(replay.body.skipped).toMatchObject([{ type: "forward", reason: expect.stringContaining("forward()") }]);
    await runJobs("deliver", [replay.body.deliveries[0].id]);
    const [original, again] = await received(url);
    expect(again.body).toMatchObject({ id: replay.body.deliveries[0].id, redelivery_of: first.id, message: { id: stored.id, message_id: messageId } });
    expect(again.body.id).not.toBe(original.body.id);

    const sent = await api("POST", "/v1/messages", { from: `sales@${domain}`, to: ["x@example.org"], subject: "s", text: "t" });
    if (sent.status === 202) expect((await api("POST", `/v1/messages/${sent.body.id}/redeliver`, {})).status).toBe(422);
    expect((await api("POST", "/v1/messages/msg_nope/redeliver", {})).status).toBe(404);
  });

  it("posts replies into the thread to the webhook of the thread's alias, and nothing to a URL the alias dropped", async () => {
    const { address, url, alias, domain } = await webhookAlias();
    const first = mime({ From: "mary@example.org", To: address, Subject: "Question" });
    const firstId = messageIdOf(first);
    await deliver({ to: address, raw: first });
    // The reply comes to the catchall (the Reply-To of our notifications), not to the alias.
    const reply = mime({ From: "mary@example.org", To: `catchall@${domain}`, Subject: "Re: Question", "In-Reply-To": firstId });
    const replyId = messageIdOf(reply);
    await deliver({ to: `catchall@${domain}`, raw: reply });
    await runWebhooks(replyId, `catchall@${domain}`);
    const [posted] = (await received(url)).filter((r: any) => r.body.message.message_id === replyId);
    expect(posted).toMatchObject({ verified: true, body: { message: { alias_id: alias.id } } });

    await ok("PATCH", `/v1/aliases/${alias.id}`, { destinations: [{ type: "store" }] });
    const later = mime({ From: "mary@example.org", To: `catchall@${domain}`, Subject: "Re: Question", "In-Reply-To": replyId });
    const laterId = messageIdOf(later);
    await deliver({ to: `catchall@${domain}`, raw: later });
    expect(await pendingWebhooks(laterId, `catchall@${domain}`)).toEqual([]);
    const stored = await findMessage(replyId, `catchall@${domain}`);
    const replay = await ok("POST", `/v1/messages/${stored.id}/redeliver`, {}, 202);
    expect(replay).toMatchObject({ deliveries: [], skipped: [{ type: "webhook", reason: "no longer a webhook destination of the alias" }] });
  });

  it("survives a queue that cannot take the job: the mail is accepted, and the sweeper queues the delivery", async () => {
    const { address, url } = await webhookAlias();
    const raw = mime({ From: "mary@example.org", To: address, Subject: "lost job" });
    const messageId = messageIdOf(raw);
    // The mail arrived 11 minutes ago, while the queue was down.
    const at = clockedWorker(Date.now() - 11 * 60_000);
    const down = queueSpy({ down: true });
    expect(await deliver({ to: address, raw }, { ...at, env: down.env })).toMatchObject({ rejected: null, error: null });
    const [pending] = await pendingWebhooks(messageId, address);
    expect(pending.status).toBe("pending");
    expect(down.ids).toEqual([pending.id]);

    const up = queueSpy();
    at.clock.advance(5 * 60_000);
    await runScheduled(at, up.env);
    expect(up.ids).not.toContain(pending.id);
    at.clock.advance(6 * 60_000);
    await runScheduled(at, up.env);
    expect(up.ids).toContain(pending.id);
    await runWebhooks(messageId, address, at);
    expect((await received(url)).map((r: any) => r.body.id)).toEqual([pending.id]);
  });
});

describe("webhook URLs (SSRF)", () => {
  const production = { ...env, ALLOW_PRIVATE_WEBHOOKS: undefined } as Env;

  it("refuses private, loopback, link-local and internal targets, and plain http", async () => {
    const domain = await setupDomain();
    const refused = [
      "http://hooks.example.com/in",
      "https://127.0.0.1/in",
      "https://0x7f000001/in",
      "https://2130706433/in",
      "https://10.1.2.3/in",
      "https://172.20.0.1/in",
      "https://192.168.1.1/in",
      "https://169.254.169.254/latest/meta-data",
      "https://100.64.0.1/in",
      "https://[::1]/in",
      "https://[::ffff:127.0.0.1]/in",
      "https://[fd00::1]/in",
      "https://[fe80::1]/in",
      "https://[::127.0.0.1]/in",
      "https://[::ffff:0:7f00:1]/in",
      "https://[64:ff9b::a00:1]/in",
      "https://[2002:a9fe:a9fe::]/in",
      "https://[2001::1]/in",
      "https://[2001:db8::1]/in",
      "https://[fec0::1]/in",
      "https://[100::1]/in",
      "https://192.88.99.1/in",
      "https://localhost/in",
      "https://api.localhost/in",
      "https://metadata.google.internal/in",
      "https://intranet/in",
      "https://user:pass@hooks.example.com/in",
      "not a url",
    ];
    for (const url of refused) {
      const response = await api(
        "POST",
        "/v1/aliases",
        { name: unique("h"), domain, contact: "everyone", destinations: [{ type: "webhook", url }] },
        undefined,
        {},
        { env: production },
      );
      expect([url, response.status]).toEqual([url, 400]);
      expect(response.body.error.message).toContain("webhook URL");
    }
    for (const url of ["https://hooks.example.com/in", "https://93.184.216.34/in", "https://[2606:4700::1111]/in", "https://[::ffff:93.184.216.34]/in"]) {
      const accepted = await api(
        "POST",
        "/v1/aliases",
        { name: unique("h"), domain, contact: "everyone", destinations: [{ type: "webhook", url }] },
        undefined,
        {},
        { env: production },
      );
      expect([url, accepted.status]).toEqual([url, 201]);
    }
  });

  it("checks again when posting: a loopback target saved in development fails in production", async () => {
    const { address } = await webhookAlias();
    const raw = mime({ From: "mary@example.org", To: address, Subject: "ssrf" });
    const messageId = messageIdOf(raw);
    await deliver({ to: address, raw });
    await runWebhooks(messageId, address, undefined, production);
    const [delivery] = await pendingWebhooks(messageId, address);
    expect(delivery).toMatchObject({ status: "failed", last_error: expect.stringContaining("must be https") });
  });
});
