/**
 * Amazon SES events through SNS (src/events/providers/ses.ts) in plain
 * Node: the SNS signature (versions 1 and 2, each way it must fail) and
 * each SES event type's mapping, one row each. The envelopes are signed by
 * test/provider-events/ses.ts with a certificate it makes for the run.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { sesHook } from "../../src/events/providers/ses";
import { MAX_EVENT_AGE_MS, type RecipientEvent } from "../../src/events/types";
import {
  SES_MESSAGE_ID,
  type SnsEnvelope,
  type SnsSigner,
  sesBounce,
  sesComplaint,
  sesDelivery,
  sesDeliveryDelay,
  sesReject,
  sesSend,
  snsConfirmation,
  snsNotification,
  snsRequest,
  snsSigner,
  TOPIC_ARN,
} from "../provider-events/ses";

const NOW = Date.parse("2026-11-20T12:00:00.000Z");
const SNS_ID = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324";

let signer: SnsSigner;
let other: SnsSigner;
beforeAll(async () => {
  [signer, other] = await Promise.all([snsSigner(), snsSigner()]);
});

const config = () => ({ certificate: signer.certificate });
const verify = (envelope: SnsEnvelope | Record<string, unknown>, events: Record<string, string> = config(), headers?: Record<string, string>) =>
  sesHook.verify(snsRequest(envelope, headers), events, NOW);
const without = (envelope: SnsEnvelope, field: string) => {
  const { [field]: _, ...rest } = envelope;
  return rest;
};

describe("SNS signature", () => {
  const valid: [string, () => Promise<SnsEnvelope>][] = [
    ["v1 notification", () => snsNotification(signer, sesDelivery(), { version: "1", timestamp: NOW })],
    ["v2 notification", () => snsNotification(signer, sesDelivery(), { version: "2", timestamp: NOW })],
    ["v1 notification with a Subject", () => snsNotification(signer, sesBounce(), { version: "1", subject: "Amazon SES Email Event Notification", timestamp: NOW })],
    ["v2 notification with a Subject", () => snsNotification(signer, sesBounce(), { version: "2", subject: "Amazon SES Email Event Notification", timestamp: NOW })],
    ["control characters and non-ASCII in Message", () => snsNotification(signer, 'line one\nline "two"\tétoile ✓', { timestamp: NOW })],
    ["v1 subscription confirmation", () => snsConfirmation(signer, { version: "1", timestamp: NOW })],
    ["v2 subscription confirmation", () => snsConfirmation(signer, { version: "2", timestamp: NOW })],
    ["v2 unsubscribe confirmation", () => snsConfirmation(signer, { type: "UnsubscribeConfirmation", timestamp: NOW })],
    ["4 minutes old", () => snsNotification(signer, sesDelivery(), { timestamp: NOW - 4 * 60_000 })],
    ["4 minutes ahead", () => snsNotification(signer, sesDelivery(), { timestamp: NOW + 4 * 60_000 })],
  ];
  it.each(valid)("accepts a %s", async (_, build) => {
    expect(await verify(await build())).toEqual({ ok: true });
  });

  it("accepts the configured topic, and refuses another", async () => {
    const envelope = await snsNotification(signer, sesDelivery(), { timestamp: NOW });
    expect(await verify(envelope, { ...config(), topicArn: TOPIC_ARN })).toEqual({ ok: true });
    const elsewhere = await snsNotification(signer, sesDelivery(), { timestamp: NOW, topicArn: "arn:aws:sns:us-west-2:123456789012:Other" });
    expect(await verify(elsewhere, { ...config(), topicArn: TOPIC_ARN })).toMatchObject({ ok: false, reason: expect.stringContaining("TopicArn") });
  });

  const refused: [string, () => Promise<{ envelope: SnsEnvelope | Record<string, unknown>; events?: Record<string, string>; headers?: Record<string, string> }>, RegExp][] = [
    ["another certificate", async () => ({ envelope: await snsNotification(other, sesDelivery(), { timestamp: NOW }) }), /signature mismatch/],
    ["a v1 message under another certificate", async () => ({ envelope: await snsNotification(other, sesDelivery(), { version: "1", timestamp: NOW }) }), /signature mismatch/],
    [
      "a tampered Message",
      async () => {
        const envelope = await snsNotification(signer, sesBounce(), { timestamp: NOW });
        return { envelope: { ...envelope, Message: envelope.Message!.replace("Permanent", "Transient") } };
      },
      /signature mismatch/,
    ],
    [
      "a Subject added after signing",
      async () => ({ envelope: { ...(await snsNotification(signer, sesDelivery(), { timestamp: NOW })), Subject: "added" } }),
      /signature mismatch/,
    ],
    [
      "a Timestamp moved after signing",
      async () => ({ envelope: { ...(await snsNotification(signer, sesDelivery(), { timestamp: NOW - 3_600_000 })), Timestamp: new Date(NOW).toISOString() } }),
      /signature mismatch/,
    ],
    [
      "a tampered SubscribeURL",
      async () => {
        const envelope = await snsConfirmation(signer, { timestamp: NOW });
        return { envelope: { ...envelope, SubscribeURL: envelope.SubscribeURL!.replace("MyTopic", "YourTopic") } };
      },
      /signature mismatch/,
    ],
    [
      "version 1 claimed for a version 2 signature",
      async () => ({ envelope: { ...(await snsNotification(signer, sesDelivery(), { version: "2", timestamp: NOW })), SignatureVersion: "1" } }),
      /signature mismatch/,
    ],
    [
      "version 2 claimed for a version 1 signature",
      async () => ({ envelope: { ...(await snsNotification(signer, sesDelivery(), { version: "1", timestamp: NOW })), SignatureVersion: "2" } }),
      /signature mismatch/,
    ],
    [
      "an unknown SignatureVersion",
      async () => ({ envelope: { ...(await snsNotification(signer, sesDelivery(), { timestamp: NOW })), SignatureVersion: "3" } }),
      /unsupported SignatureVersion/,
    ],
    [
      "a Signature that is not base64",
      async () => ({ envelope: { ...(await snsNotification(signer, sesDelivery(), { timestamp: NOW })), Signature: "not base64!" } }),
      /not base64/,
    ],
    [
      "a SigningCertURL over http",
      async () => ({
        envelope: { ...(await snsNotification(signer, sesDelivery(), { timestamp: NOW })), SigningCertURL: "http://sns.us-west-2.amazonaws.com/cert.pem" },
      }),
      /SigningCertURL/,
    ],
    [
      "a SigningCertURL on another host",
      async () => ({
        envelope: { ...(await snsNotification(signer, sesDelivery(), { timestamp: NOW })), SigningCertURL: "https://sns.us-west-2.amazonaws.com.evil.example/cert.pem" },
      }),
      /SigningCertURL/,
    ],
    ["no certificate configured", async () => ({ envelope: await snsNotification(signer, sesDelivery(), { timestamp: NOW }), events: {} }), /no SNS signing certificate/],
    [
      "a certificate that is not one",
      async () => ({
        envelope: await snsNotification(signer, sesDelivery(), { timestamp: NOW }),
        events: { certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----" },
      }),
      /cannot be read/,
    ],
    ["an empty JSON object", async () => ({ envelope: {} }), /unknown SNS message type/],
    ["an unknown Type", async () => ({ envelope: { ...(await snsNotification(signer, sesDelivery(), { timestamp: NOW })), Type: "Other" } }), /unknown SNS message type/],
    [
      "a header that contradicts Type",
      async () => ({ envelope: await snsNotification(signer, sesDelivery(), { timestamp: NOW }), headers: { "x-amz-sns-message-type": "SubscriptionConfirmation" } }),
      /does not match Type/,
    ],
  ];
  it.each(refused)("refuses %s", async (_, build, reason) => {
    const { envelope, events, headers } = await build();
    const result = await verify(envelope, events ?? config(), headers);
    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
    expect(result).not.toHaveProperty("stale");
  });

  it.each([
    ["older", -(MAX_EVENT_AGE_MS + 1000)],
    ["newer", MAX_EVENT_AGE_MS + 1000],
  ])("says stale a genuine message %s than MAX_EVENT_AGE_MS", async (_, offset) => {
    for (const version of ["1", "2"] as const) {
      const envelope = await snsNotification(signer, sesDelivery(), { version, timestamp: NOW + offset });
      expect(await verify(envelope)).toMatchObject({ ok: false, stale: true });
    }
  });

  const notificationFields = ["Message", "MessageId", "Timestamp", "TopicArn", "Type", "Signature", "SignatureVersion", "SigningCertURL"];
  it.each(notificationFields)("refuses a notification without %s", async (field) => {
    const envelope = without(await snsNotification(signer, sesDelivery(), { timestamp: NOW }), field);
    expect(await verify(envelope, config(), { "x-amz-sns-message-type": "Notification" })).toMatchObject({ ok: false });
  });
  it.each(["SubscribeURL", "Token", "Message", "Timestamp"])("refuses a subscription confirmation without %s", async (field) => {
    const envelope = without(await snsConfirmation(signer, { timestamp: NOW }), field);
    expect(await verify(envelope)).toMatchObject({ ok: false, reason: `${field} is missing` });
  });
  it("refuses a body that is not JSON", async () => {
    const request = { ...snsRequest({ Type: "Notification" }), body: "Type=Notification&Message=hello" };
    expect(await sesHook.verify(request, config(), NOW)).toMatchObject({ ok: false, reason: "the body is not a JSON object" });
    expect(await sesHook.read(request)).toMatchObject({ kind: "invalid" });
  });
  it("refuses a field that is not a string", async () => {
    const envelope = await snsNotification(signer, sesDelivery(), { timestamp: NOW });
    expect(await verify({ ...envelope, Timestamp: NOW })).toMatchObject({ ok: false, reason: "Timestamp is missing" });
  });
});

describe("SES events", () => {
  const event = (overrides: Partial<RecipientEvent>): RecipientEvent => ({
    kind: "delivered",
    providerMessageId: SES_MESSAGE_ID,
    recipient: "recipient@example.com",
    status: null,
    diagnostic: null,
    hard: false,
    eventId: `${SNS_ID}:recipient@example.com`,
    occurredAt: 0,
    providerSuppressed: false,
    ...overrides,
  });
  const BOUNCED = Date.parse("2017-08-05T00:41:02.669Z");
  const permanentBounce = {
    kind: "bounced",
    status: "5.1.1",
    diagnostic: "smtp; 550 5.1.1 user unknown",
    hard: true,
    occurredAt: BOUNCED,
  } as const;

  const rows: [string, Record<string, unknown>, RecipientEvent[]][] = [
    ["Bounce Permanent/General → bounced, hard", sesBounce(), [event(permanentBounce)]],
    ["Bounce Permanent/General, older notificationType format", sesBounce({ format: "notification" }), [event(permanentBounce)]],
    ["Bounce Permanent/NoEmail → hard, not suppressed by SES", sesBounce({ bounceSubType: "NoEmail" }), [event({ ...permanentBounce, providerSuppressed: false })]],
    [
      "Bounce Permanent/Suppressed → hard, providerSuppressed",
      sesBounce({
        bounceSubType: "Suppressed",
        bouncedRecipients: [{ emailAddress: "recipient@example.com", action: "failed", status: "5.1.1", diagnosticCode: "Amazon SES has suppressed sending to this address" }],
      }),
      [event({ ...permanentBounce, diagnostic: "Amazon SES has suppressed sending to this address", providerSuppressed: true })],
    ],
    [
      "Bounce Permanent/OnAccountSuppressionList → hard, providerSuppressed (no DSN: status and diagnostic from SES)",
      sesBounce({ bounceSubType: "OnAccountSuppressionList", bouncedRecipients: [{ emailAddress: "recipient@example.com" }] }),
      [event({ ...permanentBounce, status: null, diagnostic: "SES bounce Permanent/OnAccountSuppressionList", providerSuppressed: true })],
    ],
    [
      "Bounce Transient/MailboxFull → bounced, soft",
      sesBounce({
        bounceType: "Transient",
        bounceSubType: "MailboxFull",
        bouncedRecipients: [{ emailAddress: "recipient@example.com", action: "failed", status: "4.2.2", diagnosticCode: "smtp; 452 4.2.2 mailbox full" }],
      }),
      [event({ kind: "bounced", status: "4.2.2", diagnostic: "smtp; 452 4.2.2 mailbox full", occurredAt: BOUNCED })],
    ],
    [
      "Bounce Transient/General without a DSN → soft, diagnostic from SES's types",
      sesBounce({ bounceType: "Transient", bounceSubType: "General", bouncedRecipients: [{ emailAddress: "recipient@example.com" }] }),
      [event({ kind: "bounced", diagnostic: "SES bounce Transient/General", occurredAt: BOUNCED })],
    ],
    [
      "Bounce Undetermined → bounced, soft; status read from the Diagnostic-Code",
      sesBounce({
        bounceType: "Undetermined",
        bounceSubType: "Undetermined",
        bouncedRecipients: [{ emailAddress: "recipient@example.com", diagnosticCode: "smtp; 550 5.7.1 refused" }],
      }),
      [event({ kind: "bounced", status: "5.7.1", diagnostic: "smtp; 550 5.7.1 refused", occurredAt: BOUNCED })],
    ],
    [
      "Bounce with two recipients → one event each",
      sesBounce({
        bouncedRecipients: [
          { emailAddress: "a@example.com", action: "failed", status: "5.1.1", diagnosticCode: "smtp; 550 5.1.1 user unknown" },
          { emailAddress: "b@example.com", action: "failed", status: "5.0.0", diagnosticCode: "X-Postfix; unknown user" },
        ],
      }),
      [
        event({ ...permanentBounce, recipient: "a@example.com", eventId: `${SNS_ID}:a@example.com` }),
        event({ ...permanentBounce, recipient: "b@example.com", eventId: `${SNS_ID}:b@example.com`, status: "5.0.0", diagnostic: "X-Postfix; unknown user" }),
      ],
    ],
    ["Complaint → complained", sesComplaint(), [event({ kind: "complained", diagnostic: "complaint: abuse", occurredAt: BOUNCED })]],
    [
      "Complaint, older notificationType format, complaintSubType null",
      sesComplaint({ format: "notification", complaintSubType: null }),
      [event({ kind: "complained", diagnostic: "complaint: abuse", occurredAt: BOUNCED })],
    ],
    [
      "Complaint OnAccountSuppressionList → complained, providerSuppressed",
      sesComplaint({ complaintSubType: "OnAccountSuppressionList" }),
      [event({ kind: "complained", diagnostic: "complaint: abuse", occurredAt: BOUNCED, providerSuppressed: true })],
    ],
    [
      "Delivery → delivered, status from the SMTP reply",
      sesDelivery(),
      [event({ kind: "delivered", status: "2.6.0", diagnostic: "250 2.6.0 Message received", occurredAt: Date.parse("2016-10-19T23:21:04.133Z") })],
    ],
    [
      "Delivery to two recipients, older notificationType format",
      sesDelivery({ format: "notification", recipients: ["a@example.com", "b@example.com"] }),
      ["a@example.com", "b@example.com"].map((recipient) =>
        event({
          recipient,
          eventId: `${SNS_ID}:${recipient}`,
          status: "2.6.0",
          diagnostic: "250 2.6.0 Message received",
          occurredAt: Date.parse("2016-10-19T23:21:04.133Z"),
        }),
      ),
    ],
    [
      "DeliveryDelay → deferred",
      sesDeliveryDelay(),
      [event({ kind: "deferred", status: "4.4.1", diagnostic: "smtp; 421 4.4.1 Unable to connect to remote host", occurredAt: Date.parse("2020-06-16T00:25:40.095Z") })],
    ],
    [
      "Reject → failed for every destination, at the SNS time",
      sesReject({ recipients: ["a@example.com", "b@example.com"] }),
      ["a@example.com", "b@example.com"].map((recipient) =>
        event({ kind: "failed", recipient, eventId: `${SNS_ID}:${recipient}`, diagnostic: "SES rejected the message: Bad content", occurredAt: NOW }),
      ),
    ],
  ];
  it.each(rows)("%s", async (_, ses, events) => {
    const envelope = await snsNotification(signer, ses, { timestamp: NOW, messageId: SNS_ID });
    expect(await sesHook.verify(snsRequest(envelope), config(), NOW)).toEqual({ ok: true });
    expect(await sesHook.read(snsRequest(envelope))).toEqual({ kind: "events", events });
  });

  it("keys events by the mail's SES MessageId, whatever the SNS message", async () => {
    const envelope = await snsNotification(signer, sesDelivery({ messageId: "0100019a-other" }), { timestamp: NOW, messageId: "sns-2" });
    const reading = await sesHook.read(snsRequest(envelope));
    expect(reading).toMatchObject({ kind: "events", events: [{ providerMessageId: "0100019a-other", eventId: "sns-2:recipient@example.com" }] });
  });

  const ignored: [string, object | string][] = [
    ["a Send event", sesSend()],
    ["an Open event", { eventType: "Open", mail: { messageId: SES_MESSAGE_ID }, open: {} }],
    ["SES's subscription notice", { notificationType: "AmazonSnsSubscriptionSucceeded", message: "You have successfully subscribed" }],
    ["a Message that is not JSON", "Successfully validated SNS topic for Amazon SES event publishing."],
    ["a Bounce naming no recipient", sesBounce({ bouncedRecipients: [] })],
  ];
  it.each(ignored)("ignores %s", async (_, message) => {
    const envelope = await snsNotification(signer, message, { timestamp: NOW });
    expect(await sesHook.read(snsRequest(envelope))).toMatchObject({ kind: "ignored" });
  });

  it("refuses an SES event without mail.messageId", async () => {
    const ses = sesDelivery();
    const envelope = await snsNotification(signer, { ...ses, mail: { destination: ["recipient@example.com"] } }, { timestamp: NOW });
    expect(await sesHook.read(snsRequest(envelope))).toMatchObject({ kind: "invalid", reason: expect.stringContaining("mail.messageId") });
  });
});

describe("SNS subscription", () => {
  it("asks to confirm a SubscriptionConfirmation by its SubscribeURL", async () => {
    const envelope = await snsConfirmation(signer, { timestamp: NOW });
    expect(await sesHook.read(snsRequest(envelope))).toEqual({ kind: "confirm_subscription", url: envelope.SubscribeURL });
    expect(envelope.SubscribeURL).toMatch(/^https:\/\/sns\.us-west-2\.amazonaws\.com\/\?Action=ConfirmSubscription&/);
  });

  it("ignores an UnsubscribeConfirmation", async () => {
    const envelope = await snsConfirmation(signer, { type: "UnsubscribeConfirmation", timestamp: NOW });
    expect(await sesHook.read(snsRequest(envelope))).toMatchObject({ kind: "ignored" });
  });

  it("will not visit a SubscribeURL outside SNS", async () => {
    const envelope = await snsConfirmation(signer, { timestamp: NOW });
    const reading = await sesHook.read(snsRequest({ ...envelope, SubscribeURL: "https://127.0.0.1/?Action=ConfirmSubscription" }));
    expect(reading).toMatchObject({ kind: "invalid" });
  });
});
