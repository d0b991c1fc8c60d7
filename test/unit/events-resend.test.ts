/**
 * Resend's webhook (src/events/providers/resend.ts) in plain Node: the Svix
 * signature and timestamp, Svix's own worked example as a known answer,
 * and every documented `email.*` event read into the events it becomes,
 * one table row each. The requests are built as Resend sends them
 * (test/provider-events/resend.ts).
 */
import { describe, expect, it } from "vitest";
import { RESEND_EVENTS, resendHook } from "../../src/events/providers/resend";
import { type HookReading, type HookRequest, MAX_EVENT_AGE_MS, type RecipientEvent, type Verification } from "../../src/events/types";
import { sha256Hex } from "../../src/hash";
import {
  RESEND_CREATED_AT,
  RESEND_EMAIL_ID,
  RESEND_RECIPIENT,
  RESEND_SECRET,
  RESEND_SUPPRESSED_BOUNCE,
  RESEND_SVIX_ID,
  resendBounced,
  resendComplained,
  resendDelivered,
  resendDeliveryDelayed,
  resendEvent,
  resendFailed,
  resendRequest,
  resendSent,
  resendSuppressed,
  SVIX_EXAMPLE,
  signedResendRequest,
  svixSignature,
} from "../provider-events/resend";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const CONFIG = { secret: RESEND_SECRET };
const OTHER_SECRET = "whsec_dGhpcyBpcyBub3QgdGhlIHNpZ25pbmcgc2VjcmV0";

describe("verify", () => {
  const refused = (reason: string): Verification => ({ ok: false, reason });
  const NO_MATCH = refused("no svix-signature matches");
  const MISSING = refused("missing svix-id, svix-timestamp or svix-signature header");
  const stale = (seconds: number): Verification => ({ ok: false, reason: `svix-timestamp ${seconds} is more than 5 minutes from now`, stale: true });
  const sign = (signing: Parameters<typeof signedResendRequest>[1] = {}) => signedResendRequest(resendDelivered(), { at: NOW, ...signing });
  /** A signed request with one header taken out or replaced. */
  const withHeader = async (name: string, value: string | null) => {
    const request = await sign();
    if (value === null) request.headers.delete(name);
    else request.headers.set(name, value);
    return request;
  };
  const tampered = async () => ({ ...(await sign()), body: JSON.stringify(resendDelivered({ to: ["attacker@example.org"] })) });
  const seconds = (ms: number) => Math.floor(ms / 1000);

  const rows: [string, () => Promise<HookRequest>, Record<string, string>, Verification][] = [
    ["a request signed with the secret", () => sign(), CONFIG, { ok: true }],
    ["signed 4 minutes ago", () => sign({ at: NOW - 4 * 60_000 }), CONFIG, { ok: true }],
    ["signed 4 minutes ahead (clock skew)", () => sign({ at: NOW + 4 * 60_000 }), CONFIG, { ok: true }],
    ["the new signature after an old one, while a secret rotates", () => sign({ signature: (s) => `v1,Zm9yZ2Vk ${s}` }), CONFIG, { ok: true }],
    ["a secret configured without its whsec_ prefix", () => sign(), { secret: RESEND_SECRET.slice("whsec_".length) }, { ok: true }],
    ["signed with another secret", () => sign({ secret: OTHER_SECRET }), CONFIG, NO_MATCH],
    ["a tampered body", tampered, CONFIG, NO_MATCH],
    ["another svix-id than the one signed", () => withHeader("svix-id", "msg_other"), CONFIG, NO_MATCH],
    ["another time than the one signed", () => withHeader("svix-timestamp", String(seconds(NOW) - 1)), CONFIG, NO_MATCH],
    ["the right signature under another version", () => sign({ signature: (s) => s.replace("v1,", "v2,") }), CONFIG, NO_MATCH],
    ["a signature without version", () => sign({ signature: (s) => s.slice(3) }), CONFIG, NO_MATCH],
    ["no svix-signature", () => withHeader("svix-signature", null), CONFIG, MISSING],
    ["no svix-id", () => withHeader("svix-id", null), CONFIG, MISSING],
    ["no svix-timestamp", () => withHeader("svix-timestamp", null), CONFIG, MISSING],
    ["a timestamp that is not a number", () => withHeader("svix-timestamp", "yesterday"), CONFIG, refused("svix-timestamp is not a time")],
    ["signed 6 minutes ago: a replay", () => sign({ at: NOW - 6 * 60_000 }), CONFIG, stale(seconds(NOW - 6 * 60_000))],
    ["signed 6 minutes ahead", () => sign({ at: NOW + 6 * 60_000 }), CONFIG, stale(seconds(NOW + 6 * 60_000))],
    ["a forged and stale request: refused as forged, not as stale", () => sign({ at: NOW - 6 * 60_000, secret: OTHER_SECRET }), CONFIG, NO_MATCH],
    ["no secret configured", () => sign(), {}, refused("no whsec_ signing secret configured")],
    ["a secret that is not base64", () => sign(), { secret: "whsec_not base64!" }, refused("no whsec_ signing secret configured")],
  ];

  it.each(rows)("%s", async (_name, request, config, expected) => {
    expect(await resendHook.verify(await request(), config, NOW)).toEqual(expected);
  });

  it("stale is measured against MAX_EVENT_AGE_MS", () => {
    expect(MAX_EVENT_AGE_MS).toBe(5 * 60_000);
  });

  it("Svix's worked example verifies, and our signer makes the same signature", async () => {
    const { secret, id, timestamp, body, signature } = SVIX_EXAMPLE;
    const request = resendRequest(body, { "svix-id": id, "svix-timestamp": timestamp, "svix-signature": signature });
    expect(await resendHook.verify(request, { secret }, Number(timestamp) * 1000)).toEqual({ ok: true });
    expect(await resendHook.verify(request, { secret }, Number(timestamp) * 1000 + MAX_EVENT_AGE_MS + 1000)).toMatchObject({ ok: false, stale: true });
    expect(await svixSignature(secret, id, timestamp, body)).toBe(signature);
  });
});

const OCCURRED_AT = Date.parse(RESEND_CREATED_AT);

/** The event the documented example becomes for RESEND_RECIPIENT, with these fields changed. */
function event(fields: Partial<RecipientEvent>): RecipientEvent {
  return {
    kind: "delivered",
    providerMessageId: RESEND_EMAIL_ID,
    recipient: RESEND_RECIPIENT,
    status: null,
    diagnostic: null,
    hard: false,
    eventId: `${RESEND_SVIX_ID}:${RESEND_RECIPIENT}`,
    occurredAt: OCCURRED_AT,
    providerSuppressed: false,
    ...fields,
  };
}

const events = (...list: RecipientEvent[]): HookReading => ({ kind: "events", events: list });
const read = async (body: Record<string, unknown> | string, headers: Record<string, string> = { "svix-id": RESEND_SVIX_ID }) => resendHook.read(resendRequest(body, headers));

describe("read", () => {
  const SUPPRESSED_MESSAGE =
    "Resend has suppressed sending to this address because it is on the account-level suppression list. This does not count toward your bounce rate metric";

  const rows: [string, Record<string, unknown> | string, () => Promise<HookReading>][] = [
    ["email.delivered", resendDelivered(), async () => events(event({}))],
    ["email.delivery_delayed", resendDeliveryDelayed(), async () => events(event({ kind: "deferred" }))],
    [
      "email.bounced, Permanent/General: hard, the server's status",
      resendBounced(),
      async () =>
        events(event({ kind: "bounced", hard: true, status: "5.5.0", diagnostic: "smtp; 550 5.5.0 Requested action not taken: mailbox unavailable", providerSuppressed: true })),
    ],
    [
      "email.bounced, Permanent/Suppressed (the documented example): hard, Resend's list",
      resendBounced(RESEND_SUPPRESSED_BOUNCE),
      async () => events(event({ kind: "bounced", hard: true, diagnostic: RESEND_SUPPRESSED_BOUNCE.message, providerSuppressed: true })),
    ],
    [
      "email.bounced, Permanent/OnAccountSuppressionList",
      resendBounced({ type: "Permanent", subType: "OnAccountSuppressionList", message: "Resend has suppressed sending to this address." }),
      async () => events(event({ kind: "bounced", hard: true, diagnostic: "Resend has suppressed sending to this address.", providerSuppressed: true })),
    ],
    [
      "email.bounced, Transient/MailboxFull: soft, the status the subtype implies",
      resendBounced({ type: "Transient", subType: "MailboxFull", message: "The recipient's inbox was full." }),
      async () => events(event({ kind: "bounced", hard: false, status: "5.2.2", diagnostic: "The recipient's inbox was full." })),
    ],
    [
      "email.bounced, Transient/MessageTooLarge",
      resendBounced({ type: "Transient", subType: "MessageTooLarge" }),
      async () => events(event({ kind: "bounced", hard: false, status: "5.3.4", diagnostic: "MessageTooLarge" })),
    ],
    [
      "email.bounced, Transient/ContentRejected with the server's answer",
      resendBounced({ type: "Transient", subType: "ContentRejected", diagnosticCode: ["smtp; 554 5.7.1 Message rejected as spam"] }),
      async () => events(event({ kind: "bounced", hard: false, status: "5.7.1", diagnostic: "smtp; 554 5.7.1 Message rejected as spam" })),
    ],
    [
      "email.bounced, Temporary (the field list's other word)",
      resendBounced({ type: "Temporary", subType: "General" }),
      async () => events(event({ kind: "bounced", hard: false, diagnostic: "General" })),
    ],
    [
      "email.bounced without bounce details: the event is a permanent rejection",
      resendEvent("email.bounced"),
      async () => events(event({ kind: "bounced", hard: true, providerSuppressed: true })),
    ],
    ["email.complained", resendComplained(), async () => events(event({ kind: "complained", providerSuppressed: true }))],
    ["email.failed", resendFailed(), async () => events(event({ kind: "failed", diagnostic: "reached_daily_quota" }))],
    ["email.suppressed", resendSuppressed(), async () => events(event({ kind: "failed", diagnostic: SUPPRESSED_MESSAGE, providerSuppressed: true }))],
    [
      "several recipients: one event each",
      resendDelivered({ to: ["a@example.com", "Bob <b@example.com>", "a@example.com"] }),
      async () =>
        events(
          event({ recipient: "a@example.com", eventId: `${RESEND_SVIX_ID}:a@example.com` }),
          event({ recipient: "b@example.com", eventId: `${RESEND_SVIX_ID}:b@example.com` }),
        ),
    ],
    ["no created_at: dated when read", resendDelivered({ createdAt: null }), async () => events(event({ occurredAt: expect.any(Number) as unknown as number }))],
    ["email.sent", resendSent(), async () => ({ kind: "ignored", why: "email.sent: the API request was accepted, as the send answer said already" })],
    ["email.opened", resendEvent("email.opened"), async () => ({ kind: "ignored", why: "email.opened: an open says nothing about delivery" })],
    ["email.clicked", resendEvent("email.clicked"), async () => ({ kind: "ignored", why: "email.clicked: a click says nothing about delivery" })],
    ["email.scheduled", resendEvent("email.scheduled"), async () => ({ kind: "ignored", why: "email.scheduled: the email is scheduled, not sent yet" })],
    ["email.received", resendEvent("email.received"), async () => ({ kind: "ignored", why: "email.received: an inbound email, not one we sent" })],
    [
      "contact.created",
      { type: "contact.created", created_at: RESEND_CREATED_AT, data: { id: "e169aa45" } },
      async () => ({ kind: "ignored", why: "unknown event type contact.created" }),
    ],
    ["a body that is not JSON", "type=email.delivered", async () => ({ kind: "invalid", reason: "the body is not a JSON object" })],
    ["no type", { data: {} }, async () => ({ kind: "invalid", reason: "no event type" })],
    ["no data", { type: "email.delivered" }, async () => ({ kind: "invalid", reason: "no data" })],
    ["no email_id", resendDelivered({ data: { email_id: undefined } }), async () => ({ kind: "invalid", reason: "no valid data.email_id" })],
    ["no to", resendDelivered({ data: { to: undefined } }), async () => ({ kind: "invalid", reason: "no data.to" })],
    ["an empty to", resendDelivered({ to: [] }), async () => ({ kind: "invalid", reason: "data.to holds something that is not an address" })],
    ["a to that is not an address", resendDelivered({ to: ["nobody"] }), async () => ({ kind: "invalid", reason: "data.to holds something that is not an address" })],
    ["a created_at that is not a time", resendDelivered({ createdAt: "soon" }), async () => ({ kind: "invalid", reason: "created_at is not a time" })],
  ];

  it.each(rows)("%s", async (_name, body, expected) => {
    expect(await read(body)).toEqual(await expected());
  });

  it("without svix-id, the event id is a digest of the event's content", async () => {
    const digest = await sha256Hex(JSON.stringify(["email.delivered", RESEND_EMAIL_ID, RESEND_RECIPIENT, RESEND_CREATED_AT]));
    expect(await read(resendDelivered(), {})).toEqual(events(event({ eventId: digest })));
  });

  it("a redelivery (same svix-id) reads the same event ids", async () => {
    const first = await read(resendBounced());
    expect(await read(resendBounced())).toEqual(first);
  });

  it("maps exactly the documented delivery events", () => {
    expect(RESEND_EVENTS).toEqual({
      "email.delivered": "delivered",
      "email.delivery_delayed": "deferred",
      "email.bounced": "bounced",
      "email.complained": "complained",
      "email.failed": "failed",
      "email.suppressed": "failed",
    });
  });

  it("a signed request verifies and reads end to end", async () => {
    const request = await signedResendRequest(resendBounced(), { at: NOW });
    expect(await resendHook.verify(request, CONFIG, NOW)).toEqual({ ok: true });
    expect(await resendHook.read(request)).toMatchObject({ kind: "events", events: [{ kind: "bounced", hard: true, eventId: `${RESEND_SVIX_ID}:${RESEND_RECIPIENT}` }] });
  });
});
