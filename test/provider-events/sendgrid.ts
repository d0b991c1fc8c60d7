/**
 * SendGrid Signed Event Webhook requests as SendGrid sends them, for the
 * Node table tests and the Worker tests alike (WebCrypto only, no node:
 * imports). Events follow the Event Webhook reference's examples
 * (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event);
 * the signature its security page: ECDSA P-256 with SHA-256 over timestamp
 * + raw body, DER-encoded and base64 in X-Twilio-Email-Event-Webhook-Signature,
 * the public key shown as base64 of the DER SubjectPublicKeyInfo
 * (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features).
 */
import type { HookRequest } from "../../src/events/types";

type Json = Record<string, unknown>;

/** The X-Message-ID the send answered; events carry it as the start of sg_message_id. */
export const SENDGRID_MESSAGE_ID = "14c5d75ce93";
export const SENDGRID_SG_MESSAGE_ID = `${SENDGRID_MESSAGE_ID}.filter0001.16648.5515E0B88.0`;
export const SENDGRID_RECIPIENT = "example@test.com";
/** 2026-11-30T12:00:00Z, the events' time unless a test says otherwise. */
export const SENDGRID_EVENT_SECONDS = 1_796_040_000;

/**
 * A known answer from SendGrid's own Node helper tests
 * (github.com/sendgrid/sendgrid-nodejs, packages/eventwebhook/src/eventwebhook.spec.js):
 * a key, a payload, the timestamp and the signature SendGrid made of them.
 */
export const SENDGRID_SDK_VECTOR = {
  publicKey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==",
  otherPublicKey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==",
  signature: "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=",
  /** The same with one character changed (the spec's "bad signature"). */
  badSignature: "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=",
  timestamp: "1588788367",
  payload: JSON.stringify({ category: "example_payload", event: "test_event", message_id: "message_id" }),
} as const;

const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  return btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""));
}

/** The fields every event carries, as in the reference's examples. */
function base(event: string, id: string): Json {
  return {
    email: SENDGRID_RECIPIENT,
    timestamp: SENDGRID_EVENT_SECONDS,
    "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
    event,
    category: "cat facts",
    sg_event_id: id,
    sg_message_id: SENDGRID_SG_MESSAGE_ID,
  };
}

/** Delivered (reference example). */
export function sendgridDelivered(overrides: Json = {}): Json {
  return { ...base("delivered", "rWVYmVk90MjZJ9iohOBa3w=="), response: "250 OK", ...overrides };
}

/** Deferred (reference example). */
export function sendgridDeferred(overrides: Json = {}): Json {
  return { ...base("deferred", "t7LEShmowp86DTdUW8M-GQ=="), response: "400 try again later", attempt: "5", ...overrides };
}

/** A hard bounce, type=bounce: the mailbox does not exist (reason and status as in SendGrid's bounces API example). */
export function sendgridHardBounce(overrides: Json = {}): Json {
  return {
    ...base("bounce", "6g4ZI7SA-xmRDv57GoPIPw=="),
    reason: "550 5.1.1 The email account that you tried to reach does not exist.",
    status: "5.1.1",
    type: "bounce",
    ...overrides,
  };
}

/** A block, type=blocked (the reference's example, word for word). */
export function sendgridBlocked(overrides: Json = {}): Json {
  return { ...base("bounce", "6g4ZI7SA-xmRDv57GoPIPw-b"), reason: "500 unknown recipient", status: "5.0.0", type: "blocked", ...overrides };
}

/** Dropped; the reasons the reference lists include "Bounced Address", "Unsubscribed Address", "Spam Reporting Address". */
export function sendgridDropped(reason = "Bounced Address", overrides: Json = {}): Json {
  return { ...base("dropped", `zmzJhfJgAfUSOW80yEbPyw-${reason.length}`), reason, status: "5.0.0", ...overrides };
}

/** A spam report (reference example). */
export function sendgridSpamReport(overrides: Json = {}): Json {
  return { ...base("spamreport", "37nvH5QBz858KGVYCM4uOA=="), ...overrides };
}

/** An unsubscribe from all mail (reference example). */
export function sendgridUnsubscribe(overrides: Json = {}): Json {
  return { ...base("unsubscribe", "zz_BjPgU_5pS-J8vlfB1sg=="), ...overrides };
}

/** Any other event of the reference (processed, open, click, group_unsubscribe...), its common fields only. */
export function sendgridEvent(event: string, overrides: Json = {}): Json {
  return { ...base(event, `${event}-event-id`), ...overrides };
}

export interface SendgridKeys {
  /** As SendGrid shows it: base64 of the DER SubjectPublicKeyInfo. */
  publicKey: string;
  privateKey: CryptoKey;
}

/** A fresh P-256 key pair, the public half exported the way SendGrid shows its verification key. */
export async function sendgridKeys(): Promise<SendgridKeys> {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const spki = (await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer;
  return { publicKey: base64(new Uint8Array(spki)), privateKey: pair.privateKey };
}

/** One DER INTEGER of an unsigned big-endian value: leading zeros dropped, one put back when the high bit is set. */
function derInteger(value: Uint8Array): number[] {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  const bytes = Array.from(value.subarray(start));
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return [0x02, bytes.length, ...bytes];
}

/** WebCrypto's r||s as the DER `SEQUENCE { INTEGER r, INTEGER s }` SendGrid sends (RFC 3279 §2.2.3). */
export function derFromRaw(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  const body = [...derInteger(raw.subarray(0, half)), ...derInteger(raw.subarray(half))];
  return new Uint8Array([0x30, body.length, ...body]);
}

/** SendGrid's signature of a request: ECDSA P-256 / SHA-256 over timestamp + body, DER, base64. */
export async function sendgridSignature(privateKey: CryptoKey, timestamp: string, body: string): Promise<string> {
  const raw = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, encoder.encode(timestamp + body));
  return base64(derFromRaw(new Uint8Array(raw)));
}

/** A `POST /hooks/relays/{id}` request as SendGrid sends it; a header given as null is left out. */
export function sendgridRequest(body: string, headers: { signature?: string | null; timestamp?: string | null } = {}, relayId = "rly_sendgrid"): HookRequest {
  const sent = new Headers({ "content-type": "application/json", "user-agent": "SendGrid Event API" });
  if (headers.signature) sent.set("X-Twilio-Email-Event-Webhook-Signature", headers.signature);
  if (headers.timestamp) sent.set("X-Twilio-Email-Event-Webhook-Timestamp", headers.timestamp);
  return { method: "POST", url: `https://mailgate.test/hooks/relays/${relayId}`, headers: sent, body };
}

export interface SendgridSigning {
  /** When it was signed, in ms (now). */
  at?: number;
  /** Replace the body after signing (tampering). */
  sentBody?: string;
  /** Replace the timestamp header after signing. */
  sentTimestamp?: string;
}

/** A batch of events, signed with the key pair: what SendGrid posts. */
export async function signedSendgridRequest(events: Json[] | string, keys: SendgridKeys, signing: SendgridSigning = {}): Promise<HookRequest> {
  const body = typeof events === "string" ? events : JSON.stringify(events);
  const timestamp = String(Math.floor((signing.at ?? Date.now()) / 1000));
  const signature = await sendgridSignature(keys.privateKey, timestamp, body);
  return sendgridRequest(signing.sentBody ?? body, { signature, timestamp: signing.sentTimestamp ?? timestamp });
}
