/**
 * Mailgun's event webhook (src/events/providers/mailgun.ts): the body's
 * signature checked, and each documented event read into the recipient
 * event it reports. Requests are built by test/provider-events/mailgun.ts;
 * Node's own HMAC checks that builder, so the two are not one mistake.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { mailgunHook } from "../../src/events/providers/mailgun";
import { MAX_EVENT_AGE_MS, type RecipientEvent } from "../../src/events/types";
import {
  MAILGUN_EVENT_SECONDS,
  MAILGUN_MESSAGE_ID,
  MAILGUN_RECIPIENT,
  MAILGUN_SIGNING_KEY,
  mailgunBody,
  mailgunComplaint,
  mailgunDelivered,
  mailgunHardBounce,
  mailgunMessage,
  mailgunRequest,
  mailgunSignature,
  mailgunSuppressed,
  mailgunTemporaryFailure,
  mailgunUnsubscribe,
  signedMailgunRequest,
} from "../provider-events/mailgun";

const NOW = Date.UTC(2026, 10, 30, 12, 0, 30);
const CONFIG = { signing_key: MAILGUN_SIGNING_KEY };

describe("the test signer", () => {
  it("signs as Node's HMAC does (Securing Webhooks: hex HMAC-SHA256 of timestamp + token)", async () => {
    const expected = createHmac("sha256", MAILGUN_SIGNING_KEY).update("1770920772e0b5477167110d68991efc6b9f89f0a11066af27834600e123").digest("hex");
    expect(await mailgunSignature(MAILGUN_SIGNING_KEY, "1770920772", "e0b5477167110d68991efc6b9f89f0a11066af27834600e123")).toBe(expected);
  });
});

describe("mailgunHook.verify", () => {
  type Row = [string, () => Promise<ReturnType<typeof mailgunRequest>>, { ok: boolean; stale?: boolean; reason?: RegExp }, Record<string, string>?];
  const signed = (signing = {}) => signedMailgunRequest(mailgunDelivered(), { at: NOW, ...signing });
  const body = async (change: (b: Record<string, any>) => void) => {
    const b: Record<string, any> = await mailgunBody(mailgunDelivered(), { at: NOW });
    change(b);
    return mailgunRequest(b);
  };
  const rows: Row[] = [
    ["a request signed with the key", () => signed(), { ok: true }],
    ["signed 4 minutes ago", () => signed({ at: NOW - 4 * 60_000 }), { ok: true }],
    ["a signature in capitals", () => body((b) => (b.signature.signature = b.signature.signature.toUpperCase())), { ok: true }],
    ["a number timestamp (documented as int)", () => body((b) => (b.signature.timestamp = Number(b.signature.timestamp))), { ok: true }],
    ["another key", () => signed({ key: "key-someone-else" }), { ok: false, reason: /does not match/ }],
    ["a key configured for another account", () => signed(), { ok: false, reason: /does not match/ }, { signing_key: "key-other" }],
    ["the token changed after signing", () => body((b) => (b.signature.token = `${b.signature.token}x`)), { ok: false, reason: /does not match/ }],
    ["the timestamp changed after signing", () => body((b) => (b.signature.timestamp = String(Number(b.signature.timestamp) + 1))), { ok: false, reason: /does not match/ }],
    ["signed 6 minutes ago", () => signed({ at: NOW - 6 * 60_000 }), { ok: false, stale: true, reason: /360 s ago/ }],
    ["signed a day ago", () => signed({ at: NOW - 86_400_000 }), { ok: false, stale: true }],
    ["a stale request with a wrong signature is a wrong signature", () => signed({ at: NOW - 86_400_000, key: "key-x" }), { ok: false, reason: /does not match/ }],
    ["signed 10 minutes in the future", () => signed({ at: NOW + 10 * 60_000 }), { ok: false, reason: /future/ }],
    ["no signature block", () => body((b) => delete b.signature), { ok: false, reason: /no "signature"/ }],
    ["no token", () => body((b) => delete b.signature.token), { ok: false, reason: /no token/ }],
    ["no timestamp", () => body((b) => delete b.signature.timestamp), { ok: false, reason: /timestamp/ }],
    ["a timestamp that is not seconds", () => body((b) => (b.signature.timestamp = "2026-11-30T12:00:00Z")), { ok: false, reason: /timestamp/ }],
    ["no signature", () => body((b) => delete b.signature.signature), { ok: false, reason: /hex/ }],
    ["a signature that is not hex", () => body((b) => (b.signature.signature = "z".repeat(64))), { ok: false, reason: /hex/ }],
    ["a body that is not JSON", async () => mailgunRequest("timestamp=1&token=x&signature=y"), { ok: false, reason: /not a JSON object/ }],
    ["a JSON array", async () => mailgunRequest("[]"), { ok: false, reason: /not a JSON object/ }],
    ["no signing key configured", () => signed(), { ok: false, reason: /no Mailgun webhook signing key/ }, {}],
  ];
  it.each(rows)("%s", async (_, request, expected, config = CONFIG) => {
    const result = await mailgunHook.verify(await request(), config, NOW);
    expect(result.ok).toBe(expected.ok);
    if (!result.ok) {
      expect(result.stale ?? false).toBe(expected.stale ?? false);
      if (expected.reason) expect(result.reason).toMatch(expected.reason);
    }
  });

  it("takes a subaccount's parent-signature when the parent account's key is configured", async () => {
    const parentKey = "key-parent-account";
    const b: Record<string, any> = await mailgunBody(mailgunDelivered(), { at: NOW, key: "key-subaccount" });
    b.signature["parent-signature"] = await mailgunSignature(parentKey, b.signature.timestamp, b.signature.token);
    expect(await mailgunHook.verify(mailgunRequest(b), { signing_key: parentKey }, NOW)).toEqual({ ok: true });
    expect(await mailgunHook.verify(mailgunRequest(b), { signing_key: "key-subaccount" }, NOW)).toEqual({ ok: true });
    expect((await mailgunHook.verify(mailgunRequest(b), { signing_key: "key-third" }, NOW)).ok).toBe(false);
  });

  it("refuses exactly past MAX_EVENT_AGE_MS (seconds as signed)", async () => {
    const at = NOW - MAX_EVENT_AGE_MS;
    expect((await mailgunHook.verify(await signed({ at }), CONFIG, Math.floor(at / 1000) * 1000 + MAX_EVENT_AGE_MS)).ok).toBe(true);
    expect(await mailgunHook.verify(await signed({ at }), CONFIG, Math.floor(at / 1000) * 1000 + MAX_EVENT_AGE_MS + 1)).toMatchObject({ ok: false, stale: true });
  });
});

describe("mailgunHook.read", () => {
  const expected = (fields: Partial<RecipientEvent>): RecipientEvent => ({
    kind: "delivered",
    providerMessageId: MAILGUN_MESSAGE_ID,
    recipient: MAILGUN_RECIPIENT,
    status: null,
    diagnostic: null,
    hard: false,
    eventId: expect.any(String) as unknown as string,
    occurredAt: Math.round(MAILGUN_EVENT_SECONDS * 1000),
    providerSuppressed: false,
    ...fields,
  });
  const HARD_DIAGNOSTIC = "550 5.1.1 The email account that you tried to reach does not exist. Please try 5.1.1 double-checking the recipient's email address for typos";

  it.each<[string, Record<string, unknown>, Partial<RecipientEvent>]>([
    ["delivered", mailgunDelivered(), { kind: "delivered", diagnostic: "250 OK", eventId: "hTWCTD81RtiDN-delivered" }],
    [
      "delivered with an enhanced code in the answer",
      mailgunDelivered({ "delivery-status": { code: 250, message: "2.0.0 OK 1534108637 a1si2222wra.6 - gsmtp" } }),
      { kind: "delivered", status: "2.0.0", diagnostic: "250 2.0.0 OK 1534108637 a1si2222wra.6 - gsmtp" },
    ],
    [
      "failed, permanent, reason bounce: no such mailbox",
      mailgunHardBounce(),
      { kind: "bounced", status: "5.1.1", diagnostic: HARD_DIAGNOSTIC, hard: true, eventId: "G9Bn5sl1TC6nu79C8C0bwg" },
    ],
    [
      "failed, permanent, reason bounce: a policy refusal is not hard",
      mailgunHardBounce({ "delivery-status": { code: 550, message: "5.7.1 Message rejected due to local policy" } }),
      { kind: "bounced", status: "5.7.1", diagnostic: "550 5.7.1 Message rejected due to local policy", hard: false },
    ],
    [
      "failed, permanent: the enhanced-code given apart leads",
      mailgunHardBounce({ "delivery-status": { code: 550, message: "Requested action not taken: mailbox unavailable", "enhanced-code": "5.1.1" } }),
      { kind: "bounced", status: "5.1.1", diagnostic: "550 Requested action not taken: mailbox unavailable", hard: true },
    ],
    [
      "failed, permanent, no status anywhere: 5.0.0, hard by its words",
      mailgunHardBounce({ "delivery-status": { code: 550, message: "No such user here" } }),
      { kind: "bounced", status: "5.0.0", diagnostic: "550 No such user here", hard: true },
    ],
    [
      "failed, permanent, another reason but a 5xx answer: still the remote's refusal",
      mailgunHardBounce({ reason: "generic", "delivery-status": { code: 552, message: "5.2.2 Mailbox full" } }),
      { kind: "bounced", status: "5.2.2", diagnostic: "552 5.2.2 Mailbox full", hard: false },
    ],
    ["failed, temporary (no MX, retried)", mailgunTemporaryFailure(), { kind: "deferred", diagnostic: "498 No MX for example.com", eventId: "Fs7-5t81S2ioH2A4OU4kvw" }],
    [
      "failed, temporary, greylisted",
      mailgunTemporaryFailure({ reason: "greylisted", "delivery-status": { code: 450, message: "4.2.0 Recipient address rejected: Greylisted" } }),
      { kind: "deferred", status: "4.2.0", diagnostic: "450 4.2.0 Recipient address rejected: Greylisted" },
    ],
    [
      "failed, permanent, suppress-bounce: dropped, Mailgun's bounce list",
      mailgunSuppressed("suppress-bounce"),
      { kind: "failed", diagnostic: "Not delivering to previously bounced address", providerSuppressed: true },
    ],
    [
      "failed, permanent, suppress-complaint",
      mailgunSuppressed("suppress-complaint"),
      { kind: "failed", diagnostic: "Not delivering to an address that complained", providerSuppressed: true },
    ],
    [
      "failed, permanent, suppress-unsubscribe",
      mailgunSuppressed("suppress-unsubscribe"),
      { kind: "failed", diagnostic: "Not delivering to an unsubscribed address", providerSuppressed: true },
    ],
    [
      "failed, permanent, old: gave up after retrying",
      mailgunHardBounce({ reason: "old", "delivery-status": { code: 602, message: "Too old", description: "Too old" } }),
      { kind: "failed", diagnostic: "Too old" },
    ],
    [
      "failed, permanent, espblock",
      mailgunHardBounce({ reason: "espblock", "delivery-status": { code: 605, message: "", description: "Blocked by the ESP" } }),
      { kind: "failed", diagnostic: "Blocked by the ESP" },
    ],
    ["complained", mailgunComplaint(), { kind: "complained", providerSuppressed: true, eventId: "-Agny091SquKnsrW2NEKUA" }],
    ["unsubscribed", mailgunUnsubscribe(), { kind: "unsubscribed", providerSuppressed: true, eventId: "W3X4JOhFT-OZidZGKKr9iA" }],
    ["a Message-ID in brackets is stored without them", mailgunDelivered({ message: mailgunMessage(`<${MAILGUN_MESSAGE_ID}>`) }), { diagnostic: "250 OK" }],
    ["the event's time, to the millisecond", mailgunDelivered({ timestamp: 1534108637.153125 }), { diagnostic: "250 OK", occurredAt: 1534108637153 }],
    ["the recipient as Mailgun names it", mailgunDelivered({ recipient: "Bob@Example.COM" }), { diagnostic: "250 OK", recipient: "Bob@Example.COM" }],
  ])("%s", async (_, eventData, fields) => {
    const reading = await mailgunHook.read(await signedMailgunRequest(eventData, { at: NOW }));
    expect(reading).toEqual({ kind: "events", events: [expected({ diagnostic: null, ...fields })] });
  });

  it.each(["opened", "clicked", "accepted", "rejected", "stored", "list_member_uploaded"])("%s is ignored", async (event) => {
    const reading = await mailgunHook.read(await signedMailgunRequest(mailgunDelivered({ event }), { at: NOW }));
    expect(reading).toMatchObject({ kind: "ignored", why: expect.stringContaining(event) });
  });

  it("an event without id gets a digest of its content, the same on a replay", async () => {
    const eventData = mailgunDelivered({ id: undefined });
    const [first, again] = await Promise.all([
      mailgunHook.read(await signedMailgunRequest(eventData, { at: NOW })),
      mailgunHook.read(await signedMailgunRequest(eventData, { at: NOW + 60_000, token: "another-token" })),
    ]);
    const idOf = (r: Awaited<typeof first>) => (r.kind === "events" ? r.events[0]!.eventId : null);
    expect(idOf(first)).toMatch(/^[0-9a-f]{64}$/);
    expect(idOf(again)).toBe(idOf(first));
  });

  it("an event without timestamp takes the signature's", async () => {
    const reading = await mailgunHook.read(await signedMailgunRequest(mailgunDelivered({ timestamp: undefined }), { at: NOW }));
    expect(reading).toMatchObject({ kind: "events", events: [{ occurredAt: Math.floor(NOW / 1000) * 1000 }] });
  });

  it.each<[string, () => Promise<ReturnType<typeof mailgunRequest>>, RegExp]>([
    ["not JSON", async () => mailgunRequest("not json"), /not a JSON object/],
    ["no event-data", async () => mailgunRequest({ signature: {} }), /no "event-data"/],
    ["no event", () => signedMailgunRequest(mailgunDelivered({ event: undefined }), { at: NOW }), /no "event"/],
    ["no recipient", () => signedMailgunRequest(mailgunHardBounce({ recipient: undefined }), { at: NOW }), /no recipient/],
    ["no message", () => signedMailgunRequest(mailgunHardBounce({ message: undefined }), { at: NOW }), /message-id/],
    ["an empty Message-ID", () => signedMailgunRequest(mailgunHardBounce({ message: mailgunMessage("<>") }), { at: NOW }), /message-id/],
    ["a failure without severity", () => signedMailgunRequest(mailgunHardBounce({ severity: undefined }), { at: NOW }), /severity/],
  ])("invalid: %s", async (_, request, reason) => {
    const reading = await mailgunHook.read(await request());
    expect(reading.kind).toBe("invalid");
    if (reading.kind === "invalid") expect(reading.reason).toMatch(reason);
  });
});
