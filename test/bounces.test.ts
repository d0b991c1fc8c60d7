/**
 * Bounce processing end to end: mail sent through a real SMTP server on
 * loopback, then the delivery reports a receiving MTA would send back,
 * handed to `email()`. Asserts what the API then shows: the message and
 * recipient status, the contact's counter and suppression, and the send
 * API refusing suppressed recipients.
 */
import { describe, expect, it } from "vitest";
import { ADMIN_TOKEN, api, clockedWorker, deliver, findMessage, messageIdOf, mime, ok, onlyRelays, sendAndDeliver, setupDomain, smtpRelay, unique, type Via } from "./helpers";

const DAY = 24 * 3600_000;

async function sender() {
  const domain = await setupDomain();
  await onlyRelays([smtpRelay("plain", { from_filter: domain })]);
  return domain;
}

async function sendTo(domain: string, recipients: string[], via: Via = {}) {
  const { answer, message } = await sendAndDeliver({ from: `"Sales" <sales@${domain}>`, to: recipients, subject: "Your invoice", text: "Attached." }, ADMIN_TOKEN, via);
  expect(message.status).toBe("sent");
  return answer;
}

interface DsnRecipient {
  address: string;
  action?: string;
  status?: string;
  diagnostic?: string;
}

/** An RFC 3464 report, as a receiving MTA writes it, with the original's headers attached. */
function dsn(to: string, original: { message_id: string; subject?: string }, recipients: DsnRecipient[], extra: Record<string, string> = {}): string {
  const boundary = unique("dsn");
  const blocks = recipients
    .map((r) =>
      [
        `Final-Recipient: rfc822; ${r.address}`,
        `Action: ${r.action ?? "failed"}`,
        `Status: ${r.status ?? "5.1.1"}`,
        "Remote-MTA: dns; mx.example.org",
        `Diagnostic-Code: smtp; ${r.diagnostic ?? `550 5.1.1 <${r.address}>: Recipient address rejected: User unknown`}`,
      ].join("\r\n"),
    )
    .join("\r\n\r\n");
  return mime(
    {
      From: "Mail Delivery System <MAILER-DAEMON@mx.example.org>",
      To: to,
      Subject: "Undelivered Mail Returned to Sender",
      "Auto-Submitted": "auto-replied",
      "MIME-Version": "1.0",
      "Content-Type": `multipart/report; report-type=delivery-status; boundary="${boundary}"`,
      ...extra,
    },
    [
      `--${boundary}\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n`,
      `--${boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\nArrival-Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\n${blocks}\r\n`,
      `--${boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Sales <sales@example.com>\r\nSubject: ${original.subject ?? "Your invoice"}\r\nMessage-ID: ${original.message_id}\r\n\r\n`,
      `--${boundary}--\r\n`,
    ].join(""),
  );
}

async function bounceBack(raw: string, to: string, via: Via = {}) {
  const result = await deliver({ from: "", to, raw }, via);
  expect(result.error).toBeNull();
  expect(result.rejected).toBeNull();
  return findMessage(messageIdOf(raw), to);
}

const contact = (email: string) => ok("GET", `/v1/contacts/${encodeURIComponent(email)}`);

describe("bounce processing", () => {
  it("marks a hard bounce on the message and the recipient, and suppresses the address", async () => {
    const domain = await sender();
    const rcpt = `${unique("gone")}@example.org`;
    const sent = await sendTo(domain, [rcpt]);
    const report = await bounceBack(dsn(sent.envelope_from, sent, [{ address: rcpt }]), sent.envelope_from);

    expect(report.decision).toMatchObject({
      outcome: "accepted",
      reason: "bounce",
      signal: "verp",
      bounce: {
        kind: "bounce",
        recipient: rcpt,
        status: "5.1.1",
        diagnostic: expect.stringContaining("User unknown"),
        original_message_id: sent.message_id,
        original_id: sent.id,
        verp: "valid",
        effects: { bounced: [rcpt], counted: [rcpt], suppressed: [{ email: rcpt, reason: "hard_bounce" }] },
      },
    });
    const message = await ok("GET", `/v1/messages/${sent.id}`);
    expect(message.status).toBe("bounced");
    expect(message.recipients).toMatchObject([{ address: rcpt, status: "bounced", last_code: "5.1.1", last_error: expect.stringContaining("User unknown") }]);
    expect(message.events.find((e: any) => e.type === "bounced").detail).toMatchObject({ recipient: rcpt, status: "5.1.1", hard: true, report_id: report.id });
    expect(await contact(rcpt)).toMatchObject({ bounce_count: 1, suppressed: true, suppressed_reason: "hard_bounce", last_bounce_at: expect.any(String) });

    const refused = await api("POST", "/v1/messages", { from: `sales@${domain}`, to: [rcpt], subject: "again", text: "?" });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain(rcpt);
    await ok("PATCH", `/v1/contacts/${encodeURIComponent(rcpt)}`, { suppressed: false });
    expect((await api("POST", "/v1/messages", { from: `sales@${domain}`, to: [rcpt], subject: "again", text: "?" })).status).toBe(202);
  });

  it("suppresses after 5 soft bounces over more than a week in 13 weeks, unless normal mail reset the counter", async () => {
    const domain = await sender();
    const full = `${unique("full")}@example.org`;
    const soft = { status: "5.2.2", diagnostic: "552 5.2.2 Mailbox full" };
    const at = clockedWorker();
    const bounceOnce = async (address: string) => {
      const sent = await sendTo(domain, [address], at);
      return bounceBack(dsn(sent.envelope_from, sent, [{ address, ...soft }]), sent.envelope_from, at);
    };
    for (let i = 0; i < 4; i++) await bounceOnce(full);
    expect(await contact(full)).toMatchObject({ bounce_count: 4, suppressed: false });
    // A week and a day later, mail to the address bounces once more.
    at.clock.advance(8 * DAY);
    const fifth = await bounceOnce(full);
    expect(fifth.decision.bounce.effects.suppressed).toEqual([{ email: full, reason: "soft_bounces" }]);
    expect(await contact(full)).toMatchObject({ bounce_count: 5, suppressed: true });

    // Five in a few minutes is not enough: they must spread over more than a week.
    const busy = `${unique("busy")}@example.org`;
    for (let i = 0; i < 5; i++) await bounceOnce(busy);
    expect(await contact(busy)).toMatchObject({ bounce_count: 5, suppressed: false });

    // Normal mail from the contact resets its counter, which keeps it off the list.
    const back = `${unique("back")}@example.org`;
    for (let i = 0; i < 4; i++) await bounceOnce(back);
    at.clock.advance(8 * DAY);
    await ok("POST", "/v1/aliases", { name: "sales", domain, destinations: [{ type: "store" }], contact: "everyone" }, 201);
    await deliver({ from: back, to: `sales@${domain}`, raw: mime({ From: back, To: `sales@${domain}`, Subject: "I am back" }) }, at);
    expect(await contact(back)).toMatchObject({ bounce_count: 0 });
    await bounceOnce(back);
    expect(await contact(back)).toMatchObject({ bounce_count: 1, suppressed: false });
  });

  it("records delayed reports and auto-replies without counting them", async () => {
    const domain = await sender();
    const slow = `${unique("slow")}@example.org`;
    const sent = await sendTo(domain, [slow]);
    const delayed = await bounceBack(
      dsn(sent.envelope_from, sent, [{ address: slow, action: "delayed", status: "4.4.7", diagnostic: "451 4.4.7 delivery time expired, will keep trying" }]),
      sent.envelope_from,
    );
    expect(delayed.decision.bounce).toMatchObject({ kind: "delayed", status: "4.4.7", effects: { bounced: [], counted: [], delayed: [slow] } });
    let message = await ok("GET", `/v1/messages/${sent.id}`);
    expect(message.status).toBe("sent");
    expect(message.recipients[0].status).toBe("sent");
    expect(message.events.find((e: any) => e.type === "delayed").detail).toMatchObject({ recipient: slow, status: "4.4.7" });

    const away = mime(
      { From: `"Slow Person" <${slow}>`, To: sent.envelope_from, Subject: "Automatic reply: Your invoice", "Auto-Submitted": "auto-replied", "In-Reply-To": sent.message_id },
      "I am out of the office until Monday.\r\n",
    );
    const auto = await bounceBack(away, sent.envelope_from);
    expect(auto.decision.bounce).toMatchObject({ kind: "auto_reply", effects: { bounced: [], counted: [] } });
    message = await ok("GET", `/v1/messages/${sent.id}`);
    expect(message.status).toBe("sent");
    expect(message.events.map((e: any) => e.type)).toContain("auto_reply");
    expect((await api("GET", `/v1/contacts/${encodeURIComponent(slow)}`)).status).toBe(404);
  });

  it("finds the original by its Message-ID when the report comes to the plain bounce address", async () => {
    const domain = await sender();
    const a = `${unique("a")}@example.org`;
    const b = `${unique("b")}@example.org`;
    const sent = await sendTo(domain, [a, b]);
    const report = await bounceBack(dsn(`bounce@${domain}`, sent, [{ address: b }]), `bounce@${domain}`);
    expect(report.decision.bounce).toMatchObject({ kind: "bounce", verp: null, original_id: sent.id, effects: { bounced: [b] } });
    const message = await ok("GET", `/v1/messages/${sent.id}`);
    expect(message.recipients.map((r: any) => [r.address, r.status])).toEqual([
      [a, "sent"],
      [b, "bounced"],
    ]);

    // A report about someone the message was not sent to changes nothing.
    const stranger = `${unique("stranger")}@example.org`;
    const stray = await bounceBack(dsn(`bounce@${domain}`, sent, [{ address: stranger }]), `bounce@${domain}`);
    expect(stray.decision.bounce).toMatchObject({ kind: "bounce", recipient: stranger, effects: { bounced: [], counted: [], suppressed: [] } });
    expect((await api("GET", `/v1/contacts/${encodeURIComponent(stranger)}`)).status).toBe(404);
  });

  it("route-test reads a report given whole, and changes nothing", async () => {
    const domain = await sender();
    const rcpt = `${unique("tested")}@example.org`;
    const sent = await sendTo(domain, [rcpt]);
    const raw = dsn(sent.envelope_from, sent, [{ address: rcpt }]);
    const tested = await ok("POST", "/v1/route-test", { from: "", to: sent.envelope_from, raw });
    expect(tested.decision).toMatchObject({ reason: "bounce", bounce: { kind: "bounce", recipient: rcpt, status: "5.1.1", verp: "valid", original_message_id: sent.message_id } });
    expect((await ok("GET", `/v1/messages/${sent.id}`)).status).toBe("sent");
    expect((await api("GET", `/v1/contacts/${encodeURIComponent(rcpt)}`)).status).toBe(404);
  });

  it("ignores a report whose VERP token is forged", async () => {
    const domain = await sender();
    const rcpt = `${unique("victim")}@example.org`;
    const sent = await sendTo(domain, [rcpt]);
    const forgedTo = sent.envelope_from.replace(/-([0-9a-f]{10})@/, (_: string, sig: string) => `-${sig.startsWith("0") ? "1" : "0"}${sig.slice(1)}@`);
    expect(forgedTo).not.toBe(sent.envelope_from);
    const report = await bounceBack(dsn(forgedTo, sent, [{ address: rcpt }]), forgedTo);
    expect(report.decision.bounce).toMatchObject({ kind: "bounce", verp: "invalid", original_id: null, effects: { bounced: [], suppressed: [] } });
    expect((await ok("GET", `/v1/messages/${sent.id}`)).status).toBe("sent");
    expect((await api("GET", `/v1/contacts/${encodeURIComponent(rcpt)}`)).status).toBe(404);
  });

  it("suppresses the recipient who complained through a feedback report", async () => {
    const domain = await sender();
    const rcpt = `${unique("angry")}@example.org`;
    const sent = await sendTo(domain, [rcpt]);
    const boundary = unique("arf");
    const arf = mime(
      {
        From: "Feedback Loop <fbl@isp.example>",
        To: sent.envelope_from,
        Subject: "FW: Your invoice",
        "MIME-Version": "1.0",
        "Content-Type": `multipart/report; report-type=feedback-report; boundary="${boundary}"`,
      },
      [
        `--${boundary}\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n`,
        `--${boundary}\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: isp-fbl/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <${rcpt}>\r\n`,
        `--${boundary}\r\nContent-Type: message/rfc822\r\n\r\nFrom: Sales <sales@${domain}>\r\nTo: ${rcpt}\r\nSubject: Your invoice\r\nMessage-ID: ${sent.message_id}\r\n\r\nAttached.\r\n`,
        `--${boundary}--\r\n`,
      ].join(""),
    );
    const report = await bounceBack(arf, sent.envelope_from);
    expect(report.decision.bounce).toMatchObject({ kind: "feedback", feedback_type: "abuse", recipient: rcpt, effects: { suppressed: [{ email: rcpt, reason: "complaint" }] } });
    expect(await contact(rcpt)).toMatchObject({ suppressed: true, suppressed_reason: "complaint", bounce_count: 0 });
    expect((await ok("GET", `/v1/messages/${sent.id}`)).events.map((e: any) => e.type)).toContain("complaint");
  });
});
