/**
 * Postmark's webhook (src/events/providers/postmark.ts) in plain Node: the
 * Basic credentials check, and every documented record and bounce type
 * read into the event it becomes, one table row each. The requests are
 * built as Postmark sends them (test/provider-events/postmark.ts).
 */
import { describe, expect, it } from "vitest";
import { BOUNCE_TYPES, postmarkHook } from "../../src/events/providers/postmark";
import type { HookReading, HookRequest, RecipientEvent, Verification } from "../../src/events/types";
import { sha256Hex } from "../../src/hash";
import {
  POSTMARK_BOUNCE_TYPES,
  POSTMARK_MESSAGE_ID,
  POSTMARK_PASSWORD,
  POSTMARK_RECIPIENT,
  POSTMARK_TIME,
  POSTMARK_USERNAME,
  postmarkBounce,
  postmarkDelivery,
  postmarkOpen,
  postmarkRequest,
  postmarkRequestFromUrl,
  postmarkSpamComplaint,
  postmarkSubscriptionChange,
  postmarkWebhookUrl,
} from "../provider-events/postmark";

const CONFIG = { username: POSTMARK_USERNAME, password: POSTMARK_PASSWORD };
const NOW = Date.parse("2026-11-30T12:00:00Z");
const BOUNCED_AT = Date.parse(POSTMARK_TIME);

const encode = (text: string) => btoa(Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join(""));

describe("verify", () => {
  const refused = (reason: string): Verification => ({ ok: false, reason });
  const WRONG = refused("wrong username or password");
  const NOT_BASIC = refused("Authorization is not Basic credentials");

  const rows: [string, HookRequest, Record<string, string>, Verification][] = [
    ["the configured credentials", postmarkRequest(postmarkBounce()), CONFIG, { ok: true }],
    ["credentials from the webhook URL, as a client sends them", postmarkRequestFromUrl(postmarkWebhookUrl(), postmarkBounce()), CONFIG, { ok: true }],
    [
      "the scheme in lowercase (RFC 7235: case-insensitive)",
      postmarkRequest(postmarkBounce(), { authorization: `basic ${encode(`${POSTMARK_USERNAME}:${POSTMARK_PASSWORD}`)}` }),
      CONFIG,
      { ok: true },
    ],
    ["a tampered body: Basic auth does not cover it, the credentials still pass", postmarkRequest('{"RecordType":"Bounce","forged":true}'), CONFIG, { ok: true }],
    ["a wrong password", postmarkRequest(postmarkBounce(), { password: "guess" }), CONFIG, WRONG],
    ["a wrong username", postmarkRequest(postmarkBounce(), { username: "someone" }), CONFIG, WRONG],
    ["the password as a prefix of the right one", postmarkRequest(postmarkBounce(), { password: POSTMARK_PASSWORD.slice(0, 5) }), CONFIG, WRONG],
    ["the username and password swapped", postmarkRequest(postmarkBounce(), { username: POSTMARK_PASSWORD.replace(":", ""), password: POSTMARK_USERNAME }), CONFIG, WRONG],
    ["no Authorization header", postmarkRequest(postmarkBounce(), { authorization: null }), CONFIG, refused("no Authorization header")],
    ["a Bearer token", postmarkRequest(postmarkBounce(), { authorization: `Bearer ${POSTMARK_PASSWORD}` }), CONFIG, NOT_BASIC],
    ["Basic without a colon", postmarkRequest(postmarkBounce(), { authorization: `Basic ${encode(POSTMARK_USERNAME)}` }), CONFIG, NOT_BASIC],
    ["Basic with text that is not base64", postmarkRequest(postmarkBounce(), { authorization: "Basic not base64!" }), CONFIG, NOT_BASIC],
    ["no credentials configured", postmarkRequest(postmarkBounce()), {}, refused("no webhook username and password configured")],
    [
      "an empty password configured",
      postmarkRequest(postmarkBounce(), { password: "" }),
      { username: POSTMARK_USERNAME, password: "" },
      refused("no webhook username and password configured"),
    ],
  ];

  it.each(rows)("%s", async (_name, request, config, expected) => {
    expect(await postmarkHook.verify(request, config, NOW)).toEqual(expected);
  });
});

/** The event a bounce record of the defaults becomes, with these fields changed. */
function event(fields: Partial<RecipientEvent>): RecipientEvent {
  return {
    kind: "bounced",
    providerMessageId: POSTMARK_MESSAGE_ID,
    recipient: POSTMARK_RECIPIENT,
    status: null,
    diagnostic: "Test bounce details",
    hard: false,
    eventId: "42",
    occurredAt: BOUNCED_AT,
    providerSuppressed: false,
    ...fields,
  };
}

const read = (record: Record<string, unknown> | string): Promise<HookReading> => postmarkHook.read(postmarkRequest(record));
const events = (...list: RecipientEvent[]): HookReading => ({ kind: "events", events: list });

describe("read: bounce types", () => {
  /**
   * Every type of https://postmarkapp.com/developer/api/bounce-api#bounce-types:
   * what its record becomes (kind, hard, status) or why it is ignored.
   */
  const rows: [type: string, expected: Pick<RecipientEvent, "kind" | "hard" | "status"> | string][] = [
    ["HardBounce", { kind: "bounced", hard: true, status: "5.1.1" }],
    ["Transient", { kind: "deferred", hard: false, status: null }],
    ["Unsubscribe", { kind: "unsubscribed", hard: false, status: null }],
    ["Subscribe", "Subscribe: a subscribe request says nothing about delivering the message"],
    ["AutoResponder", "AutoResponder: an automatic reply says nothing about delivering the message"],
    ["AddressChange", "AddressChange: an address change request says nothing about delivering the message"],
    ["DnsError", { kind: "deferred", hard: false, status: null }],
    ["SpamNotification", { kind: "bounced", hard: false, status: null }],
    ["OpenRelayTest", "OpenRelayTest: an open relay test is not about the message"],
    ["Unknown", { kind: "bounced", hard: false, status: null }],
    ["SoftBounce", { kind: "bounced", hard: false, status: null }],
    ["VirusNotification", { kind: "bounced", hard: false, status: null }],
    ["ChallengeVerification", { kind: "deferred", hard: false, status: null }],
    ["BadEmailAddress", { kind: "bounced", hard: true, status: "5.1.3" }],
    ["SpamComplaint", { kind: "complained", hard: false, status: null }],
    ["ManuallyDeactivated", { kind: "failed", hard: false, status: null }],
    ["Unconfirmed", "Unconfirmed: a list registration not confirmed says nothing about delivering the message"],
    ["Blocked", { kind: "bounced", hard: false, status: null }],
    ["SMTPApiError", { kind: "failed", hard: false, status: null }],
    ["InboundError", "InboundError: an inbound processing error is not about outbound mail"],
    ["DMARCPolicy", { kind: "bounced", hard: false, status: null }],
    ["TemplateRenderingFailed", { kind: "failed", hard: false, status: null }],
  ];

  it("covers every documented type, with Postmark's codes", () => {
    expect(rows.map(([type]) => type)).toEqual(Object.keys(POSTMARK_BOUNCE_TYPES));
    expect(Object.fromEntries(Object.entries(BOUNCE_TYPES).map(([type, { code }]) => [type, code]))).toEqual(
      Object.fromEntries(Object.entries(POSTMARK_BOUNCE_TYPES).map(([type, { code }]) => [type, code])),
    );
  });

  it.each(rows)("%s", async (type, expected) => {
    // Inactive only where Postmark deactivates: the hard bounce (as the example), and ManuallyDeactivated by its very type.
    const reading = await read(postmarkBounce(type));
    if (typeof expected === "string") return expect(reading).toEqual({ kind: "ignored", why: expected });
    expect(reading).toEqual(events(event({ ...expected, providerSuppressed: type === "HardBounce" || type === "ManuallyDeactivated" })));
  });

  it("reads the type from TypeCode when Type is missing", async () => {
    expect(await read(postmarkBounce("SoftBounce", { Type: undefined }))).toEqual(events(event({ kind: "bounced" })));
  });
});

describe("read: records", () => {
  const deliveryId = sha256Hex(JSON.stringify(["Delivery", POSTMARK_MESSAGE_ID, POSTMARK_RECIPIENT, "2021-02-21T16:34:52Z"]));
  const changeId = sha256Hex(JSON.stringify(["SubscriptionChange", POSTMARK_MESSAGE_ID, POSTMARK_RECIPIENT, "2020-02-01T10:53:34.416071Z"]));
  const CHANGED_AT = Date.parse("2020-02-01T10:53:34.416071Z");
  const suppression = (reason: string) => `Postmark suppressed the address: ${reason} (origin Recipient)`;

  const rows: [string, Record<string, unknown> | string, () => Promise<HookReading>][] = [
    ["a hard bounce (the documented example)", postmarkBounce(), async () => events(event({ hard: true, status: "5.1.1", providerSuppressed: true }))],
    [
      "a hard bounce quoting the server's code: its status, not the type's",
      postmarkBounce("HardBounce", { Details: "smtp;550 5.2.1 The email account that you tried to reach is disabled." }),
      async () => events(event({ hard: true, status: "5.2.1", diagnostic: "smtp;550 5.2.1 The email account that you tried to reach is disabled.", providerSuppressed: true })),
    ],
    [
      "a soft bounce that deactivated the address (Inactive)",
      postmarkBounce("SoftBounce", { Inactive: true, Details: "smtp;452 4.2.2 The email account that you tried to reach is over quota." }),
      async () => events(event({ status: "4.2.2", diagnostic: "smtp;452 4.2.2 The email account that you tried to reach is over quota.", providerSuppressed: true })),
    ],
    [
      "a bounce without Details: Postmark's description",
      postmarkBounce("Blocked", { Details: "" }),
      async () => events(event({ diagnostic: "Blocked from this ISP due to content or blacklisting." })),
    ],
    [
      "a bounce without ID: a digest of its content",
      postmarkBounce("SoftBounce", { ID: undefined }),
      async () => events(event({ eventId: await sha256Hex(JSON.stringify(["Bounce", POSTMARK_MESSAGE_ID, POSTMARK_RECIPIENT, POSTMARK_TIME])) })),
    ],
    [
      "a spam complaint (the documented example)",
      postmarkSpamComplaint(),
      async () => events(event({ kind: "complained", eventId: "43", diagnostic: "Test spam complaint details", providerSuppressed: true })),
    ],
    [
      "a complaint as the bounce hook posted it (RecordType Bounce, Type SpamComplaint)",
      postmarkBounce("SpamComplaint", { Inactive: true }),
      async () => events(event({ kind: "complained", providerSuppressed: true })),
    ],
    [
      "a delivery",
      postmarkDelivery(),
      async () =>
        events(
          event({
            kind: "delivered",
            status: "2.0.0",
            diagnostic: "smtp;250 2.0.0 OK 1480624905 l186si10190883ite.73 - gsmtp",
            eventId: await deliveryId,
            occurredAt: Date.parse("2021-02-21T16:34:52Z"),
          }),
        ),
    ],
    [
      "a suppression after a hard bounce",
      postmarkSubscriptionChange(),
      async () =>
        events(
          event({ kind: "bounced", hard: true, status: "5.1.1", diagnostic: suppression("HardBounce"), eventId: await changeId, occurredAt: CHANGED_AT, providerSuppressed: true }),
        ),
    ],
    [
      "a suppression after a spam complaint",
      postmarkSubscriptionChange({ SuppressionReason: "SpamComplaint" }),
      async () => events(event({ kind: "complained", diagnostic: suppression("SpamComplaint"), eventId: await changeId, occurredAt: CHANGED_AT, providerSuppressed: true })),
    ],
    [
      "an unsubscribe (ManualSuppression by the recipient)",
      postmarkSubscriptionChange({ SuppressionReason: "ManualSuppression" }),
      async () => events(event({ kind: "unsubscribed", diagnostic: suppression("ManualSuppression"), eventId: await changeId, occurredAt: CHANGED_AT, providerSuppressed: true })),
    ],
    [
      "a reactivation",
      postmarkSubscriptionChange({ SuppressSending: false, SuppressionReason: null, MessageID: null }),
      async () => ({ kind: "ignored", why: "a reactivation: Postmark sends to the address again" }),
    ],
    [
      "a suppression the account made",
      postmarkSubscriptionChange({ Origin: "Customer", SuppressionReason: "ManualSuppression", MessageID: null }),
      async () => ({ kind: "ignored", why: "a suppression made by the Customer, not by the recipient" }),
    ],
    ["a suppression with no message", postmarkSubscriptionChange({ MessageID: null }), async () => ({ kind: "ignored", why: "a suppression not caused by a message" })],
    ["an open", postmarkOpen(), async () => ({ kind: "ignored", why: "Open records say nothing about delivery" })],
    ["an unknown record type", postmarkDelivery({ RecordType: "Surprise" }), async () => ({ kind: "ignored", why: "unknown RecordType Surprise" })],
    ["an unknown bounce type", postmarkBounce("NewKind", { TypeCode: 999999 }), async () => ({ kind: "ignored", why: "bounce type NewKind is not one we know" })],
    ["a body that is not JSON", "RecordType=Bounce", async () => ({ kind: "invalid", reason: "the body is not a JSON object" })],
    ["a JSON array", "[]", async () => ({ kind: "invalid", reason: "the body is not a JSON object" })],
    ["no RecordType", postmarkBounce("HardBounce", { RecordType: undefined }), async () => ({ kind: "invalid", reason: "no RecordType" })],
    ["a bounce without MessageID", postmarkBounce("HardBounce", { MessageID: undefined }), async () => ({ kind: "invalid", reason: "no valid MessageID" })],
    ["a bounce without Email", postmarkBounce("HardBounce", { Email: "" }), async () => ({ kind: "invalid", reason: "no valid Email" })],
    ["a bounce at no time", postmarkBounce("HardBounce", { BouncedAt: "yesterday" }), async () => ({ kind: "invalid", reason: "BouncedAt is not a time" })],
    [
      "a bounce without Type or TypeCode",
      postmarkBounce("HardBounce", { Type: undefined, TypeCode: undefined }),
      async () => ({ kind: "invalid", reason: "a bounce without a known Type or TypeCode" }),
    ],
    [
      "a complaint record without Type: a complaint all the same",
      postmarkSpamComplaint({ Type: undefined, TypeCode: undefined }),
      async () => events(event({ kind: "complained", eventId: "43", diagnostic: "Test spam complaint details", providerSuppressed: true })),
    ],
    ["a delivery without Recipient", postmarkDelivery({ Recipient: undefined }), async () => ({ kind: "invalid", reason: "no valid Recipient" })],
  ];

  it.each(rows)("%s", async (_name, record, expected) => {
    expect(await read(record)).toEqual(await expected());
  });

  it("a replayed record reads the same, event id included", async () => {
    for (const record of [postmarkBounce(), postmarkDelivery(), postmarkSubscriptionChange()]) {
      expect(await read(JSON.stringify(record))).toEqual(await read(JSON.stringify(record)));
    }
  });

  it("a record without a time is dated when it is read", async () => {
    const before = Date.now();
    const reading = await read(postmarkDelivery({ DeliveredAt: undefined }));
    expect(reading.kind === "events" && reading.events[0]!.occurredAt).toBeGreaterThanOrEqual(before);
  });
});
