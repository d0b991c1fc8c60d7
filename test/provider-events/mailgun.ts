/**
 * Mailgun webhook requests as Mailgun sends them, for the Node table tests
 * and the Worker tests alike (WebCrypto only, no node: imports). The
 * payloads follow Mailgun's documented examples
 * (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads,
 * and the events API samples in github.com/mailgun/documentation,
 * source/api-events.rst); the signature its Securing Webhooks page
 * (hex HMAC-SHA256 of timestamp + token with the webhook signing key).
 */
import type { HookRequest } from "../../src/events/types";

type Json = Record<string, unknown>;

export const MAILGUN_SIGNING_KEY = "key-0123456789abcdef0123456789abcdef";
/** The id as the events carry it (no brackets); the send API answered `<${MAILGUN_MESSAGE_ID}>`. */
export const MAILGUN_MESSAGE_ID = "20180812214658.1.0DF563D0B3597700@mg.example.org";
export const MAILGUN_RECIPIENT = "alice@example.com";
/** 2026-11-30T12:00:00Z, the events' time unless a test says otherwise. */
export const MAILGUN_EVENT_SECONDS = 1_796_040_000.123456;

const encoder = new TextEncoder();

/** The fields every event carries, as in the documented payloads. */
function base(event: string, id: string): Json {
  return {
    id,
    timestamp: MAILGUN_EVENT_SECONDS,
    "log-level": event === "delivered" ? "info" : event === "failed" ? "error" : "warn",
    event,
    recipient: MAILGUN_RECIPIENT,
    "recipient-domain": "example.com",
    envelope: { sender: "bounce@mg.example.org", transport: "smtp", targets: MAILGUN_RECIPIENT },
    flags: { "is-authenticated": true, "is-test-mode": false },
    message: {
      headers: { to: MAILGUN_RECIPIENT, "message-id": MAILGUN_MESSAGE_ID, from: "Sender <sender@mg.example.org>", subject: "Testing" },
      attachments: [],
      size: 809,
    },
    tags: [],
    "user-variables": {},
    campaigns: [],
  };
}

/** A delivery (webhook payloads, Delivered Event). */
export function mailgunDelivered(overrides: Json = {}): Json {
  return {
    ...base("delivered", "hTWCTD81RtiDN-delivered"),
    "delivery-status": { tls: true, "mx-host": "mx.example.com", "attempt-no": 1, description: "", "session-seconds": 3.57, utf8: true, code: 250, message: "OK" },
    ...overrides,
  };
}

/** A hard bounce: the remote server says the mailbox does not exist (webhook payloads, Permanent Failure). */
export function mailgunHardBounce(overrides: Json = {}): Json {
  return {
    ...base("failed", "G9Bn5sl1TC6nu79C8C0bwg"),
    severity: "permanent",
    reason: "bounce",
    "delivery-status": {
      tls: true,
      "mx-host": "aspmx.l.example.com",
      "attempt-no": 1,
      description: "",
      "session-seconds": 2.95,
      utf8: true,
      code: 550,
      message: "5.1.1 The email account that you tried to reach does not exist. Please try\n5.1.1 double-checking the recipient's email address for typos",
      "certificate-verified": true,
    },
    ...overrides,
  };
}

/** A temporary failure Mailgun retries (events API sample: no MX, reason generic). */
export function mailgunTemporaryFailure(overrides: Json = {}): Json {
  return {
    ...base("failed", "Fs7-5t81S2ioH2A4OU4kvw"),
    severity: "temporary",
    reason: "generic",
    "delivery-status": { "attempt-no": 3, description: "No MX for example.com", "session-seconds": 0, "retry-seconds": 1800, code: 498, message: "No MX for example.com" },
    ...overrides,
  };
}

/**
 * A send Mailgun dropped because the address is on one of its suppression
 * lists (reason suppress-bounce, -complaint or -unsubscribe; code 605). The
 * suppress-bounce wording is Mailgun's; the other two descriptions are
 * ours, as the documentation shows none (the reader does not depend on them).
 */
export function mailgunSuppressed(reason = "suppress-bounce", overrides: Json = {}): Json {
  const description = {
    "suppress-bounce": "Not delivering to previously bounced address",
    "suppress-complaint": "Not delivering to an address that complained",
    "suppress-unsubscribe": "Not delivering to an unsubscribed address",
  }[reason];
  return {
    ...base("failed", `suppressed-${reason}`),
    severity: "permanent",
    reason,
    "delivery-status": { "attempt-no": 1, message: "", code: 605, "enhanced-code": "", description: description ?? "", "session-seconds": 0 },
    ...overrides,
  };
}

/** A complaint (feedback loop). */
export function mailgunComplaint(overrides: Json = {}): Json {
  return { ...base("complained", "-Agny091SquKnsrW2NEKUA"), ...overrides };
}

/** An unsubscribe through Mailgun's link. */
export function mailgunUnsubscribe(overrides: Json = {}): Json {
  return { ...base("unsubscribed", "W3X4JOhFT-OZidZGKKr9iA"), ...overrides };
}

/** The message's headers with another Message-ID, for `message` overrides. */
export function mailgunMessage(messageId: string): Json {
  return { headers: { to: MAILGUN_RECIPIENT, "message-id": messageId, from: "Sender <sender@mg.example.org>", subject: "Testing" } };
}

/** Mailgun's signature: lowercase hex HMAC-SHA256 of `timestamp + token` with the signing key. */
export async function mailgunSignature(key: string, timestamp: string, token: string): Promise<string> {
  const imported = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(timestamp + token)));
  return Array.from(mac, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export interface MailgunSigning {
  /** The key to sign with (MAILGUN_SIGNING_KEY). */
  key?: string;
  /** When it was signed, in ms (now). */
  at?: number;
  /** A 50-character token. */
  token?: string;
  /** Extra fields in the signature block, after signing (`parent-signature`, or a tampered value). */
  signature?: Json;
}

/** The whole body Mailgun posts: the signature block, then the event-data. */
export async function mailgunBody(eventData: Json, signing: MailgunSigning = {}): Promise<Json> {
  const timestamp = String(Math.floor((signing.at ?? Date.now()) / 1000));
  const token = signing.token ?? "e0b5477167110d68991efc6b9f89f0a11066af27834600e123";
  const signature = await mailgunSignature(signing.key ?? MAILGUN_SIGNING_KEY, timestamp, token);
  return { signature: { token, timestamp, signature, ...signing.signature }, "event-data": eventData };
}

/** A `POST /hooks/relays/{id}` request as Mailgun sends it. `body` replaces the JSON text when given (tampering, malformed bodies). */
export function mailgunRequest(body: Json | string, relayId = "rly_mailgun"): HookRequest {
  return {
    method: "POST",
    url: `https://mailgate.test/hooks/relays/${relayId}`,
    headers: new Headers({ "content-type": "application/json", "user-agent": "mailgun/treq-16.12.0" }),
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

/** A signed request for one event, as the tests need most often. */
export async function signedMailgunRequest(eventData: Json, signing: MailgunSigning = {}): Promise<HookRequest> {
  return mailgunRequest(await mailgunBody(eventData, signing));
}
