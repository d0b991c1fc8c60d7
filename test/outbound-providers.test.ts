/**
 * HTTP relays against local servers that check each request the way the
 * provider's documented API does (test/node/mail-servers.ts): Postmark,
 * Resend, Amazon SES v2 (SigV4 verified), Mailgun, SendGrid.
 */
import { describe, expect, inject, it } from "vitest";
import { ok, onlyRelays, runSendJobs, send, sendAndDeliver, setupDomain, unique } from "./helpers";

const mail = inject("mail");
const { credentials } = mail;

async function requests(provider: string, contains: string): Promise<any[]> {
  const response = await fetch(`${mail.control}/requests?python&provider=${provider}&contains=${encodeURIComponent(contains)}`);
  return response.json();
}

const RELAYS: Record<string, Record<string, unknown>> = {
  postmark: { server_token: credentials.postmark, message_stream: "outbound" },
  resend: { api_key: credentials.resend },
  ses: { region: credentials.ses.region, access_key_id: credentials.ses.accessKeyId, secret_access_key: credentials.ses.secretAccessKey },
  mailgun: { domain: credentials.mailgun.domain, api_key: credentials.mailgun.apiKey },
  sendgrid: { api_key: credentials.sendgrid },
};

function relaySpec(type: string, overrides: Record<string, unknown> = {}, fields: Record<string, unknown> = {}) {
  return { name: `${type} ${unique()}`, type, config: { ...RELAYS[type], base_url: `${mail.control}/${type}`, ...overrides }, ...fields };
}

/** A message with every field a provider has to map. */
async function sendRich(domain: string) {
  const marker = unique("subject");
  const rcpt = `${unique("to")}@example.org`;
  const cc = `${unique("cc")}@example.org`;
  const bcc = `${unique("bcc")}@example.org`;
  const { answer, message } = await sendAndDeliver({
    from: `"Mary Major" <mary@${domain}>`,
    to: [`"Rick Receiver" <${rcpt}>`],
    cc: [cc],
    bcc: [bcc],
    reply_to: "help@customer-support.example",
    subject: `Order ${marker}`,
    text: "Your order shipped.",
    html: "<p>Your order shipped.</p>",
    headers: { "X-Campaign": "spring", "List-Unsubscribe": "<mailto:unsubscribe@example.org>" },
    attachments: [{ filename: "invoice.pdf", content: btoa("%PDF-1.4 fake"), content_type: "application/pdf" }],
  });
  return { marker, rcpt, cc, bcc, answer, message };
}

describe("providers map the composed message to their API", () => {
  it("Postmark: fields, our headers with X-PM-KeepID, attachments", async () => {
    const domain = await setupDomain();
    await onlyRelays([relaySpec("postmark", {}, { from_filter: domain })]);
    const { marker, rcpt, cc, bcc, answer, message } = await sendRich(domain);
    expect(message.status).toBe("sent");
    const [request] = await requests("postmark", marker);
    expect(request.status).toBe(200);
    expect(request.headers["x-postmark-server-token"]).toBe(credentials.postmark);
    expect(request.body).toMatchObject({
      From: `"Mary Major" <mary@${domain}>`,
      To: `"Rick Receiver" <${rcpt}>`,
      Cc: cc,
      Bcc: bcc,
      ReplyTo: "help@customer-support.example",
      Subject: `Order ${marker}`,
      TextBody: "Your order shipped.",
      HtmlBody: "<p>Your order shipped.</p>",
      MessageStream: "outbound",
      Attachments: [{ Name: "invoice.pdf", Content: btoa("%PDF-1.4 fake"), ContentType: "application/pdf" }],
    });
    expect(request.body.Headers).toEqual(
      expect.arrayContaining([
        { Name: "Message-ID", Value: answer.message_id },
        { Name: "X-Mailgate-Message-Id", Value: answer.message_id },
        { Name: "X-Campaign", Value: "spring" },
        { Name: "List-Unsubscribe", Value: "<mailto:unsubscribe@example.org>" },
        { Name: "X-PM-KeepID", Value: "true" },
      ]),
    );
    expect(message.attempts[0].provider_message_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("Resend: fields, headers and an idempotency key naming the message", async () => {
    const domain = await setupDomain();
    await onlyRelays([relaySpec("resend", {}, { from_filter: domain })]);
    const { marker, rcpt, cc, bcc, answer, message } = await sendRich(domain);
    expect(message.status).toBe("sent");
    const [request] = await requests("resend", marker);
    expect(request.headers.authorization).toBe(`Bearer ${credentials.resend}`);
    expect(request.headers["idempotency-key"]).toContain(answer.id);
    expect(request.body).toMatchObject({
      from: `"Mary Major" <mary@${domain}>`,
      to: [`"Rick Receiver" <${rcpt}>`],
      cc: [cc],
      bcc: [bcc],
      reply_to: ["help@customer-support.example"],
      subject: `Order ${marker}`,
      text: "Your order shipped.",
      html: "<p>Your order shipped.</p>",
      attachments: [{ filename: "invoice.pdf", content: btoa("%PDF-1.4 fake"), content_type: "application/pdf" }],
    });
    expect(request.body.headers).toMatchObject({ "Message-ID": answer.message_id, "X-Mailgate-Message-Id": answer.message_id, "X-Campaign": "spring" });
  });

  it("Amazon SES v2: the composed MIME as raw content, SigV4-signed, bounces forwarded to our VERP address", async () => {
    const domain = await setupDomain();
    await onlyRelays([relaySpec("ses", {}, { from_filter: domain })]);
    const { marker, rcpt, cc, bcc, answer, message } = await sendRich(domain);
    expect(message.status).toBe("sent");
    const [request] = await requests("ses", marker);
    expect(request.status).toBe(200);
    expect(request.body.Destination.ToAddresses.sort()).toEqual([rcpt, cc, bcc].sort());
    expect(request.body.FeedbackForwardingEmailAddress).toBe(answer.envelope_from);
    expect(request.python.defects).toEqual([]);
    expect(request.python.message_id).toBe(answer.message_id);
    expect(request.python.bcc_header).toBe(false);
    expect(request.python.parts.map((p: any) => p.filename)).toEqual([null, null, "invoice.pdf"]);
  });

  it("Mailgun: the composed MIME as a file, every envelope recipient in `to`", async () => {
    const domain = await setupDomain();
    await onlyRelays([relaySpec("mailgun", {}, { from_filter: domain })]);
    const { marker, rcpt, cc, bcc, answer, message } = await sendRich(domain);
    expect(message.status).toBe("sent");
    const [request] = await requests("mailgun", marker);
    expect(request.status).toBe(200);
    expect(request.headers.authorization).toBe(`Basic ${btoa(`api:${credentials.mailgun.apiKey}`)}`);
    expect(request.python.to).toEqual([{ name: "Rick Receiver", address: rcpt }]);
    expect(request.python.message_id).toBe(answer.message_id);
    expect(request.python.bcc_header).toBe(false);
    // Kept without the brackets, as Mailgun's events name it.
    expect(message.attempts[0].provider_message_id).toMatch(/^[^<>]+@mg\.example\.com$/);
    expect([cc, bcc].every((a) => a.length > 0)).toBe(true);
  });

  it("SendGrid: one personalization, text before html, reserved headers left out, X-Message-Id kept", async () => {
    const domain = await setupDomain();
    await onlyRelays([relaySpec("sendgrid", {}, { from_filter: domain })]);
    const { marker, rcpt, cc, bcc, answer, message } = await sendRich(domain);
    expect(message.status).toBe("sent");
    const [request] = await requests("sendgrid", marker);
    expect(request.status).toBe(202);
    expect(request.body).toMatchObject({
      personalizations: [{ to: [{ email: rcpt, name: "Rick Receiver" }], cc: [{ email: cc }], bcc: [{ email: bcc }] }],
      from: { email: `mary@${domain}`, name: "Mary Major" },
      reply_to: { email: "help@customer-support.example" },
      content: [
        { type: "text/plain", value: "Your order shipped." },
        { type: "text/html", value: "<p>Your order shipped.</p>" },
      ],
      attachments: [{ content: btoa("%PDF-1.4 fake"), filename: "invoice.pdf", type: "application/pdf", disposition: "attachment" }],
    });
    expect(request.body.headers).toMatchObject({ "Message-ID": answer.message_id, "X-Campaign": "spring" });
    expect(message.attempts[0].provider_message_id).toMatch(/^[0-9a-f]{22}$/);
  });
});

describe("provider failures", () => {
  it("a provider's own failure (5xx) fails over to the next relay for the same From", async () => {
    const domain = await setupDomain();
    const [down, up] = await onlyRelays([
      relaySpec("postmark", { server_token: "server-error" }, { from_filter: domain, sequence: 1 }),
      relaySpec("resend", {}, { from_filter: domain, sequence: 2 }),
    ]);
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: ["x@example.org"], subject: "failover", text: "x" });
    expect(message).toMatchObject({ status: "sent", relay_id: up.id });
    expect(message.attempts.map((a: any) => [a.relay_id, a.result, a.error?.slice(0, 3) ?? null])).toEqual([
      [down.id, "relay_error", "500"],
      [up.id, "sent", null],
    ]);
  });

  it("wrong credentials and rate limits are relay failures: retried later", async () => {
    const domain = await setupDomain();
    for (const [type, config] of [
      ["mailgun", { api_key: "wrong-key" }],
      ["sendgrid", { api_key: "rate-limited" }],
      ["ses", { secret_access_key: "not-the-secret" }],
    ] as const) {
      await onlyRelays([relaySpec(type, config, { from_filter: domain })]);
      const answer = await send({ from: `mary@${domain}`, to: ["x@example.org"], subject: type, text: "x" });
      expect((await runSendJobs([answer.id])).retried.map((r) => r.id)).toEqual([answer.id]);
      const message = await ok("GET", `/v1/messages/${answer.id}`);
      expect(message.status).toBe("queued");
      expect(message.attempts[0].result).toBe("relay_error");
    }
  });

  it("a message the provider rejects fails for good (SES MessageRejected)", async () => {
    const domain = await setupDomain();
    await onlyRelays([relaySpec("ses", {}, { from_filter: domain })]);
    const answer = await send({ from: `mary@${domain}`, to: ["rejected@example.org"], subject: "unverified", text: "x" });
    expect((await runSendJobs([answer.id])).acked).toEqual([answer.id]);
    expect(await ok("GET", `/v1/messages/${answer.id}`)).toMatchObject({
      status: "failed",
      recipients: [{ status: "failed", last_code: "MessageRejected", last_error: expect.stringContaining("not verified") }],
    });
  });

  it("Postmark's inactive recipients fail; the others go on the next attempt", async () => {
    const domain = await setupDomain();
    await onlyRelays([relaySpec("postmark", {}, { from_filter: domain })]);
    const inactive = `inactive${unique()}@example.org`;
    const active = `${unique("active")}@example.org`;
    const answer = await send({ from: `mary@${domain}`, to: [inactive, active], subject: "mixed", text: "x" });
    expect((await runSendJobs([answer.id])).retried.map((r) => r.id)).toEqual([answer.id]);
    let message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message.recipients).toMatchObject([
      { address: inactive, status: "failed", last_code: "406" },
      { address: active, status: "pending" },
    ]);
    expect((await runSendJobs([answer.id], 2)).acked).toEqual([answer.id]);
    message = await ok("GET", `/v1/messages/${answer.id}`);
    expect(message).toMatchObject({ status: "sent", recipients: [{ status: "failed" }, { status: "sent" }] });
  });

  it("credentials are write-only: stored sealed, never returned", async () => {
    const created = await ok("POST", "/v1/relays", relaySpec("postmark"), 201);
    expect(created.config).not.toHaveProperty("server_token");
    expect(created.secrets_set).toEqual(["server_token"]);
    expect(JSON.stringify(await ok("GET", `/v1/relays/${created.id}`))).not.toContain(credentials.postmark);
    expect(JSON.stringify(await ok("GET", "/v1/relays"))).not.toContain(credentials.postmark);
    // A change that leaves the credential out keeps it.
    const patched = await ok("PATCH", `/v1/relays/${created.id}`, { config: { message_stream: "broadcast", base_url: `${mail.control}/postmark` } });
    expect(patched).toMatchObject({ config: { message_stream: "broadcast" }, secrets_set: ["server_token"] });
  });
});
