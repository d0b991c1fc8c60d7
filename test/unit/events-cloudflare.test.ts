/**
 * The Cloudflare Email Sending event reader (src/events/providers/cloudflare.ts)
 * on the documented bodies (test/provider-events/cloudflare.ts), one row
 * each, in plain Node: every type and the whole RecipientEvent it becomes,
 * the message id's forms, the event id and time when the body lacks them,
 * and the bodies it refuses (invalid) or passes over (ignored).
 */
import { describe, expect, it } from "vitest";
import { cloudflareProviderMessageId, readCloudflareEvent } from "../../src/events/providers/cloudflare.ts";
import type { RecipientEvent } from "../../src/events/types.ts";
import { sha256Hex } from "../../src/hash.ts";
import {
  CLOUDFLARE_EVENT_DEFAULTS,
  cloudflareBouncedHard,
  cloudflareBouncedSoft,
  cloudflareComplained,
  cloudflareDeferred,
  cloudflareDelivered,
  cloudflareFailed,
  cloudflareRejected,
} from "../provider-events/cloudflare.ts";

const NOW = Date.parse("2026-11-22T10:00:00Z");
const AT = Date.parse(CLOUDFLARE_EVENT_DEFAULTS.eventTimestamp);
/** As env.EMAIL.send() answers it (and the relay stores it): see cloudflareProviderMessageId. */
const SENT_ID = "<aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gH3jKl@example.com>";
const RECIPIENT = CLOUDFLARE_EVENT_DEFAULTS.recipient;

/** The event expected, from the fields that differ between rows. */
function expected(fields: Pick<RecipientEvent, "kind" | "status" | "diagnostic" | "hard" | "eventId" | "providerSuppressed">): RecipientEvent {
  return { providerMessageId: SENT_ID, recipient: RECIPIENT, occurredAt: AT, ...fields };
}

describe("each type", () => {
  it.each([
    [
      "delivered",
      cloudflareDelivered({ messageId: SENT_ID }),
      expected({
        kind: "delivered",
        status: "2.0.0",
        diagnostic: "250 2.0.0 OK 1714820445 a1b2c3 - gsmtp",
        hard: false,
        eventId: "0190d0c4-7e9a-7b3c-9f12-1a2b3c4d5e6f",
        providerSuppressed: false,
      }),
    ],
    [
      "deferred (a soft bounce, retries pending)",
      cloudflareDeferred({ messageId: SENT_ID }),
      expected({
        kind: "deferred",
        status: "4.2.0",
        diagnostic: "451 4.2.0 Temporary mailbox error",
        hard: false,
        eventId: "0190d0c4-7e9b-7714-9004-11f0b6d9a341",
        providerSuppressed: false,
      }),
    ],
    [
      "bounced, hard: Cloudflare suppresses the recipient",
      cloudflareBouncedHard({ messageId: SENT_ID }),
      expected({
        kind: "bounced",
        status: "5.1.1",
        diagnostic: "550 5.1.1 User unknown",
        hard: true,
        eventId: "0190d0c4-7ea1-7af2-8b88-c1d2e3f4a5b6",
        providerSuppressed: true,
      }),
    ],
    [
      "bounced, soft (retries ran out): no suppression reported",
      cloudflareBouncedSoft({ messageId: SENT_ID }),
      expected({
        kind: "bounced",
        status: "4.2.2",
        diagnostic: "452 4.2.2 Mailbox full",
        hard: false,
        eventId: "0190d0c4-7ea1-7af2-8b88-c1d2e3f4a5b6",
        providerSuppressed: false,
      }),
    ],
    [
      "failed",
      cloudflareFailed({ messageId: SENT_ID }),
      expected({ kind: "failed", status: null, diagnostic: "delivery_failed", hard: false, eventId: "0190d0c4-81c1-7bc6-9344-829cd9001a12", providerSuppressed: false }),
    ],
    [
      "rejected because suppressed: failed, and suppressed at the provider",
      cloudflareRejected({ messageId: SENT_ID }),
      expected({
        kind: "failed",
        status: null,
        diagnostic: "suppressed: Recipient is suppressed",
        hard: false,
        eventId: "0190d0c4-830a-77e5-8fa0-8d10f4e8dc8b",
        providerSuppressed: true,
      }),
    ],
    [
      "rejected for another reason: failed, not suppressed",
      cloudflareRejected({ messageId: SENT_ID, payload: { rejection: { reason: "spam", party: "sender", detail: "Message looks like spam" } } }),
      expected({
        kind: "failed",
        status: null,
        diagnostic: "spam: Message looks like spam",
        hard: false,
        eventId: "0190d0c4-830a-77e5-8fa0-8d10f4e8dc8b",
        providerSuppressed: false,
      }),
    ],
    [
      "complained: Cloudflare suppresses the recipient",
      cloudflareComplained({ messageId: SENT_ID }),
      expected({ kind: "complained", status: null, diagnostic: "abuse", hard: false, eventId: "0190d0c4-9f01-7c44-b2a1-aabbccddeeff", providerSuppressed: true }),
    ],
  ])("%s", async (_name, body, event) => {
    expect(await readCloudflareEvent(body, NOW)).toEqual({ kind: "events", events: [event] });
  });
});

describe("hard or soft, when the payload says less", () => {
  const bounced = (payload: Record<string, unknown>) => cloudflareBouncedHard({ payload });
  it.each([
    ["bounce.type hard", bounced({ bounce: { type: "hard" } }), true],
    ["bounce.type soft, a 5xx status notwithstanding", bounced({ bounce: { type: "soft" } }), false],
    ["no type, classification permanent_failure", bounced({ bounce: { classification: "permanent_failure" }, delivery: { status: "bounced" } }), true],
    ["no type, classification temporary_failure", bounced({ bounce: { classification: "temporary_failure" } }), false],
    ["no bounce object, enhanced status 5.x.x", bounced({ bounce: undefined }), true],
    ["no bounce object, basic status 550 only", bounced({ bounce: undefined, delivery: { status: "bounced", smtpStatusCode: "550" } }), true],
    ["no bounce object, 4.x.x (retries ran out)", bounced({ bounce: undefined, delivery: { status: "bounced", smtpEnhancedStatusCode: "4.4.7" } }), false],
    ["nothing said", bounced({ bounce: undefined, delivery: undefined }), false],
    ["bounce of the wrong type reads as absent", bounced({ bounce: "hard", delivery: undefined }), false],
  ])("%s", async (_name, body, hard) => {
    const reading = await readCloudflareEvent(body, NOW);
    expect(reading.kind === "events" && reading.events.map((event) => [event.kind, event.hard, event.providerSuppressed])).toEqual([["bounced", hard, hard]]);
  });
});

describe("status", () => {
  it.each([
    ["enhanced code given", { smtpStatusCode: "550", smtpEnhancedStatusCode: "5.7.1" }, "5.7.1"],
    ["basic code only: its class", { smtpStatusCode: "421" }, "4.0.0"],
    ["enhanced code malformed: the basic one's class", { smtpStatusCode: "550", smtpEnhancedStatusCode: "5.1" }, "5.0.0"],
    ["neither", { status: "bounced" }, null],
  ])("%s", async (_name, delivery, status) => {
    const reading = await readCloudflareEvent(cloudflareBouncedHard({ payload: { delivery } }), NOW);
    expect(reading.kind === "events" && reading.events[0]!.status).toBe(status);
  });
});

describe("the message id, in the form the relay stores send()'s answer in", () => {
  it.each([
    ["bracketed, as send() answers", SENT_ID, SENT_ID],
    ["bare local@domain: bracketed", "aB3dE5gH7jK9@example.com", "<aB3dE5gH7jK9@example.com>"],
    ["opaque (the documented placeholder): as is", "0101018f7d0c4d9a-msg-deadbeef", "0101018f7d0c4d9a-msg-deadbeef"],
    ["surrounding space trimmed", "  <x@example.com> ", "<x@example.com>"],
  ])("%s", async (_name, given, stored) => {
    expect(cloudflareProviderMessageId(given)).toBe(stored);
    expect(cloudflareProviderMessageId(stored)).toBe(stored);
    const reading = await readCloudflareEvent(cloudflareDelivered({ messageId: given }), NOW);
    expect(reading.kind === "events" && reading.events[0]!.providerMessageId).toBe(stored);
  });
});

describe("event id and time when the body lacks them", () => {
  it("no eventId: a digest of type, message id, recipient and time, the same for a replay", async () => {
    const body = cloudflareBouncedHard({ messageId: SENT_ID, eventId: null });
    const first = await readCloudflareEvent(body, NOW);
    const replay = await readCloudflareEvent(structuredClone(body), NOW + 60_000);
    const digest = await sha256Hex(JSON.stringify(["cf.email.sending.message.bounced", SENT_ID, RECIPIENT, CLOUDFLARE_EVENT_DEFAULTS.eventTimestamp]));
    expect(first.kind === "events" && first.events[0]!.eventId).toBe(digest);
    expect(replay).toEqual(first);
    const later = await readCloudflareEvent(cloudflareBouncedHard({ messageId: SENT_ID, eventId: null, eventTimestamp: "2026-06-01T03:00:00Z" }), NOW);
    expect(later.kind === "events" && later.events[0]!.eventId).not.toBe(digest);
  });

  it("no eventTimestamp: dated now", async () => {
    const reading = await readCloudflareEvent(cloudflareDelivered({ eventTimestamp: null }), NOW);
    expect(reading.kind === "events" && reading.events[0]!.occurredAt).toBe(NOW);
  });

  it("a body as JSON text reads as the object", async () => {
    const body = cloudflareComplained({ messageId: SENT_ID });
    expect(await readCloudflareEvent(JSON.stringify(body), NOW)).toEqual(await readCloudflareEvent(body, NOW));
  });

  it("unknown fields are ignored", async () => {
    const body = { ...cloudflareDelivered(), extra: { any: 1 }, payload: { ...cloudflareDelivered().payload, somethingNew: [1, 2] } };
    expect((await readCloudflareEvent(body, NOW)).kind).toBe("events");
  });
});

describe("invalid", () => {
  const delivered = cloudflareDelivered();
  it.each([
    ["null", null, "not a JSON object"],
    ["a number", 42, "not a JSON object"],
    ["an array", [delivered], "not a JSON object"],
    ["JSON text that does not parse", "{not json", "not a JSON object"],
    ["no type", { ...delivered, type: undefined }, "no event type"],
    ["type not a string", { ...delivered, type: 7 }, "no event type"],
    ["no payload", { ...delivered, payload: undefined }, "no payload"],
    ["payload not an object", { ...delivered, payload: "x" }, "no payload"],
    ["no messageId", cloudflareDelivered({ payload: { messageId: undefined } }), "messageId"],
    ["empty messageId", cloudflareDelivered({ messageId: "" }), "messageId"],
    ["messageId not a string", cloudflareDelivered({ payload: { messageId: 12345 } }), "messageId"],
    ["messageId with a line break", cloudflareDelivered({ messageId: "<a@b>\r\nX-Forged: 1" }), "messageId"],
    ["messageId too long", cloudflareDelivered({ messageId: "a".repeat(999) }), "messageId"],
    ["no recipient", cloudflareDelivered({ payload: { recipient: undefined } }), "recipient"],
    ["recipient not an address", cloudflareDelivered({ recipient: "user.example.net" }), "recipient"],
    ["recipient with a space", cloudflareDelivered({ recipient: "us er@example.net" }), "recipient"],
    ["recipient not a string", cloudflareDelivered({ payload: { recipient: ["user@example.net"] } }), "recipient"],
    ["eventId not a string", cloudflareDelivered({ payload: { eventId: 1 } }), "eventId"],
    ["eventTimestamp not a time", cloudflareDelivered({ eventTimestamp: "yesterday" }), "eventTimestamp"],
    ["eventTimestamp a number", { ...delivered, metadata: { ...delivered.metadata, eventTimestamp: 1_780_000_000_000 } }, "eventTimestamp"],
  ])("%s", async (_name, body, reason) => {
    const reading = await readCloudflareEvent(body, NOW);
    expect(reading).toEqual({ kind: "invalid", reason: expect.stringContaining(reason) });
  });
});

describe("ignored", () => {
  it.each([
    ["an unknown Email Sending type", cloudflareDelivered({ type: "cf.email.sending.message.opened" })],
    ["another source's event", { ...cloudflareDelivered({ type: "cf.r2.object.create" }), source: { type: "r2", bucketName: "b" } }],
    ["an Email Sending type under another source", { ...cloudflareDelivered(), source: { type: "kv" } }],
    ["a bare event name without the source saying Email Sending", { ...cloudflareDelivered({ type: "message.delivered" }), source: undefined }],
  ])("%s", async (_name, body) => {
    expect(await readCloudflareEvent(body, NOW)).toEqual({ kind: "ignored", why: expect.any(String) });
  });

  it("a bare event name under the Email Sending source is read", async () => {
    const reading = await readCloudflareEvent(cloudflareBouncedHard({ type: "message.bounced" }), NOW);
    expect(reading.kind === "events" && reading.events[0]!.kind).toBe("bounced");
  });
});
