/**
 * Outbound mail as a real server sees it (issue 7, items 13-20), against
 * the real Postfix on loopback (test/node/postfix.ts): no Return-Path of
 * ours, RFC 2231 names Python reads without a defect, the right domain in
 * From, Reply-To and EHLO, our own addresses never notified, attachment-only
 * mail notified, and TLS failures named.
 */
import PostalMime from "postal-mime";
import { describe, expect, inject, it } from "vitest";
import { readSyncRefusal } from "../src/inbound/bounce-report";
import {
  api,
  createAlias,
  deliver,
  findMessage,
  headerValues,
  messageIdOf,
  mime,
  ok,
  onlyRelays,
  postfixDelivered,
  runJobs,
  runSendJobs,
  send,
  sendAndDeliver,
  setupDomain,
  smtpOutcome,
  smtpRelay,
  unique,
} from "./helpers";

/** Runs the queued deliveries (notifications, webhooks) of an inbound message, then the sends they queued. */
async function runDeliveriesOf(messageId: string): Promise<any> {
  const message = await findMessage(messageId);
  await runJobs(
    "deliver",
    message.deliveries.map((d: any) => d.id),
  );
  const after = await findMessage(messageId);
  const sent = after.events.filter((e: any) => e.type === "notify_delivered").flatMap((e: any) => e.detail.messages ?? []);
  if (sent.length) await runSendJobs(sent);
  return after;
}

describe("no Return-Path of ours (item 15)", () => {
  it("composed mail carries none; Postfix writes the only one, from the envelope", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    const rcpt = `${unique("rp")}@example.org`;
    const { answer } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "Return-Path", text: "x" });
    const raw = (await api("GET", `/v1/messages/${answer.id}/raw`)).body as string;
    expect(raw).not.toMatch(/^Return-Path:/im);
    const [copy] = await postfixDelivered(rcpt);
    expect(headerValues(copy, "Return-Path")).toEqual([`<${answer.envelope_from}>`]);
  });
});

describe("non-ASCII names (item 16)", () => {
  it("attachment names per RFC 2231, subjects and display names as encoded words: no defect for Python's policy.SMTP, the same names for postal-mime", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    const rcpt = `${unique("names")}@example.org`;
    const names = ["Résumé — “final” version.pdf", "日本語の資料.txt", 'quote " and \\ backslash.txt', `${"long name ".repeat(12)}é.txt`];
    const { answer } = await sendAndDeliver({
      from: `"Zoë Ünlü" <zoe@${domain}>`,
      to: [`"Jürgen Groß" <${rcpt}>`],
      subject: "Über die Grüße — a subject with “quotes” and 日本語",
      text: "Bonjour ☕",
      attachments: names.map((filename) => ({ filename, content: btoa("data"), content_type: "application/octet-stream" })),
    });
    const raw = (await api("GET", `/v1/messages/${answer.id}/raw`)).body as string;
    // Never an encoded word inside a quoted parameter.
    expect(raw).not.toMatch(/name="=\?/i);
    expect(raw).toMatch(/^ filename\*0\*=utf-8''R%C3%A9sum%C3%A9/m);
    // Encoded text folds within 78 characters a line (RFC 5322 2.1.1); only unbreakable ids may be longer.
    expect(raw.split("\r\n").filter((line) => line.length > 78 && /=\?|\*=|%[0-9A-F]{2}/.test(line))).toEqual([]);
    const parsed = await PostalMime.parse(raw);
    expect(parsed.attachments.map((a) => a.filename)).toEqual(names);

    const [copy] = await postfixDelivered(rcpt);
    expect(copy.python.defects).toEqual([]);
    expect(copy.python.subject).toBe("Über die Grüße — a subject with “quotes” and 日本語");
    expect(copy.python.from).toEqual([{ name: "Zoë Ünlü", address: `zoe@${domain}` }]);
    expect(copy.python.to).toEqual([{ name: "Jürgen Groß", address: rcpt }]);
    expect(copy.python.parts.filter((p: any) => p.filename).map((p: any) => p.filename)).toEqual(names);
  });
});

describe("the right domain everywhere it can be known (item 17)", () => {
  it("notifications for a thread reached through an alias pinned to it go out from that alias's domain; EHLO is the From's domain", async () => {
    // The first domain by sequence and name is another company's.
    const other = await setupDomain({ company_name: "Other Co", sequence: 0 });
    const domain = await setupDomain({ company_name: "Acme", sequence: 5 });
    await onlyRelays([smtpRelay("postfix:plain")]);
    const follower = `${unique("follower")}@example.org`;
    const thread = await ok("POST", "/v1/threads", { subject: "Pinned", followers: [{ email: follower }] }, 201);
    const pinned = await createAlias({ name: unique("desk"), domain, thread_id: thread.id, contact: "everyone" });
    const inbound = mime({ From: "Client <client@example.net>", To: pinned.address, Subject: "Help" });
    expect(smtpOutcome(await deliver({ to: pinned.address, raw: inbound }))).toBe("accepted");
    await runDeliveriesOf(messageIdOf(inbound));

    const [copy] = await postfixDelivered(follower);
    expect(copy.python.from).toEqual([{ name: "Client", address: `notifications@${domain}` }]);
    expect(copy.python.reply_to[0].address).toBe(pinned.address);
    expect(copy.python.message_id).toMatch(new RegExp(`@${domain.replace(/\./g, "\\.")}>$`));
    expect(headerValues(copy, "Received")[0]).toMatch(new RegExp(`^from ${domain.replace(/\./g, "\\.")} `));
    expect(JSON.stringify(copy.headers)).not.toContain(other);
  });

  it("a reply into a thread the send API opened notifies from the domain the thread was sent from", async () => {
    await setupDomain({ company_name: "Other Co", sequence: 0 });
    const domain = await setupDomain({ company_name: "Acme", sequence: 5 });
    await onlyRelays([smtpRelay("postfix:plain")]);
    const colleague = `${unique("colleague")}@example.org`;
    const first = await send({ from: `sales@${domain}`, to: ["customer@example.net"], cc: [colleague], subject: "Offer", text: "Our offer" });
    await runSendJobs([first.id]);
    const reply = mime({ From: "customer@example.net", To: `catchall@${domain}`, Subject: "Re: Offer", "In-Reply-To": first.message_id });
    expect(smtpOutcome(await deliver({ to: `catchall@${domain}`, raw: reply }))).toBe("accepted");
    await runDeliveriesOf(messageIdOf(reply));
    const copies = await postfixDelivered(colleague);
    const notification = copies.find((c: any) => c.python.subject === "Re: Offer");
    expect(notification.python.from).toEqual([{ name: "customer", address: `notifications@${domain}` }]);
    expect(notification.python.reply_to[0].address).toBe(`catchall@${domain}`);
  });
});

describe("our own addresses never follow a thread (item 18)", () => {
  it("sending from an alias into a thread does not make it a follower, and replies never notify it", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    const alias = await createAlias({ name: unique("team"), domain });
    const sent = await send({ from: alias.address, to: ["customer@example.net"], cc: [`catchall@${domain}`, `bounce@${domain}`], subject: "Update", text: "x" });
    const thread = await ok("GET", `/v1/threads/${sent.thread_id}`);
    expect(thread.followers.map((f: any) => f.email)).toEqual(["customer@example.net"]);
    // Asking for it explicitly is refused.
    const refused = await api("POST", `/v1/threads/${sent.thread_id}/followers`, { email: alias.address });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain("our own address");
  });
});

describe("mail with only an attachment (item 13)", () => {
  it("is notified at once with an empty text body and the attachment, never retried", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain")]);
    const follower = `${unique("scan")}@example.org`;
    const alias = await createAlias({ name: unique("scans"), domain, followers: [{ email: follower }] });
    const body = [
      "--b",
      "Content-Type: application/pdf; name=scan.pdf",
      "Content-Disposition: attachment; filename=scan.pdf",
      "Content-Transfer-Encoding: base64",
      "",
      btoa("%PDF-1.4 scan"),
      "--b--",
      "",
    ].join("\r\n");
    const raw = mime({ From: "scanner@office.example", To: alias.address, Subject: "Scan", "Content-Type": "multipart/mixed; boundary=b" }, body);
    expect(smtpOutcome(await deliver({ to: alias.address, raw }))).toBe("accepted");
    const message = await runDeliveriesOf(messageIdOf(raw));
    expect(message.deliveries.find((d: any) => d.type === "notify")).toMatchObject({ status: "delivered", attempts: 1 });
    const [copy] = await postfixDelivered(follower);
    expect(copy.python.defects).toEqual([]);
    expect(copy.python.parts.map((p: any) => [p.content_type, p.filename])).toEqual([
      ["text/plain", null],
      ["application/pdf", "scan.pdf"],
    ]);
  });
});

describe("a refusal at RCPT time counts like a DSN (item 19)", () => {
  const table: [string, string, { status: string; hard: boolean } | null][] = [
    ["550", "5.1.1 <a@b.example>: Recipient address rejected: User unknown in virtual mailbox table", { status: "5.1.1", hard: true }],
    ["550", "No such user here", { status: "5.0.0", hard: true }],
    ["552", "5.2.2 Mailbox full", { status: "5.2.2", hard: false }],
    ["550", "5.2.1 The email account that you tried to reach is disabled", { status: "5.2.1", hard: false }],
    ["554", "5.7.1 Message rejected as spam", null],
    ["550", "5.7.1 Relaying denied", null],
    ["552", "5.3.4 Message size exceeds fixed limit", null],
    ["451", "4.3.0 Try again later", null],
    ["250", "2.1.5 Ok", null],
  ];
  for (const [code, text, expected] of table) {
    it(`reads "${code} ${text}" as ${JSON.stringify(expected)}`, () => {
      expect(readSyncRefusal(code, text)).toEqual(expected);
    });
  }

  it("Postfix's 550 5.1.1 User unknown: the recipient fails, the contact is counted and suppressed as a hard bounce, and the send API then refuses it", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    const gone = `unknown${unique()}@example.org`;
    const kept = `${unique("kept")}@example.org`;
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [gone, kept], subject: "Invoice", text: "x" });
    expect(message.status).toBe("sent");
    expect(message.recipients.map((r: any) => [r.address, r.status, r.last_code])).toEqual([
      [gone, "failed", "550"],
      [kept, "sent", "250"],
    ]);
    expect(message.recipients[0].last_error).toMatch(/5\.1\.1 .*User unknown in virtual mailbox table/);
    const event = message.events.find((e: any) => e.type === "bounced");
    expect(event.detail).toMatchObject({ recipient: gone, status: "5.1.1", hard: true, learned_from: "smtp", suppressed: "hard_bounce" });
    expect(await ok("GET", `/v1/contacts/${encodeURIComponent(gone)}`)).toMatchObject({ bounce_count: 1, suppressed: true, suppressed_reason: "hard_bounce" });
    expect((await api("POST", "/v1/messages", { from: `mary@${domain}`, to: [gone], subject: "again", text: "x" })).status).toBe(422);
    expect((await api("GET", `/v1/contacts/${encodeURIComponent(kept)}`)).status).toBe(404);
  });

  it("a temporary refusal at RCPT (Postfix's 450) is retried, never counted", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    const rcpt = `${unique("policy")}@example.org`;
    // A 4xx at RCPT (Postfix's 450 for defer*) is not a bounce either: it is retried.
    const deferred = `defer${unique()}@example.org`;
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt, deferred], subject: "x", text: "x" });
    expect(message.recipients.find((r: any) => r.address === deferred)).toMatchObject({ status: "pending", last_code: "450" });
    expect(message.events.filter((e: any) => e.type === "bounced")).toEqual([]);
    expect((await api("GET", `/v1/contacts/${encodeURIComponent(deferred)}`)).status).toBe(404);
  });

  it("Postmark's inactive recipient (422, ErrorCode 406) is suppressed like a hard bounce", async () => {
    const domain = await setupDomain();
    const mail = inject("mail");
    await onlyRelays([{ name: "postmark", type: "postmark", from_filter: domain, config: { server_token: mail.credentials.postmark, base_url: `${mail.control}/postmark` } }]);
    const inactive = `inactive${unique()}@example.org`;
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [inactive], subject: "x", text: "x" });
    expect(message.recipients).toMatchObject([{ address: inactive, status: "failed", last_code: "406" }]);
    expect(await ok("GET", `/v1/contacts/${encodeURIComponent(inactive)}`)).toMatchObject({ bounce_count: 1, suppressed: true, suppressed_reason: "hard_bounce" });
  });
});

describe("a real DSN from Postfix", () => {
  it("Postfix accepts, then bounces to our VERP address; the DSN it wrote marks the recipient bounced and suppresses the address", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain })]);
    const gone = `bounce-later${unique()}@example.org`;
    const { answer, message } = await sendAndDeliver({ from: `mary@${domain}`, to: [gone], subject: "Invoice 7", text: "x" });
    expect(message.recipients).toMatchObject([{ address: gone, status: "sent" }]);
    expect(answer.envelope_from).toMatch(/^bounce\+/);
    // Postfix delivers its DSN to the envelope sender: our VERP address, on a domain it takes as local.
    const [dsn] = await postfixDelivered(answer.envelope_from, 15_000);
    expect(headerValues(dsn, "From")[0]).toContain("MAILER-DAEMON@postfix.test");
    const raw = dsn.raw.replace(/\r?\n/g, "\r\n");
    expect(smtpOutcome(await deliver({ from: "", to: answer.envelope_from, raw }))).toBe("accepted");
    const report = await findMessage(headerValues(dsn, "Message-ID")[0]!, answer.envelope_from);
    expect(report.decision).toMatchObject({ reason: "bounce", bounce: { kind: "bounce", recipient: gone, status: "5.1.1", verp: "valid", original_id: answer.id } });
    expect((await ok("GET", `/v1/messages/${answer.id}`)).recipients).toMatchObject([{ address: gone, status: "bounced", last_code: "5.1.1" }]);
    expect(await ok("GET", `/v1/contacts/${encodeURIComponent(gone)}`)).toMatchObject({ suppressed: true, suppressed_reason: "hard_bounce" });
  });
});

describe("TLS failures say what failed (item 20)", () => {
  const cases = [
    ["untrusted", /STARTTLS\) failed: the server's certificate (chain ends at "CN=localhost", which is not a trusted root|is self-signed)/],
    ["wrongname", /STARTTLS\) failed: the server's certificate is for .*other\.example.*, not 127\.0\.0\.1/],
    ["implicit_untrusted", /implicit TLS\) failed: the server's certificate (chain ends at "CN=localhost", which is not a trusted root|is self-signed)/],
  ] as const;
  for (const [service, reason] of cases) {
    it(`${service}: the attempt names the cause; the next relay sends it, and both attempts stay visible`, async () => {
      const domain = await setupDomain();
      const [broken, fallback] = await onlyRelays([
        smtpRelay(`postfix:${service}`, { from_filter: domain, sequence: 1 }),
        smtpRelay("postfix:plain", { from_filter: domain, sequence: 2 }),
      ]);
      const rcpt = `${unique("tls")}@example.org`;
      const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [rcpt], subject: "TLS", text: "x" });
      expect(message.status).toBe("sent");
      expect(message.attempts.map((a: any) => [a.relay_id, a.result])).toEqual([
        [broken.id, "relay_error"],
        [fallback.id, "sent"],
      ]);
      expect(message.attempts[0].error).toMatch(reason);
      expect(message.attempts[0].error).not.toMatch(/internal error|reference =/);
    });
  }

  it("a plaintext server on a port configured for implicit TLS is named as such", async () => {
    const domain = await setupDomain();
    await onlyRelays([smtpRelay("postfix:plain", { from_filter: domain }, { security: "tls", timeout_ms: 5000 })]);
    const { message } = await sendAndDeliver({ from: `mary@${domain}`, to: [`${unique("p")}@example.org`], subject: "TLS", text: "x" });
    expect(message.status).toBe("queued");
    expect(message.attempts[0].error).toMatch(/speaks plaintext SMTP on port \d+/);
  });
});
