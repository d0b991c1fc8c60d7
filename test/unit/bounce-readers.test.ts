/**
 * The bounce readers (src/inbound/bounce-report/) on small inline messages,
 * one row each, in plain Node. A row gives the message, the readers that
 * recognise it on their own (`claimedBy`, in the order readBounceReport
 * tries them: where several do, the order decides), and the whole report
 * readBounceReport returns, every field of every recipient, so that any
 * change in what a reader reads fails here. The shapes follow the real
 * formats of test/fixtures/bounces and the sisimai corpus
 * (test/node/bounce-fixtures.test.ts, test/node/bounce-corpus.test.ts),
 * which pin the behaviour on real mail.
 */
import { describe, expect, it } from "vitest";
import { readFeedbackReport } from "../../src/inbound/bounce-report/arf.ts";
import { readAutoReply } from "../../src/inbound/bounce-report/auto-reply.ts";
import { readDeliveryReport } from "../../src/inbound/bounce-report/dsn.ts";
import { type BounceReport, type ReportedRecipient, type ReportKind, readBounceReport, readSyncRefusal } from "../../src/inbound/bounce-report/index.ts";
import { MAX_PARSE_LINES } from "../../src/inbound/bounce-report/limits.ts";
import { parseReport } from "../../src/inbound/bounce-report/parse.ts";
import { readSesNotification } from "../../src/inbound/bounce-report/ses.ts";

/** The readers of index.ts's list, by name, in its order. */
const READERS = { feedback: readFeedbackReport, ses: readSesNotification, delivery: readDeliveryReport, "auto-reply": readAutoReply } as const;
type ReaderName = keyof typeof READERS;

// ---------------------------------------------------------------------------
// Messages

/** A message from its header lines and body lines, CRLF as on the wire. */
function mail(headers: string[], ...body: string[]): string {
  return [...headers, "", ...body].join("\r\n");
}

const BOUNDARY = "b0undary";
type Part = [contentType: string, ...lines: string[]];

/** A multipart/report (RFC 6522) of these parts; `reportType` null: a Content-Type that does not say which. */
function multipartReport(reportType: string | null, headers: string[], ...parts: Part[]): string {
  const type = `multipart/report;${reportType ? ` report-type=${reportType};` : ""} boundary="${BOUNDARY}"`;
  const body = parts.flatMap(([partType, ...lines]) => [`--${BOUNDARY}`, `Content-Type: ${partType}`, "", ...lines, ""]);
  return mail([...headers, "MIME-Version: 1.0", `Content-Type: ${type}`], ...body, `--${BOUNDARY}--`);
}

/** The header block of the message we sent, as reports return it. */
const ORIGINAL = [
  "From: Sales <sales@example.com>",
  "To: nobody@example.org",
  "Subject: Your quote",
  "Message-ID: <quote-1@example.com>",
  "X-Mailgate-Message-Id: <mg-1@mailgate.test>",
];
/** Its ids as the readers find them: ours first. */
const ORIGINAL_IDS = ["<mg-1@mailgate.test>", "<quote-1@example.com>"];
const DAEMON = ["From: Mail Delivery System <MAILER-DAEMON@mx.example.net>", "To: bounce+1@example.com", "Return-Path: <>"];
const dsnPart = (...fields: string[]): Part => ["message/delivery-status", "Reporting-MTA: dns; mx.example.net", "", ...fields];
const sesMail = (from: string, subject: string, json: unknown) => mail([`From: ${from}`, "To: ops@example.com", `Subject: ${subject}`], JSON.stringify(json));

// ---------------------------------------------------------------------------
// Expected reports

function report(kind: ReportKind | null, recipients: ReportedRecipient[] = [], more: Partial<BounceReport> = {}): BounceReport {
  return { kind, recipients, feedbackType: null, originalMessageIds: [], ...more };
}

function recipient(address: string, fields: Partial<ReportedRecipient> = {}): ReportedRecipient {
  return { recipient: address, action: null, status: null, diagnostic: null, remoteMta: null, hard: false, ...fields };
}

const failed = (address: string, status: string | null, diagnostic: string | null, hard: boolean, remoteMta: string | null = null) =>
  recipient(address, { action: "failed", status, diagnostic, hard, remoteMta });
const delayed = (address: string, status: string | null, diagnostic: string | null) => recipient(address, { action: "delayed", status, diagnostic });

interface Row {
  name: string;
  message: string;
  claimedBy: ReaderName[];
  expected: BounceReport;
}

const rows: Row[] = [
  // RFC 3464 delivery status notifications (dsn.ts)
  {
    name: "DSN: Status 5.1.1, a hard bounce with its diagnostic, remote MTA and our ids",
    message: multipartReport(
      "delivery-status",
      [...DAEMON, "Subject: Undelivered Mail Returned to Sender"],
      [
        "text/plain",
        "This is the mail system at host mx.example.net.",
        "",
        "<nobody@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1",
        "    <nobody@example.org>: Recipient address rejected: User unknown",
      ],
      dsnPart(
        "Final-Recipient: rfc822; nobody@example.org",
        "Original-Recipient: rfc822;nobody@example.org",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mx.example.org",
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address",
        "    rejected: User unknown",
      ),
      ["text/rfc822-headers", ...ORIGINAL],
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [failed("nobody@example.org", "5.1.1", "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown", true, "mx.example.org")], {
      originalMessageIds: ORIGINAL_IDS,
    }),
  },
  {
    name: "DSN: delayed 4.x, the diagnostic's 4.7.1 over the Status summary 4.4.7",
    message: multipartReport(
      "delivery-status",
      [...DAEMON, "Subject: Delayed Mail (still being retried)"],
      ["text/plain", "This is a warning message only. The message has not yet been delivered."],
      dsnPart("Final-Recipient: rfc822; slow@example.org", "Action: delayed", "Status: 4.4.7", "Diagnostic-Code: smtp; 450 4.7.1 Greylisted, try again later"),
      ["text/rfc822-headers", ...ORIGINAL],
    ),
    claimedBy: ["delivery"],
    expected: report("delayed", [delayed("slow@example.org", "4.7.1", "450 4.7.1 Greylisted, try again later")], { originalMessageIds: ORIGINAL_IDS }),
  },
  {
    name: "DSN: generic 5.0.0 whose words say the mailbox does not exist (hard)",
    message: multipartReport(
      "delivery-status",
      [...DAEMON, "Subject: Delivery Status Notification (Failure)"],
      ["text/plain", "Delivery to the following recipient failed permanently:", "", "     gone@example.org"],
      dsnPart("Final-Recipient: rfc822; gone@example.org", "Action: failed", "Status: 5.0.0", "Diagnostic-Code: smtp; 550 No such user here"),
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [failed("gone@example.org", "5.0.0", "550 No such user here", true)]),
  },
  {
    name: "DSN: a failed recipient never gets the 2.x.x of a quoted transcript (5.2.2 mailbox full, not hard)",
    message: multipartReport(
      "delivery-status",
      [...DAEMON, "Subject: Returned mail: see transcript for details"],
      ["text/plain", "   ----- The following addresses had permanent fatal errors -----", "<full@example.org>"],
      dsnPart("Final-Recipient: rfc822; full@example.org", "Action: failed", "Status: 2.0.0", "Diagnostic-Code: smtp; 250 2.1.5 Ok; then 552 5.2.2 Mailbox full"),
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [failed("full@example.org", "5.2.2", "250 2.1.5 Ok; then 552 5.2.2 Mailbox full", false)]),
  },
  {
    name: "DSN: a success notification reads as delivered",
    message: multipartReport(
      "delivery-status",
      [...DAEMON, "Subject: Successful Mail Delivery Report"],
      ["text/plain", "Your message was successfully delivered to the destination(s) listed below."],
      dsnPart("Final-Recipient: rfc822; ok@example.org", "Action: delivered", "Status: 2.0.0", "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 4F1"),
      ["text/rfc822-headers", ...ORIGINAL],
    ),
    claimedBy: ["delivery"],
    expected: report("delivered", [recipient("ok@example.org", { action: "delivered", status: "2.0.0", diagnostic: "250 2.0.0 Ok: queued as 4F1" })], {
      originalMessageIds: ORIGINAL_IDS,
    }),
  },
  {
    name: "DSN: a read receipt (report-type=disposition-notification) is no delivery report",
    message: multipartReport(
      "disposition-notification",
      [...DAEMON, "Subject: Read: Your quote"],
      ["text/plain", "Your message was read."],
      ["message/disposition-notification", "Final-Recipient: rfc822; reader@example.org", "Disposition: manual-action/MDN-sent-manually; displayed"],
    ),
    claimedBy: [],
    expected: report(null),
  },

  // Text bounces (text-bounces.ts, through the delivery-report reader)
  {
    name: "text: qmail, the address alone on its line, our ids from the quoted copy",
    message: mail(
      ["From: MAILER-DAEMON@mx.example.net", "To: bounce+1@example.com", "Subject: failure notice", "Return-Path: <>"],
      "Hi. This is the qmail-send program at mx.example.net.",
      "I'm afraid I wasn't able to deliver your message to the following addresses.",
      "This is a permanent error; I've given up. Sorry it didn't work out.",
      "",
      "<nobody@example.org>:",
      "192.0.2.1 does not like recipient.",
      "Remote host said: 550 5.1.1 <nobody@example.org>... User unknown",
      "Giving up on 192.0.2.1.",
      "",
      "--- Below this line is a copy of the message.",
      "",
      ...ORIGINAL,
      "",
      "Hello",
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [failed("nobody@example.org", "5.1.1", "Remote host said: 550 5.1.1 <nobody@example.org>... User unknown", true)], {
      originalMessageIds: ORIGINAL_IDS,
    }),
  },
  {
    name: "text: Exim with X-Failed-Recipients, 5.2.2 mailbox full (not hard)",
    message: mail(
      [
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>",
        "To: bounce+1@example.com",
        "Subject: Mail delivery failed: returning message to sender",
        "X-Failed-Recipients: full@example.org",
      ],
      "This message was created automatically by mail delivery software.",
      "",
      "A message that you sent could not be delivered to one or more of its",
      "recipients. This is a permanent error. The following address(es) failed:",
      "",
      "  full@example.org",
      "    host mx.example.org [192.0.2.1]",
      "    SMTP error from remote mail server after RCPT TO:<full@example.org>:",
      "    552 5.2.2 Mailbox full",
      "",
      "------ This is a copy of the message, including all the headers. ------",
      "",
      ...ORIGINAL,
      "",
      "Hello",
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [failed("full@example.org", "5.2.2", "552 5.2.2 Mailbox full", false)], { originalMessageIds: ORIGINAL_IDS }),
  },
  {
    name: "text: Sendmail transcript, the failing reply line as diagnostic",
    message: mail(
      ["From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>", "To: bounce+1@example.com", "Subject: Returned mail: User unknown", "Return-Path: <>"],
      "The original message was received at Mon, 1 Jan 2024 10:00:00 GMT",
      "",
      "   ----- The following addresses had permanent fatal errors -----",
      "<nobody@example.org>",
      "",
      "   ----- Transcript of session follows -----",
      "... while talking to mx.example.org.:",
      ">>> RCPT To:<nobody@example.org>",
      "<<< 550 5.1.1 <nobody@example.org>... User unknown",
      "550 nobody@example.org... User unknown",
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [failed("nobody@example.org", "5.1.1", "<<< 550 5.1.1 <nobody@example.org>... User unknown", true)]),
  },
  {
    name: "text: prose 'could not be delivered to', no code; the postmaster to write to is no recipient",
    message: mail(
      ["From: postmaster@mail.example.net", "To: sales@example.com", "Subject: Undeliverable: Your quote"],
      "Your message could not be delivered to nobody@example.org because the address was not found.",
      "If the problem persists, write to postmaster@mail.example.net.",
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [
      failed(
        "nobody@example.org",
        null,
        "Your message could not be delivered to nobody@example.org because the address was not found. If the problem persists, write to postmaster@mail.example.net.",
        false,
      ),
    ]),
  },
  {
    name: "text: Exim delay warning reads as delayed (a bounce marked auto-replied stays a report)",
    message: mail(
      [
        "From: Mail Delivery System <Mailer-Daemon@mx.example.net>",
        "To: bounce+1@example.com",
        "Subject: Warning: message 1abc-0001 delayed 24 hours",
        "Auto-Submitted: auto-replied",
      ],
      "This message was created automatically by mail delivery software.",
      "A message that you sent has not yet been delivered to one or more of its",
      "recipients after more than 24 hours on the queue on mx.example.net.",
      "",
      "The address to which the message has not yet been delivered is:",
      "",
      "  slow@example.org",
      "    host mx.example.org [192.0.2.1]",
      "    Delay reason: SMTP error from remote mail server after RCPT TO:<slow@example.org>:",
      "    451 4.7.1 Greylisted",
      "",
      "No action is required on your part. Delivery attempts will continue for",
      "some time, and this warning may be repeated at intervals if the message",
      "remains undelivered.",
    ),
    claimedBy: ["delivery", "auto-reply"],
    expected: report("delayed", [delayed("slow@example.org", "4.7.1", "451 4.7.1 Greylisted")]),
  },
  {
    name: "text: a bounce with Auto-Submitted: auto-replied is a bounce, not an auto-reply",
    message: mail(
      ["From: MAILER-DAEMON@mx.example.net", "To: bounce+1@example.com", "Subject: Undelivered Mail Returned to Sender", "Auto-Submitted: auto-replied", "Return-Path: <>"],
      "<nobody@example.org>: host mx.example.org said: 550 5.1.1 User unknown",
    ),
    claimedBy: ["delivery", "auto-reply"],
    expected: report("bounce", [failed("nobody@example.org", "5.1.1", "host mx.example.org said: 550 5.1.1 User unknown", true)]),
  },
  {
    name: "text: null-sender mail quoting a bounce reads as one (weak evidence, failure words)",
    message: mail(
      ["From: Bob <bob@example.org>", "To: sales@example.com", "Subject: Re: Undeliverable: Your quote", "Return-Path: <>"],
      "Why did this fail?",
      "",
      "> Your message could not be delivered to nobody@example.org",
      "> 550 5.1.1 User unknown",
    ),
    claimedBy: ["delivery"],
    expected: report("bounce", [failed("nobody@example.org", "5.1.1", "> 550 5.1.1 User unknown", true)]),
  },
  {
    name: "human: a person's reply quoting a bounce is no report",
    message: mail(
      ["From: Bob <bob@example.org>", "To: sales@example.com", "Subject: Re: Undeliverable: Your quote"],
      "Why did this fail?",
      "",
      "> Your message could not be delivered to nobody@example.org",
      "> 550 5.1.1 User unknown",
    ),
    claimedBy: [],
    expected: report(null),
  },
  {
    name: "human: mail that mentions an address, a failure and a code is no report",
    message: mail(
      ["From: Bob <bob@example.org>", "To: sales@example.com", "Subject: Your quote"],
      "Hi, my colleague carol@example.org said the delivery failed (550?).",
      "Could you resend?",
      "",
      "Bob",
      "bob@example.org",
    ),
    claimedBy: [],
    expected: report(null),
  },

  // Feedback reports (arf.ts)
  {
    name: "ARF: abuse complaint, Original-Rcpt-To normalized, our ids from the reported message",
    message: multipartReport(
      "feedback-report",
      ["From: Feedback Loop <fbl@isp.example>", "To: abuse@example.com", "Subject: Abuse report"],
      ["text/plain", "This is an email abuse report for an email message received from IP 192.0.2.9."],
      [
        "message/feedback-report",
        "Feedback-Type: abuse",
        "User-Agent: SomeGenerator/1.0",
        "Version: 1",
        "Original-Mail-From: <bounce+1@example.com>",
        "Original-Rcpt-To: <Complainer@ISP.example>",
        "Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT",
      ],
      ["message/rfc822", ...ORIGINAL, "", "Hello"],
    ),
    claimedBy: ["feedback"],
    expected: report("feedback", [recipient("complainer@isp.example")], { feedbackType: "abuse", originalMessageIds: ORIGINAL_IDS }),
  },
  {
    name: "ARF: no Original-Rcpt-To, the To of the reported message; Feedback-Type's first word",
    message: multipartReport(
      "feedback-report",
      ["From: Feedback Loop <fbl@isp.example>", "To: abuse@example.com", "Subject: Complaint"],
      ["message/feedback-report", "Feedback-Type: opt-out; whatever", "Version: 1"],
      ["message/rfc822", ...ORIGINAL, "", "Hello"],
    ),
    claimedBy: ["feedback"],
    expected: report("feedback", [recipient("nobody@example.org")], { feedbackType: "opt-out", originalMessageIds: ORIGINAL_IDS }),
  },
  {
    name: "ARF: a complaint that also looks like a delivery report (untyped multipart/report from a daemon) stays a complaint",
    message: multipartReport(
      null,
      [...DAEMON, "Subject: Delivery Status Notification: complaint"],
      ["message/feedback-report", "Feedback-Type: abuse", "Original-Rcpt-To: someone@isp.example"],
      ["text/rfc822-headers", ...ORIGINAL],
    ),
    claimedBy: ["feedback", "delivery"],
    expected: report("feedback", [recipient("someone@isp.example")], { feedbackType: "abuse", originalMessageIds: ORIGINAL_IDS }),
  },
  {
    name: "feedback: Apple Mail's unsubscribe (also marked auto-replied) is an opt-out from its sender",
    message: mail(
      ["From: Sub Scriber <Sub.Scriber@icloud.example>", "To: opt-out-1@example.com", "Subject: unsubscribe", "Auto-Submitted: auto-replied", "X-Apple-Unsubscribe: true"],
      "Apple Mail sent this email to unsubscribe.",
    ),
    claimedBy: ["feedback", "auto-reply"],
    expected: report("feedback", [recipient("sub.scriber@icloud.example")], { feedbackType: "opt-out" }),
  },
  {
    name: "feedback: Microsoft JMRP, the complainant in a header of the attached message",
    message: mail(
      [
        "From: staff@hotmail.example",
        "To: fbl@example.com",
        "Subject: complaint about message from 192.0.2.9",
        "MIME-Version: 1.0",
        `Content-Type: multipart/mixed; boundary="${BOUNDARY}"`,
      ],
      "",
      `--${BOUNDARY}`,
      "Content-Type: text/plain",
      "",
      "This is a complaint.",
      `--${BOUNDARY}`,
      "Content-Type: message/rfc822",
      "",
      "X-HmXmrOriginalRecipient: <victim@hotmail.example>",
      ...ORIGINAL,
      "",
      "Hello",
      `--${BOUNDARY}--`,
    ),
    claimedBy: ["feedback"],
    expected: report("feedback", [recipient("victim@hotmail.example")], { feedbackType: "abuse", originalMessageIds: ORIGINAL_IDS }),
  },

  // Amazon SES notifications (ses.ts)
  {
    name: "SES: permanent bounce in an SNS envelope",
    message: sesMail("AWS Notifications <no-reply@sns.amazonaws.com>", "AWS Notification Message", {
      Type: "Notification",
      Message: JSON.stringify({
        notificationType: "Bounce",
        bounce: {
          bounceType: "Permanent",
          bouncedRecipients: [{ emailAddress: "nobody@example.org", action: "failed", status: "5.1.1", diagnosticCode: "smtp; 550 5.1.1 user unknown" }],
        },
        mail: { messageId: "x" },
      }),
    }),
    claimedBy: ["ses"],
    expected: report("bounce", [failed("nobody@example.org", "5.1.1", "550 5.1.1 user unknown", true)]),
  },
  {
    name: "SES: transient bounce without an action reads as delayed, its status from the diagnostic",
    message: sesMail("no-reply@sns.amazonaws.com", "AWS Notification Message", {
      notificationType: "Bounce",
      bounce: { bounceType: "Transient", bouncedRecipients: [{ emailAddress: "full@example.org", diagnosticCode: "smtp; 452 4.2.2 Mailbox full" }] },
    }),
    claimedBy: ["ses"],
    expected: report("delayed", [delayed("full@example.org", "4.2.2", "452 4.2.2 Mailbox full")]),
  },
  {
    name: "SES: complaint, its feedback type lowercased",
    message: sesMail("no-reply@sns.amazonaws.com", "AWS Notification Message", {
      notificationType: "Complaint",
      complaint: { complainedRecipients: [{ emailAddress: "angry@example.org" }], complaintFeedbackType: "Abuse" },
    }),
    claimedBy: ["ses"],
    expected: report("feedback", [recipient("angry@example.org")], { feedbackType: "abuse" }),
  },
  {
    name: "SES: delivery, with the SMTP response and the remote MTA's IP",
    message: sesMail("no-reply@sns.amazonaws.com", "AWS Notification Message", {
      notificationType: "Delivery",
      delivery: { recipients: ["ok@example.org"], smtpResponse: "250 2.6.0 Message received", remoteMtaIp: "192.0.2.5" },
    }),
    claimedBy: ["ses"],
    expected: report("delivered", [recipient("ok@example.org", { action: "delivered", status: "2.6.0", diagnostic: "250 2.6.0 Message received", remoteMta: "192.0.2.5" })]),
  },
  {
    name: "SES: a complaint from a daemon address with a bounce subject stays a complaint",
    message: sesMail("MAILER-DAEMON@email-bounces.amazonses.com", "Delivery Status Notification (Failure)", {
      notificationType: "Complaint",
      complaint: { complainedRecipients: [{ emailAddress: "angry@example.org" }] },
    }),
    claimedBy: ["ses", "delivery"],
    expected: report("feedback", [recipient("angry@example.org")], { feedbackType: "abuse" }),
  },

  // Auto-replies (auto-reply.ts)
  {
    name: "auto-reply: Auto-Submitted: auto-replied with a null sender, from its sender",
    message: mail(
      ["From: Eva Huber <Eva.Huber@example.at>", "To: sales@example.com", "Subject: Abwesenheitsnotiz: Your quote", "Auto-Submitted: auto-replied (vacation)", "Return-Path: <>"],
      "I am out of the office until 12 August. Mail that could not be answered will be returned.",
    ),
    claimedBy: ["auto-reply"],
    expected: report("auto_reply", [recipient("eva.huber@example.at")]),
  },
  {
    name: "auto-reply: by its subject alone",
    message: mail(["From: dan@example.org", "To: sales@example.com", "Subject: Out of Office: Your quote"], "Back on Monday."),
    claimedBy: ["auto-reply"],
    expected: report("auto_reply", [recipient("dan@example.org")]),
  },
  {
    name: "auto-reply: by X-Autoreply",
    message: mail(["From: eve@example.org", "To: sales@example.com", "Subject: Your quote", "X-Autoreply: yes"], "Thanks, I will answer soon."),
    claimedBy: ["auto-reply"],
    expected: report("auto_reply", [recipient("eve@example.org")]),
  },

  // Bounces forwarded by a person (forwarded.ts): no reader claims the forward, the bounce in it is read
  {
    name: "forwarded: a bounce forwarded inline under Gmail's marker",
    message: mail(
      ["From: Alice <alice@example.com>", "To: help@example.com", "Subject: Fwd: Undelivered Mail Returned to Sender"],
      "This bounced, can you check?",
      "",
      "---------- Forwarded message ---------",
      "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>",
      "Date: Mon, 1 Jan 2024 10:00:00 +0000",
      "Subject: Undelivered Mail Returned to Sender",
      "To: alice@example.com",
      "",
      "<nobody@example.org>: host mx.example.org said: 550 5.1.1 <nobody@example.org>:",
      "    Recipient address rejected: User unknown",
    ),
    claimedBy: [],
    expected: report("bounce", [failed("nobody@example.org", "5.1.1", "host mx.example.org said: 550 5.1.1 <nobody@example.org>:", true)]),
  },
];

describe("readBounceReport, one row per reader case", () => {
  it.each(rows)("$name", async ({ message, expected }) => {
    expect(await readBounceReport(message)).toEqual(expected);
    expect(await readBounceReport(new TextEncoder().encode(message))).toEqual(expected);
  });

  it.each(rows)("$name: claimed by $claimedBy", async ({ message, claimedBy, expected }) => {
    const parts = await parseReport(message, MAX_PARSE_LINES);
    const claims = (Object.keys(READERS) as ReaderName[]).filter((name) => READERS[name](parts) !== null);
    expect(claims).toEqual(claimedBy);
    // The first reader in the list that recognises the message gives the report.
    if (claimedBy[0]) expect(READERS[claimedBy[0]](parts)?.kind).toBe(expected.kind);
  });

  it.each([
    ["an empty message", ""],
    ["bytes that are no message", "\u0000\u0001 not a message"],
  ])("reads %s as no report", async (_, message) => {
    expect(await readBounceReport(message)).toEqual(report(null));
  });
});

/** [SMTP reply code, reply text, what readSyncRefusal returns]. */
const refusals: [string | null, string | null, ReturnType<typeof readSyncRefusal>][] = [
  ["550", "5.1.1 <nobody@example.org>: Recipient address rejected: User unknown", { status: "5.1.1", hard: true }],
  ["550", "5.1.6 Recipient has moved", { status: "5.1.6", hard: true }],
  ["550", "250 2.1.5 Ok, then 550 5.1.10 null MX", { status: "5.1.10", hard: true }],
  ["550", "5.1.3 Bad recipient address syntax", { status: "5.1.3", hard: false }],
  ["552", "5.2.2 Mailbox full", { status: "5.2.2", hard: false }],
  ["550", "5.2.1 The email account that you tried to reach is disabled", { status: "5.2.1", hard: false }],
  // No enhanced code: 5.0.0, hard when the words say the mailbox or domain does not exist.
  ["550", "No such user here", { status: "5.0.0", hard: true }],
  ["550", "Requested action not taken: mailbox unavailable", { status: "5.0.0", hard: true }],
  ["550", "5.0.0 Unknown recipient", { status: "5.0.0", hard: true }],
  ["550", "5.4.4 Unable to route: host not found", { status: "5.4.4", hard: true }],
  // Words of a temporary condition override the words about the mailbox: nothing said of the address.
  ["550", "User unknown, try again later", null],
  // Refusals about the message or the sender say nothing of the address.
  ["554", "5.7.1 Message rejected by policy", null],
  ["552", "5.3.4 Message size exceeds fixed limit", null],
  ["550", "Spam detected", null],
  ["550", null, null],
  // Not a permanent SMTP refusal.
  ["451", "4.2.2 Mailbox full", null],
  ["421", "4.7.0 Try again later", null],
  ["250", "2.0.0 Ok", null],
  [null, "5.1.1 User unknown", null],
  ["5.1.1", "User unknown", null],
  ["5500", "5.1.1 User unknown", null],
];

describe("readSyncRefusal", () => {
  it.each(refusals)("%s %s", (code, text, expected) => {
    expect(readSyncRefusal(code, text)).toEqual(expected);
  });
});
