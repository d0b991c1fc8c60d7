/**
 * Delivery truth on every relay type (issue 9, "Done when"): a message is
 * sent, the provider reports a hard bounce and a complaint the way it does
 * (signed webhooks, Cloudflare's event queue, a real Postfix DSN and an ARF
 * report), and the recipient, the suppression list and the next send all
 * show it; forged and replayed reports change nothing.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { HookRequest } from "../src/events/types";
import worker from "../src/index";
import { api, deliver, mime, ok, onlyRelays, postfixDelivered, runJobs, send, sendAndDeliver, setupDomain, smtpRelay, unique } from "./helpers";
import { cloudflareBouncedHard, cloudflareComplained } from "./provider-events/cloudflare";
import { MAILGUN_SIGNING_KEY, mailgunComplaint, mailgunHardBounce, mailgunMessage, signedMailgunRequest } from "./provider-events/mailgun";
import { POSTMARK_PASSWORD, POSTMARK_USERNAME, postmarkBounce, postmarkRequest, postmarkSpamComplaint } from "./provider-events/postmark";
import { RESEND_SECRET, resendBounced, resendComplained, signedResendRequest } from "./provider-events/resend";
import { type SendgridKeys, sendgridHardBounce, sendgridKeys, sendgridSpamReport, signedSendgridRequest } from "./provider-events/sendgrid";
import { type SnsSigner, sesBounce, sesComplaint, snsNotification, snsRequest, snsSigner } from "./provider-events/ses";

const mail = inject("mail");
const { credentials } = mail;

/** Posts a provider's request to our hook for this relay, as the provider would. */
async function hook(relayId: string, request: HookRequest): Promise<{ status: number; body: any }> {
  const response = await worker.fetch(
    new Request(`https://mailgate.test/hooks/relays/${relayId}`, { method: "POST", headers: request.headers, body: request.body }),
    env,
    createExecutionContext(),
  );
  return { status: response.status, body: await response.json() };
}

/** How one provider is set up, and how it reports a hard bounce and a complaint about (provider id, recipient). */
interface Provider {
  config(): Promise<Record<string, unknown>>;
  bounce(id: string, rcpt: string): Promise<HookRequest>;
  complaint(id: string, rcpt: string): Promise<HookRequest>;
  /** The bounce, signed with the wrong key. */
  forged(id: string, rcpt: string): Promise<HookRequest>;
}

let sns: SnsSigner;
let sendgrid: SendgridKeys;
let forgedSendgrid: SendgridKeys;

const PROVIDERS: Record<string, Provider> = {
  postmark: {
    config: async () => ({ server_token: credentials.postmark, message_stream: "outbound", events: { username: POSTMARK_USERNAME, password: POSTMARK_PASSWORD } }),
    bounce: async (id, rcpt) => postmarkRequest(postmarkBounce("HardBounce", { MessageID: id, Email: rcpt, ID: Number(unique("").replace(/\D/g, "").slice(0, 9) || 1) })),
    complaint: async (id, rcpt) => postmarkRequest(postmarkSpamComplaint({ MessageID: id, Email: rcpt })),
    forged: async (id, rcpt) => postmarkRequest(postmarkBounce("HardBounce", { MessageID: id, Email: rcpt }), { password: "guessed" }),
  },
  resend: {
    config: async () => ({ api_key: credentials.resend, events: { secret: RESEND_SECRET } }),
    bounce: (id, rcpt) => signedResendRequest(resendBounced(undefined, { emailId: id, to: [rcpt] }), { id: unique("msg_") }),
    complaint: (id, rcpt) => signedResendRequest(resendComplained({ emailId: id, to: [rcpt] }), { id: unique("msg_") }),
    forged: (id, rcpt) => signedResendRequest(resendBounced(undefined, { emailId: id, to: [rcpt] }), { secret: "whsec_Zm9yZ2VkIGtleSBmb3JnZWQga2V5" }),
  },
  ses: {
    config: async () => ({
      region: credentials.ses.region,
      access_key_id: credentials.ses.accessKeyId,
      secret_access_key: credentials.ses.secretAccessKey,
      events: { certificate: sns.certificate },
    }),
    bounce: async (id, rcpt) =>
      snsRequest(
        await snsNotification(
          sns,
          sesBounce({ messageId: id, bouncedRecipients: [{ emailAddress: rcpt, action: "failed", status: "5.1.1", diagnosticCode: "smtp; 550 5.1.1 user unknown" }] }),
          {
            messageId: unique("sns-"),
          },
        ),
      ),
    complaint: async (id, rcpt) => snsRequest(await snsNotification(sns, sesComplaint({ messageId: id, recipients: [rcpt] }), { messageId: unique("sns-") })),
    forged: async (id, rcpt) => snsRequest(await snsNotification(await snsSigner(), sesBounce({ messageId: id, bouncedRecipients: [{ emailAddress: rcpt, status: "5.1.1" }] }))),
  },
  mailgun: {
    config: async () => ({ domain: credentials.mailgun.domain, api_key: credentials.mailgun.apiKey, events: { signing_key: MAILGUN_SIGNING_KEY } }),
    bounce: (id, rcpt) => signedMailgunRequest(mailgunHardBounce({ id: unique("mg-"), recipient: rcpt, message: mailgunMessage(id) })),
    complaint: (id, rcpt) => signedMailgunRequest(mailgunComplaint({ id: unique("mg-"), recipient: rcpt, message: mailgunMessage(id) })),
    forged: (id, rcpt) => signedMailgunRequest(mailgunHardBounce({ recipient: rcpt, message: mailgunMessage(id) }), { key: "key-forged" }),
  },
  sendgrid: {
    config: async () => ({ api_key: credentials.sendgrid, events: { public_key: sendgrid.publicKey } }),
    bounce: (id, rcpt) => signedSendgridRequest([sendgridHardBounce({ email: rcpt, sg_message_id: `${id}.filter0001.1.2.0`, sg_event_id: unique("sg-") })], sendgrid),
    complaint: (id, rcpt) => signedSendgridRequest([sendgridSpamReport({ email: rcpt, sg_message_id: `${id}.filter0001.1.2.0`, sg_event_id: unique("sg-") })], sendgrid),
    forged: (id, rcpt) => signedSendgridRequest([sendgridHardBounce({ email: rcpt, sg_message_id: `${id}.filter0001.1.2.0` })], forgedSendgrid),
  },
};

/** Sends one message to a new recipient through the only relay, runs the queue; answers the message, the recipient and the id its provider answered. */
async function sentTo(domain: string, who: string, token?: string): Promise<{ id: string; rcpt: string; providerId: string }> {
  const rcpt = `${unique(who)}@example.org`;
  const { answer, message } = await sendAndDeliver({ from: `sales@${domain}`, to: [rcpt], subject: `Hello ${unique()}`, text: "Hello." }, token);
  expect(message.recipients).toMatchObject([{ address: rcpt, status: "sent", source: "smtp" }]);
  return { id: answer.id, rcpt, providerId: message.attempts.at(-1).provider_message_id };
}

/**
 * An API key with an event hook for bounces and complaints, pointed at a
 * loopback receiver that checks each POST's signature with the hook's secret.
 */
async function customerHook(): Promise<{ key: string; url: string }> {
  const { key } = await ok("POST", "/v1/keys", { name: unique("customer") }, 201);
  const url = `${mail.control}/hooks/${unique("truth")}`;
  const created = await api("POST", "/v1/event-hooks", { url, events: ["message.bounced", "message.complained"] }, key);
  expect(created.status).toBe(201);
  await fetch(url, { method: "PUT", body: JSON.stringify({ secrets: [created.body.secret], fail: 0, failStatus: 500 }) });
  return { key, url };
}

/** Runs the event-hook deliveries of these messages, and answers what the customer's receiver got, one call per delivery id. */
async function hookCalls(url: string, messageIds: string[]): Promise<any[]> {
  for (const id of messageIds) {
    const pending = (await ok("GET", `/v1/messages/${id}`)).deliveries.filter((d: any) => d.type === "event_hook" && d.status === "pending").map((d: any) => d.id);
    if (pending.length) await runJobs("deliver", pending);
  }
  const calls: any[] = await (await fetch(url)).json();
  // Queues deliver at least once: a delivery may be posted again (here the local queue and this test may both run it), always
  // with the same id, which receivers deduplicate on. Each event is one delivery: one id.
  const byId = new Map<string, any>();
  for (const call of calls) {
    if (byId.has(call.body.id)) expect(call.body).toEqual(byId.get(call.body.id).body);
    else byId.set(call.body.id, call);
  }
  return [...byId.values()];
}

async function recipientOf(id: string): Promise<any> {
  return (await ok("GET", `/v1/messages/${id}`)).recipients[0];
}

async function suppressionsOf(email: string): Promise<any[]> {
  return (await ok("GET", `/v1/suppressions?limit=200`)).items.filter((s: any) => s.email === email);
}

/** The part every relay type shares once the reports are in: statuses, suppressions, the next send. */
async function expectTruth(domain: string, bounced: { id: string; rcpt: string }, complained: { id: string; rcpt: string }) {
  expect(await recipientOf(bounced.id)).toMatchObject({ status: "bounced", source: expect.stringMatching(/provider_event|dsn/) });
  expect(await recipientOf(complained.id)).toMatchObject({ status: "complained" });
  expect(await suppressionsOf(bounced.rcpt)).toMatchObject([{ reason: expect.stringMatching(/hard_bounce|provider/), stream: null }]);
  expect(await suppressionsOf(complained.rcpt)).toMatchObject([{ reason: "complaint", stream: null }]);
  const fresh = `${unique("fresh")}@example.org`;
  const next = await send({ from: `sales@${domain}`, to: [bounced.rcpt, complained.rcpt, fresh], subject: "Again", text: "Again." });
  expect(next.suppressed.sort()).toEqual([bounced.rcpt, complained.rcpt].sort());
  expect((await ok("GET", `/v1/messages/${next.id}`)).recipients.map((r: any) => r.address)).toEqual([fresh]);
}

describe("delivery truth from each provider's own reports", () => {
  it.each(Object.keys(PROVIDERS))("%s: a hard bounce and a complaint, verified; forged and replayed reports change nothing", async (type) => {
    sns ??= await snsSigner();
    sendgrid ??= await sendgridKeys();
    forgedSendgrid ??= await sendgridKeys();
    const provider = PROVIDERS[type]!;
    const domain = await setupDomain();
    const [relay] = await onlyRelays([{ name: `${type} ${unique()}`, type, from_filter: domain, config: { ...(await provider.config()), base_url: `${mail.control}/${type}` } }]);
    const customer = await customerHook();
    const bouncer = await sentTo(domain, "bouncer", customer.key);
    const complainer = await sentTo(domain, "complainer", customer.key);

    // Forged: 401, and nothing moved.
    const forged = await hook(relay.id, await provider.forged(bouncer.providerId, bouncer.rcpt));
    expect(forged.status).toBe(401);
    expect(await recipientOf(bouncer.id)).toMatchObject({ status: "sent" });

    const bounce = await provider.bounce(bouncer.providerId, bouncer.rcpt);
    expect(await hook(relay.id, bounce)).toMatchObject({ status: 200, body: { applied: 1, replayed: 0, unknown: 0 } });
    expect(await hook(relay.id, await provider.complaint(complainer.providerId, complainer.rcpt))).toMatchObject({ status: 200, body: { applied: 1 } });

    // The same report again (a provider's retry): accepted, nothing counted twice.
    const counted = (await ok("GET", `/v1/contacts/${bouncer.rcpt}`)).bounce_count;
    expect(await hook(relay.id, bounce)).toMatchObject({ status: 200, body: { applied: 0, replayed: 1 } });
    expect((await ok("GET", `/v1/contacts/${bouncer.rcpt}`)).bounce_count).toBe(counted);
    // A report about mail we did not send through this relay changes nothing.
    expect(await hook(relay.id, await provider.bounce("not-ours-0000", `${unique("stranger")}@example.org`))).toMatchObject({ status: 200, body: { applied: 0, unknown: 1 } });

    expect(await recipientOf(bouncer.id)).toMatchObject({ status: "bounced", source: "provider_event" });
    // The customer's hook heard of each once, signed with its secret; the replay and the forgery added nothing.
    const calls = await hookCalls(customer.url, [bouncer.id, complainer.id]);
    expect(calls.map((call) => [call.body.type, call.body.data.recipient, call.verified]).sort()).toEqual(
      [
        ["message.bounced", bouncer.rcpt, true],
        ["message.complained", complainer.rcpt, true],
      ].sort(),
    );
    expect(calls.find((call) => call.body.type === "message.bounced").body.data).toMatchObject({ message_id: bouncer.id, status: expect.stringMatching(/^5\./) });
    await expectTruth(domain, bouncer, complainer);
  });

  it("a provider that suppresses the address itself is named: lifting ours says it still holds it", async () => {
    const domain = await setupDomain();
    const [relay] = await onlyRelays([
      { name: `postmark ${unique()}`, type: "postmark", from_filter: domain, config: { ...(await PROVIDERS.postmark!.config()), base_url: `${mail.control}/postmark` } },
    ]);
    const bouncer = await sentTo(domain, "held");
    // Postmark marks a hard-bounced address Inactive: it will not send to it again.
    expect(await hook(relay.id, await PROVIDERS.postmark!.bounce(bouncer.providerId, bouncer.rcpt))).toMatchObject({ status: 200, body: { applied: 1 } });
    expect(await ok("GET", "/v1/suppressions?reason=hard_bounce&stream=all&limit=200")).toMatchObject({
      items: expect.arrayContaining([expect.objectContaining({ email: bouncer.rcpt, reason: "hard_bounce", stream: null, provider_relay_id: relay.id })]),
    });
    const lifted = await ok("DELETE", `/v1/suppressions/${bouncer.rcpt}`);
    expect(lifted).toMatchObject({ lifted: [{ email: bouncer.rcpt, reason: "hard_bounce" }], provider_still_holds: [relay.id] });
    expect(await ok("GET", `/v1/contacts/${bouncer.rcpt}`)).toMatchObject({ suppressed: false, suppressed_reason: null });
    expect((await api("DELETE", `/v1/suppressions/${bouncer.rcpt}`)).status).toBe(404);
  });

  it("the same report posted twice at once is applied once", async () => {
    const domain = await setupDomain();
    const [relay] = await onlyRelays([
      { name: `mailgun ${unique()}`, type: "mailgun", from_filter: domain, config: { ...(await PROVIDERS.mailgun!.config()), base_url: `${mail.control}/mailgun` } },
    ]);
    const bouncer = await sentTo(domain, "racer");
    const bounce = await PROVIDERS.mailgun!.bounce(bouncer.providerId, bouncer.rcpt);
    const answers = await Promise.all([hook(relay.id, bounce), hook(relay.id, bounce), hook(relay.id, bounce)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.reduce((sum, a) => sum + a.body.applied, 0)).toBe(1);
    expect((await ok("GET", `/v1/contacts/${bouncer.rcpt}`)).bounce_count).toBe(1);
  });

  it("a signed report older than 5 minutes is refused (400) and changes nothing", async () => {
    const domain = await setupDomain();
    const [relay] = await onlyRelays([
      { name: `resend ${unique()}`, type: "resend", from_filter: domain, config: { ...(await PROVIDERS.resend!.config()), base_url: `${mail.control}/resend` } },
    ]);
    const bouncer = await sentTo(domain, "late");
    const stale = await signedResendRequest(resendBounced(undefined, { emailId: bouncer.providerId, to: [bouncer.rcpt] }), { at: Date.now() - 6 * 60_000 });
    expect((await hook(relay.id, stale)).status).toBe(400);
    expect(await recipientOf(bouncer.id)).toMatchObject({ status: "sent" });
  });

  it("a relay type without event webhooks, or an unknown relay, is 404", async () => {
    const [relay] = await onlyRelays([smtpRelay("plain")]);
    expect((await hook(relay.id, { method: "POST", url: "", headers: new Headers(), body: "{}" })).status).toBe(404);
    expect((await hook("rly_missing", { method: "POST", url: "", headers: new Headers(), body: "{}" })).status).toBe(404);
  });
});

describe("Cloudflare Email Service: its event queue", () => {
  async function consume(bodies: unknown[]) {
    const batch = createMessageBatch(
      "mailgate-email-events",
      bodies.map((body, i) => ({ id: `${unique("ev")}-${i}`, timestamp: new Date(), attempts: 1, body })),
    );
    const ctx = createExecutionContext();
    await worker.queue(batch as never, env);
    return getQueueResult(batch, ctx);
  }

  it("a hard bounce and a complaint from the queue; a replayed batch changes nothing", async () => {
    const domain = await setupDomain();
    await onlyRelays([{ name: `cloudflare ${unique()}`, type: "cloudflare", from_filter: domain }]);
    const customer = await customerHook();
    const bouncer = await sentTo(domain, "bouncer", customer.key);
    const complainer = await sentTo(domain, "complainer", customer.key);

    const events = [
      cloudflareBouncedHard({ messageId: bouncer.providerId, recipient: bouncer.rcpt, eventId: unique("cf-") }),
      cloudflareComplained({ messageId: complainer.providerId, recipient: complainer.rcpt, eventId: unique("cf-") }),
    ];
    const first = await consume(events);
    expect(first.explicitAcks.length).toBe(2);
    const counted = (await ok("GET", `/v1/contacts/${bouncer.rcpt}`)).bounce_count;
    await consume(events);
    expect((await ok("GET", `/v1/contacts/${bouncer.rcpt}`)).bounce_count).toBe(counted);
    expect(await recipientOf(bouncer.id)).toMatchObject({ status: "bounced", source: "provider_event" });
    const calls = await hookCalls(customer.url, [bouncer.id, complainer.id]);
    expect(calls.map((call) => [call.body.type, call.verified]).sort()).toEqual([
      ["message.bounced", true],
      ["message.complained", true],
    ]);
    await expectTruth(domain, bouncer, complainer);
  });

  it("an event that can never be read is acknowledged, not retried forever", async () => {
    const result = await consume([{ type: "cf.email.sending.message.bounced", payload: {} }]);
    expect(result.explicitAcks.length).toBe(1);
    expect(result.retryMessages).toEqual([]);
  });
});

describe("SMTP relays: a real DSN and an ARF report", () => {
  it("Postfix bounces one recipient later (DSN to our VERP address), an ISP reports a complaint (ARF)", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    const customer = await customerHook();
    const later = `bounce-later${unique()}@example.org`;
    const { answer } = await sendAndDeliver({ from: `sales@${domain}`, to: [later], subject: "Later", text: "Hello." }, customer.key);
    const [dsn] = await postfixDelivered(answer.envelope_from, 15_000);
    expect(dsn).toBeTruthy();
    await deliver({ from: "", to: answer.envelope_from, raw: dsn.raw.replace(/\r?\n/g, "\r\n") });
    expect(await recipientOf(answer.id)).toMatchObject({ status: "bounced", source: "dsn" });

    const angry = `${unique("angry")}@example.org`;
    await onlyRelays([smtpRelay("plain", { from_filter: domain })]);
    const sent = await sendAndDeliver({ from: `sales@${domain}`, to: [angry], subject: "Invoice", text: "Attached." }, customer.key);
    const boundary = unique("arf");
    const arf = mime(
      {
        From: "Feedback Loop <fbl@isp.example>",
        To: sent.answer.envelope_from,
        Subject: "FW: Invoice",
        "MIME-Version": "1.0",
        "Content-Type": `multipart/report; report-type=feedback-report; boundary="${boundary}"`,
      },
      [
        `--${boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n`,
        `--${boundary}\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <${angry}>\r\n`,
        `--${boundary}\r\nContent-Type: message/rfc822\r\n\r\nFrom: sales@${domain}\r\nTo: ${angry}\r\nSubject: Invoice\r\nMessage-ID: ${sent.answer.message_id}\r\n\r\nAttached.\r\n`,
        `--${boundary}--\r\n`,
      ].join(""),
    );
    await deliver({ from: "fbl@isp.example", to: sent.answer.envelope_from, raw: arf });
    const calls = await hookCalls(customer.url, [answer.id, sent.answer.id]);
    expect(calls.map((call) => [call.body.type, call.body.data.recipient, call.verified]).sort()).toEqual(
      [
        ["message.bounced", later, true],
        ["message.complained", angry, true],
      ].sort(),
    );
    await expectTruth(domain, { id: answer.id, rcpt: later }, { id: sent.answer.id, rcpt: angry });
  });
});
