/**
 * SendGrid's Signed Event Webhook (src/events/providers/sendgrid.ts): the
 * ECDSA signature checked (DER read into WebCrypto's r||s), and each
 * documented event read into the recipient event it reports. Requests are
 * built by test/provider-events/sendgrid.ts; SendGrid's own test vector and
 * signatures made by Node's OpenSSL (DER, as SendGrid's are) check the
 * reader against more than our own signer.
 */
import { createSign, generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { rawSignatureFromDer, sendgridHook } from "../../src/events/providers/sendgrid";
import { MAX_EVENT_AGE_MS, type RecipientEvent } from "../../src/events/types";
import {
  derFromRaw,
  SENDGRID_EVENT_SECONDS,
  SENDGRID_MESSAGE_ID,
  SENDGRID_RECIPIENT,
  SENDGRID_SDK_VECTOR,
  type SendgridKeys,
  sendgridBlocked,
  sendgridDeferred,
  sendgridDelivered,
  sendgridDropped,
  sendgridEvent,
  sendgridHardBounce,
  sendgridKeys,
  sendgridRequest,
  sendgridSignature,
  sendgridSpamReport,
  sendgridUnsubscribe,
  signedSendgridRequest,
} from "../provider-events/sendgrid";

const NOW = Date.UTC(2026, 10, 30, 12, 0, 30);
const keys: SendgridKeys = await sendgridKeys();
const other: SendgridKeys = await sendgridKeys();
const CONFIG = { public_key: keys.publicKey };
const BODY = JSON.stringify([sendgridDelivered()]);
const TIMESTAMP = String(Math.floor(NOW / 1000));

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const bytesOf = (hex: string) => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ""), "hex"));

describe("rawSignatureFromDer", () => {
  const r = "01".repeat(32);
  const s = "02".repeat(32);
  it.each<[string, string, string | null]>([
    ["two full 32-byte integers", `3044 0220${r} 0220${s}`, `${r}${s}`],
    ["a high bit kept positive by a leading zero", `3046 022100${"80".repeat(32)} 022100${"ff".repeat(32)}`, `${"80".repeat(32)}${"ff".repeat(32)}`],
    ["short integers are left-padded", "3006 020101 020102", `${"00".repeat(31)}01${"00".repeat(31)}02`],
    ["a 31-byte r", `3043 021f${"7f".repeat(31)} 0220${s}`, `00${"7f".repeat(31)}${s}`],
    ["another tag than SEQUENCE", `3144 0220${r} 0220${s}`, null],
    ["an INTEGER tag missing", `3044 0420${r} 0220${s}`, null],
    ["the sequence longer than the bytes", `3045 0220${r} 0220${s}`, null],
    ["bytes after the sequence", `3044 0220${r} 0220${s} 00`, null],
    ["a negative integer", `3044 0220${"80".repeat(32)} 0220${s}`, null],
    ["a non-minimal leading zero", `3045 022100${"01".repeat(32)} 0220${s}`, null],
    ["a zero-length integer", `3024 0200 0220${s}`, null],
    ["an integer zero", "3006 020100 020102", null],
    ["an integer wider than the curve", `3046 0222${"01".repeat(34)} 0220${s}`, null],
    ["a long-form length under 128", `308144 0220${r} 0220${s}`, null],
    ["an integer running past the end", `3044 0220${r} 0230${s}`, null],
    ["WebCrypto's raw r||s instead of DER", `${r}${s}`, null],
    ["nothing", "", null],
  ])("%s", (_, der, raw) => {
    const result = rawSignatureFromDer(bytesOf(der));
    expect(result && Buffer.from(result).toString("hex")).toBe(raw);
  });

  it("reads back what the test signer encodes, whatever r and s", () => {
    const one = `${"00".repeat(31)}01`;
    for (const hex of [`${one}${one}`, "ff".repeat(64), `0000ff${"00".repeat(29)}${"80".repeat(32)}`, `7f${"00".repeat(31)}${one}`]) {
      expect(Buffer.from(rawSignatureFromDer(derFromRaw(bytesOf(hex)))!).toString("hex")).toBe(hex);
    }
  });
});

describe("sendgridHook.verify", () => {
  type Made = ReturnType<typeof sendgridRequest>;
  const signed = (signing = {}) => signedSendgridRequest(BODY, keys, { at: NOW, ...signing });
  /** The request signed correctly, then its signature header replaced by what `change` makes of the DER bytes. */
  const reencoded = async (change: (der: Uint8Array) => string) => {
    const signature = await sendgridSignature(keys.privateKey, TIMESTAMP, BODY);
    return sendgridRequest(BODY, { signature: change(Uint8Array.from(Buffer.from(signature, "base64"))), timestamp: TIMESTAMP });
  };
  const rows: [string, () => Promise<Made>, { ok: boolean; stale?: boolean; reason?: RegExp }, Record<string, string>?][] = [
    ["a batch signed with the key", () => signed(), { ok: true }],
    ["signed 4 minutes ago", () => signed({ at: NOW - 4 * 60_000 }), { ok: true }],
    ["the key in PEM armour", () => signed(), { ok: true }, { public_key: `-----BEGIN PUBLIC KEY-----\n${keys.publicKey}\n-----END PUBLIC KEY-----\n` }],
    ["another account's key", () => signedSendgridRequest(BODY, other, { at: NOW }), { ok: false, reason: /does not match/ }],
    ["the body changed after signing", () => signed({ sentBody: BODY.replace("delivered", "bounce") }), { ok: false, reason: /does not match/ }],
    ["a space added to the body", () => signed({ sentBody: `${BODY} ` }), { ok: false, reason: /does not match/ }],
    ["the timestamp changed after signing", () => signed({ sentTimestamp: String(Number(TIMESTAMP) - 1) }), { ok: false, reason: /does not match/ }],
    ["signed 6 minutes ago", () => signed({ at: NOW - 6 * 60_000 }), { ok: false, stale: true, reason: /360 s ago/ }],
    ["signed a day ago", () => signed({ at: NOW - 86_400_000 }), { ok: false, stale: true }],
    ["signed 10 minutes in the future", () => signed({ at: NOW + 10 * 60_000 }), { ok: false, reason: /future/ }],
    ["no signature header", async () => sendgridRequest(BODY, { timestamp: TIMESTAMP }), { ok: false, reason: /no X-Twilio-Email-Event-Webhook-Signature/ }],
    ["no timestamp header", async () => sendgridRequest(BODY, { signature: "MEUCIQ==" }), { ok: false, reason: /no X-Twilio-Email-Event-Webhook-Timestamp/ }],
    ["a timestamp that is not seconds", () => signed({ sentTimestamp: "2026-11-30T12:00:00Z" }), { ok: false, reason: /not a number of seconds/ }],
    ["a signature that is not base64", async () => sendgridRequest(BODY, { signature: "not base64!", timestamp: TIMESTAMP }), { ok: false, reason: /not base64/ }],
    ["a DER signature cut short", () => reencoded((der) => base64(der.subarray(0, der.length - 1))), { ok: false, reason: /DER/ }],
    ["a byte after the DER sequence", () => reencoded((der) => base64(new Uint8Array([...der, 0]))), { ok: false, reason: /DER/ }],
    ["the raw r||s WebCrypto makes, not DER", () => reencoded((der) => base64(rawSignatureFromDer(der)!)), { ok: false, reason: /DER/ }],
    ["a DER sequence of something else", () => reencoded(() => base64(bytesOf("3006 0c0161 0c0162"))), { ok: false, reason: /DER/ }],
    ["no key configured", () => signed(), { ok: false, reason: /no SendGrid verification key/ }, {}],
    ["a configured key that is not base64", () => signed(), { ok: false, reason: /configured key/ }, { public_key: "not a key" }],
    ["a configured key of another kind (an RSA key)", () => signed(), { ok: false, reason: /configured key/ }, { public_key: rsaPublicKey() }],
  ];
  it.each(rows)("%s", async (_, request, expected, config = CONFIG) => {
    const result = await sendgridHook.verify(await request(), config, NOW);
    expect(result.ok).toBe(expected.ok);
    if (!result.ok) {
      expect(result.stale ?? false).toBe(expected.stale ?? false);
      if (expected.reason) expect(result.reason).toMatch(expected.reason);
    }
  });

  it("refuses exactly past MAX_EVENT_AGE_MS", async () => {
    const at = Number(TIMESTAMP) * 1000;
    expect((await sendgridHook.verify(await signed({ at }), CONFIG, at + MAX_EVENT_AGE_MS)).ok).toBe(true);
    expect(await sendgridHook.verify(await signed({ at }), CONFIG, at + MAX_EVENT_AGE_MS + 1)).toMatchObject({ ok: false, stale: true });
  });

  // SendGrid's own signature, from its Node helper's tests: the scheme as SendGrid runs it.
  const vector = SENDGRID_SDK_VECTOR;
  const atVector = Number(vector.timestamp) * 1000;
  it.each<[string, Record<string, string>, string, string, string, boolean]>([
    ["SendGrid's signature verifies", { public_key: vector.publicKey }, vector.payload, vector.signature, vector.timestamp, true],
    ["under another key it does not", { public_key: vector.otherPublicKey }, vector.payload, vector.signature, vector.timestamp, false],
    ["nor over another payload", { public_key: vector.publicKey }, "payload", vector.signature, vector.timestamp, false],
    ["nor with one character changed", { public_key: vector.publicKey }, vector.payload, vector.badSignature, vector.timestamp, false],
    ["nor with another timestamp", { public_key: vector.publicKey }, vector.payload, vector.signature, "1588788368", false],
  ])("SendGrid's test vector: %s", async (_, config, body, signature, timestamp, ok) => {
    const result = await sendgridHook.verify(sendgridRequest(body, { signature, timestamp }), config, atVector);
    expect(result.ok).toBe(ok);
  });

  it("verifies signatures made by Node's OpenSSL, DER like SendGrid's (r with and without its leading zero)", async () => {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const config = { public_key: publicKey.export({ type: "spki", format: "der" }).toString("base64") };
    const rWidths = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const body = JSON.stringify([sendgridDelivered({ sg_event_id: `event-${i}` })]);
      const der = createSign("sha256")
        .update(TIMESTAMP + body)
        .sign(privateKey);
      rWidths.add(der[3]!);
      const result = await sendgridHook.verify(sendgridRequest(body, { signature: der.toString("base64"), timestamp: TIMESTAMP }), config, NOW);
      expect(result, `signature ${der.toString("hex")}`).toEqual({ ok: true });
    }
    // Half of all r have the high bit set and take a 33rd byte; 64 signatures all missing either width has odds of 2^-63.
    expect(rWidths).toContain(32);
    expect(rWidths).toContain(33);
  });
});

function rsaPublicKey(): string {
  return generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "der" }).toString("base64");
}

describe("sendgridHook.read", () => {
  const expected = (fields: Partial<RecipientEvent>): RecipientEvent => ({
    kind: "delivered",
    providerMessageId: SENDGRID_MESSAGE_ID,
    recipient: SENDGRID_RECIPIENT,
    status: null,
    diagnostic: null,
    hard: false,
    eventId: expect.any(String) as unknown as string,
    occurredAt: SENDGRID_EVENT_SECONDS * 1000,
    providerSuppressed: false,
    ...fields,
  });
  const read = async (events: unknown[] | string) => sendgridHook.read(await signedSendgridRequest(events as Record<string, unknown>[], keys, { at: NOW }));

  it.each<[string, Record<string, unknown>, Partial<RecipientEvent>]>([
    ["delivered", sendgridDelivered(), { kind: "delivered", diagnostic: "250 OK", eventId: "rWVYmVk90MjZJ9iohOBa3w==" }],
    ["deferred", sendgridDeferred(), { kind: "deferred", diagnostic: "400 try again later", eventId: "t7LEShmowp86DTdUW8M-GQ==" }],
    [
      "deferred with an enhanced code",
      sendgridDeferred({ response: "452 4.2.2 The email account that you tried to reach is over quota." }),
      { kind: "deferred", status: "4.2.2", diagnostic: "452 4.2.2 The email account that you tried to reach is over quota." },
    ],
    [
      "bounce, type bounce: no such mailbox",
      sendgridHardBounce(),
      {
        kind: "bounced",
        status: "5.1.1",
        diagnostic: "550 5.1.1 The email account that you tried to reach does not exist.",
        hard: true,
        providerSuppressed: true,
        eventId: "6g4ZI7SA-xmRDv57GoPIPw==",
      },
    ],
    [
      "bounce, the reference's example (500 unknown recipient, 5.0.0): hard by its words",
      sendgridHardBounce({ reason: "500 unknown recipient", status: "5.0.0" }),
      { kind: "bounced", status: "5.0.0", diagnostic: "500 unknown recipient", hard: true, providerSuppressed: true },
    ],
    [
      "bounce, a policy refusal: not hard, but SendGrid lists the address",
      sendgridHardBounce({ reason: "550 5.7.1 Message rejected due to local policy", status: "5.7.1" }),
      { kind: "bounced", status: "5.7.1", diagnostic: "550 5.7.1 Message rejected due to local policy", hard: false, providerSuppressed: true },
    ],
    [
      "bounce without type: a bounce",
      sendgridHardBounce({ type: undefined }),
      { kind: "bounced", status: "5.1.1", diagnostic: "550 5.1.1 The email account that you tried to reach does not exist.", hard: true, providerSuppressed: true },
    ],
    [
      "bounce, type blocked (the reference's example): neither hard nor suppressed",
      sendgridBlocked(),
      { kind: "bounced", status: "5.0.0", diagnostic: "500 unknown recipient", hard: false, providerSuppressed: false },
    ],
    ["dropped, Bounced Address", sendgridDropped("Bounced Address"), { kind: "failed", status: "5.0.0", diagnostic: "Bounced Address", providerSuppressed: true }],
    ["dropped, Unsubscribed Address", sendgridDropped("Unsubscribed Address"), { kind: "failed", status: "5.0.0", diagnostic: "Unsubscribed Address", providerSuppressed: true }],
    [
      "dropped, Spam Reporting Address",
      sendgridDropped("Spam Reporting Address"),
      { kind: "failed", status: "5.0.0", diagnostic: "Spam Reporting Address", providerSuppressed: true },
    ],
    [
      "dropped, Invalid SMTPAPI header",
      sendgridDropped("Invalid SMTPAPI header"),
      { kind: "failed", status: "5.0.0", diagnostic: "Invalid SMTPAPI header", providerSuppressed: false },
    ],
    ["dropped, Spam Content", sendgridDropped("Spam Content"), { kind: "failed", status: "5.0.0", diagnostic: "Spam Content", providerSuppressed: false }],
    ["spamreport", sendgridSpamReport(), { kind: "complained", providerSuppressed: true, eventId: "37nvH5QBz858KGVYCM4uOA==" }],
    ["unsubscribe", sendgridUnsubscribe(), { kind: "unsubscribed", providerSuppressed: true, eventId: "zz_BjPgU_5pS-J8vlfB1sg==" }],
    ["group_unsubscribe: that group's mail only", sendgridEvent("group_unsubscribe", { asm_group_id: 10 }), { kind: "unsubscribed", providerSuppressed: false }],
    [
      "a message id of the A/B test example",
      sendgridDelivered({ sg_message_id: "5lFl7Fr1Rjme_EyzNNB_5A.stfilter-015.5185.55F883172.0" }),
      { diagnostic: "250 OK", providerMessageId: "5lFl7Fr1Rjme_EyzNNB_5A" },
    ],
    ["a message id with no dot is the X-Message-ID itself", sendgridDelivered({ sg_message_id: "14c5d75ce93" }), { diagnostic: "250 OK" }],
    ["the event's time", sendgridDelivered({ timestamp: 1513299569 }), { diagnostic: "250 OK", occurredAt: 1513299569000 }],
    ["the recipient as SendGrid names it", sendgridDelivered({ email: "Bob@Example.COM" }), { diagnostic: "250 OK", recipient: "Bob@Example.COM" }],
  ])("%s", async (_, event, fields) => {
    expect(await read([event])).toEqual({ kind: "events", events: [expected(fields)] });
  });

  it.each(["processed", "open", "click", "group_resubscribe", "something_new"])("%s is ignored", async (event) => {
    expect(await read([sendgridEvent(event)])).toMatchObject({ kind: "ignored", why: "1 event(s) saying nothing of delivery" });
  });

  it("reads a batch event by event, in order, leaving out what says nothing", async () => {
    const reading = await read([sendgridEvent("processed"), sendgridDelivered(), sendgridEvent("open"), sendgridHardBounce({ email: "bob@test.com" }), sendgridSpamReport()]);
    expect(reading.kind === "events" && reading.events.map((e) => [e.kind, e.recipient])).toEqual([
      ["delivered", SENDGRID_RECIPIENT],
      ["bounced", "bob@test.com"],
      ["complained", SENDGRID_RECIPIENT],
    ]);
  });

  it("leaves out an asynchronous bounce, which has no sg_message_id (event reference)", async () => {
    expect(await read([sendgridHardBounce({ sg_message_id: undefined })])).toEqual({ kind: "ignored", why: "1 without sg_message_id" });
    const reading = await read([sendgridHardBounce({ sg_message_id: undefined }), sendgridDelivered()]);
    expect(reading.kind === "events" && reading.events.map((e) => e.kind)).toEqual(["delivered"]);
  });

  it("leaves out an unreadable event and reads the others", async () => {
    const reading = await read([sendgridDelivered({ email: undefined }), "text", sendgridDeferred()]);
    expect(reading.kind === "events" && reading.events.map((e) => e.kind)).toEqual(["deferred"]);
  });

  it("an event without sg_event_id gets a digest of its content, the same on a replay", async () => {
    const event = sendgridDelivered({ sg_event_id: undefined });
    const [first, again] = [await read([event]), await read([event])];
    const idOf = (r: typeof first) => (r.kind === "events" ? r.events[0]!.eventId : null);
    expect(idOf(first)).toMatch(/^[0-9a-f]{64}$/);
    expect(idOf(again)).toBe(idOf(first));
  });

  it.each<[string, unknown[] | string, RegExp]>([
    ["not JSON", "not json", /not JSON/],
    ["an object, not an array", JSON.stringify(sendgridDelivered()), /not a JSON array/],
    ["only events without email", [sendgridDelivered({ email: undefined }), sendgridHardBounce({ email: "" })], /#0 \(delivered\) has no email; #1 \(bounce\) has no email/],
    ["only things that are not events", [1, null, { email: "x@test.com" }], /#0 is not an event/],
  ])("invalid: %s", async (_, body, reason) => {
    const reading = await read(body as unknown[]);
    expect(reading.kind).toBe("invalid");
    if (reading.kind === "invalid") expect(reading.reason).toMatch(reason);
  });

  it("an empty batch is ignored", async () => {
    expect(await read([])).toEqual({ kind: "ignored", why: "an empty batch" });
  });
});
