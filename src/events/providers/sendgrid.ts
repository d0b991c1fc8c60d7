/**
 * SendGrid's Signed Event Webhook: a JSON array of events per POST, signed
 * with ECDSA (P-256, SHA-256) over the timestamp header followed by the raw
 * body, read into the recipient events they report. Pure: WebCrypto only.
 *
 * Config (the relay's sealed `config.events`): `{ public_key }`, the
 * verification key as SendGrid shows it (Mail Settings > Event Webhooks, or
 * `GET /v3/user/webhooks/event/settings/signed`): base64 of the DER
 * SubjectPublicKeyInfo. A PEM armour around it is accepted too.
 *
 * Where each rule comes from:
 * - Signature: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
 *   ("Verify the signature": the `X-Twilio-Email-Event-Webhook-Signature`
 *   and `-Timestamp` headers; base64-decode the signature, then "perform an
 *   ASN.1 unmarshal" into r and s; "a sha256 hash of the timestamp + payload
 *   (use raw bytes)"; ECDSA verify). SendGrid's own helpers do the same:
 *   github.com/sendgrid/sendgrid-go helpers/eventwebhook/eventwebhook.go
 *   (base64 StdEncoding, x509.ParsePKIXPublicKey, asn1.Unmarshal into R, S).
 *   SendGrid gives no freshness window; we refuse what is older than
 *   MAX_EVENT_AGE_MS, as for every provider.
 * - Events and fields (`event`, `email`, `timestamp`, `sg_event_id` "for
 *   deduplication", `sg_message_id`, `reason`, `status`, `response`, `type`
 *   "bounce" or "blocked", the drop reasons): https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
 *   (github.com/sendgrid/docs, content/docs/for-developers/tracking-events/event.md).
 *   `sg_message_id` is missing for an asynchronous bounce: such an event
 *   cannot be tied to a message and is left out.
 * - The send answer's `X-Message-ID` header is the id to store "to
 *   correlate to your Event Webhook data" (https://www.twilio.com/docs/sendgrid/glossary/x-message-id);
 *   the events' `sg_message_id` starts with it ("msg_id LIKE '<X-Message-ID>%'",
 *   https://support.sendgrid.com/hc/en-us/articles/35804743679259), before its first ".".
 * - SendGrid suppresses messages to bounced addresses
 *   (https://www.twilio.com/docs/sendgrid/v2-api/customer_subuser_api/subuser_bounces),
 *   and drops mail to them, to unsubscribed and to spam-reporting addresses
 *   ("Bounced Address", "Unsubscribed Address", "Spam Reporting Address",
 *   event reference, Dropped).
 */
import { sha256Hex } from "../../hash";
import { clip } from "../../inbound/bounce-report/fields";
import { enhancedStatusIn, failureStatusIn, moreSpecificStatus, readSyncRefusal } from "../../inbound/bounce-report/status";
import { fromBase64 } from "../../mail/bytes";
import { type EventsConfig, type HookReading, type HookRequest, MAX_EVENT_AGE_MS, type ProviderHook, type RecipientEvent, type Verification } from "../types";

type Json = Record<string, unknown>;

/** The headers SendGrid signs with (event webhook security page; EventWebhookHeader in its SDKs). */
export const SENDGRID_SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature";
export const SENDGRID_TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp";

const encoder = new TextEncoder();

/** Padded standard base64 (RFC 4648 §4), what SendGrid sends and what Go's StdEncoding, in its helper, accepts. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | null {
  return text && BASE64.test(text) ? fromBase64(text) : null;
}

/** A DER length at `at` (short form, or the long form with one byte, all a P-256 signature needs): the length and where its content starts. */
function lengthAt(bytes: Uint8Array, at: number): [number, number] | null {
  const first = bytes[at];
  if (first === undefined) return null;
  if (first < 0x80) return [first, at + 1];
  const long = bytes[at + 1];
  // DER: the long form only for lengths of 128 and more.
  return first === 0x81 && long !== undefined && long >= 0x80 ? [long, at + 2] : null;
}

/**
 * An ECDSA signature as SendGrid sends it, the DER `SEQUENCE { INTEGER r,
 * INTEGER s }` of RFC 3279 §2.2.3, as the fixed-size r||s that WebCrypto
 * verifies (each left-padded to `size` bytes: 32 for P-256). Null for
 * anything else: another tag, a length that does not add up, bytes after
 * the sequence, a negative, zero or non-minimal integer, one too large.
 */
export function rawSignatureFromDer(der: Uint8Array, size = 32): Uint8Array<ArrayBuffer> | null {
  if (der[0] !== 0x30) return null;
  const sequence = lengthAt(der, 1);
  if (!sequence || sequence[1] + sequence[0] !== der.length) return null;
  const raw = new Uint8Array(2 * size);
  let at = sequence[1];
  for (const half of [0, 1]) {
    if (der[at] !== 0x02) return null;
    const integer = lengthAt(der, at + 1);
    if (!integer) return null;
    const [length, start] = integer;
    const end = start + length;
    if (length === 0 || end > der.length) return null;
    let value = der.subarray(start, end);
    if (value[0]! & 0x80) return null;
    if (value[0] === 0) {
      // A leading zero only to keep the next byte's high bit from reading as a sign.
      if (value.length === 1 || !(value[1]! & 0x80)) return null;
      value = value.subarray(1);
    }
    if (value.length > size) return null;
    raw.set(value, half * size + size - value.length);
    at = end;
  }
  return at === der.length ? raw : null;
}

/** The configured key: base64 of the DER SubjectPublicKeyInfo (PEM armour and whitespace tolerated), imported for ECDSA P-256; null if it is not one. */
async function publicKeyOf(configured: string): Promise<CryptoKey | null> {
  const der = base64Bytes(configured.replace(/-----(?:BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, ""));
  if (!der) return null;
  try {
    return await crypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  } catch {
    return null;
  }
}

const refuse = (reason: string): Verification => ({ ok: false, reason });

async function verify(request: HookRequest, config: EventsConfig, now: number): Promise<Verification> {
  if (!config.public_key) return refuse("no SendGrid verification key is configured");
  const signature = request.headers.get(SENDGRID_SIGNATURE_HEADER)?.trim();
  const timestamp = request.headers.get(SENDGRID_TIMESTAMP_HEADER)?.trim();
  if (!signature) return refuse(`no ${SENDGRID_SIGNATURE_HEADER} header`);
  if (!timestamp) return refuse(`no ${SENDGRID_TIMESTAMP_HEADER} header`);
  if (!/^\d{1,12}$/.test(timestamp)) return refuse("the timestamp is not a number of seconds");
  const der = base64Bytes(signature);
  if (!der) return refuse("the signature is not base64");
  const raw = rawSignatureFromDer(der);
  if (!raw) return refuse("the signature is not a DER-encoded P-256 ECDSA signature");
  const key = await publicKeyOf(config.public_key);
  if (!key) return refuse("the configured key is not a base64 P-256 public key (SubjectPublicKeyInfo)");
  // The timestamp's text followed by the body's bytes exactly as received.
  const valid = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, encoder.encode(timestamp + request.body));
  if (!valid) return refuse("the signature does not match the verification key");
  // Checked once the signature holds: a stale request is a genuine one replayed or held back.
  const age = now - Number(timestamp) * 1000;
  if (age > MAX_EVENT_AGE_MS) return { ok: false, reason: `signed ${Math.round(age / 1000)} s ago`, stale: true };
  if (age < -MAX_EVENT_AGE_MS) return refuse(`signed ${Math.round(-age / 1000)} s in the future`);
  return { ok: true };
}

function objectOf(value: unknown): Json | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

function textOf(value: unknown): string | null {
  return typeof value === "string" && value.trim() ? value.trim() : null;
}

const RFC3463 = /^[245]\.\d{1,3}\.\d{1,3}$/;

function rfc3463(value: unknown): string | null {
  const text = textOf(value);
  return text && RFC3463.test(text) ? text : null;
}

/** Drop reasons that say the address is on one of SendGrid's suppression lists (event reference, Dropped). */
const SUPPRESSED_DROPS = new Set(["bounced address", "unsubscribed address", "spam reporting address"]);

type Reading = Pick<RecipientEvent, "kind" | "status" | "diagnostic" | "hard" | "providerSuppressed">;

/**
 * A `bounce` event. type=bounce is the receiving server's permanent
 * refusal, read by the rules every other source follows (readSyncRefusal:
 * hard when the mailbox or domain does not exist), and puts the address on
 * SendGrid's bounce list; type=blocked refused the message, not the
 * address, and suppresses nothing.
 */
function bounceOf(event: Json): Reading {
  const diagnostic = clip(textOf(event.reason));
  const status = moreSpecificStatus(rfc3463(event.status), failureStatusIn(diagnostic));
  if (textOf(event.type)?.toLowerCase() === "blocked") return { kind: "bounced", status, diagnostic, hard: false, providerSuppressed: false };
  const reply = /^(5\d\d)\b/.exec(diagnostic ?? "")?.[1] ?? "550";
  const hard = readSyncRefusal(reply, `${reply} ${status ?? ""} ${diagnostic ?? ""}`)?.hard ?? false;
  return { kind: "bounced", status: status ?? "5.0.0", diagnostic, hard, providerSuppressed: true };
}

/** An event's effect on its recipient; null for events that say nothing of delivery (processed, open, click, group_resubscribe...). */
function readingOf(name: string, event: Json): Reading | null {
  const quiet = { status: null, diagnostic: null, hard: false };
  switch (name) {
    case "delivered": {
      const diagnostic = clip(textOf(event.response));
      return { kind: "delivered", status: enhancedStatusIn(diagnostic), diagnostic, hard: false, providerSuppressed: false };
    }
    case "deferred": {
      const diagnostic = clip(textOf(event.response) ?? textOf(event.reason));
      return { kind: "deferred", status: failureStatusIn(diagnostic), diagnostic, hard: false, providerSuppressed: false };
    }
    case "bounce":
      return bounceOf(event);
    case "dropped": {
      const diagnostic = clip(textOf(event.reason));
      const suppressed = SUPPRESSED_DROPS.has(diagnostic?.toLowerCase() ?? "");
      return { kind: "failed", status: rfc3463(event.status), diagnostic, hard: false, providerSuppressed: suppressed };
    }
    // A spam report and a global unsubscribe put the address on SendGrid's lists ("Spam Reporting Address",
    // "Unsubscribed Address" drops); a group unsubscribe holds for that group's mail only.
    case "spamreport":
      return { kind: "complained", ...quiet, providerSuppressed: true };
    case "unsubscribe":
      return { kind: "unsubscribed", ...quiet, providerSuppressed: true };
    case "group_unsubscribe":
      return { kind: "unsubscribed", ...quiet, providerSuppressed: false };
    default:
      return null;
  }
}

/** The event's `timestamp` (UNIX seconds) as ms. */
function millisOf(value: unknown): number | null {
  const seconds = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : null;
}

async function read(request: HookRequest): Promise<HookReading> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    return { kind: "invalid", reason: "the body is not JSON" };
  }
  if (!Array.isArray(parsed)) return { kind: "invalid", reason: "the body is not a JSON array of events" };
  const events: RecipientEvent[] = [];
  const unreadable: string[] = [];
  let quiet = 0;
  let untied = 0;
  // A batch is read event by event: one that cannot be read is left out, the others still count.
  for (const [index, item] of parsed.entries()) {
    const event = objectOf(item);
    const name = textOf(event?.event)?.toLowerCase();
    if (!event || !name) {
      unreadable.push(`#${index} is not an event`);
      continue;
    }
    const reading = readingOf(name, event);
    if (!reading) {
      quiet++;
      continue;
    }
    const recipient = textOf(event.email);
    if (!recipient) {
      unreadable.push(`#${index} (${name}) has no email`);
      continue;
    }
    // The X-Message-ID the send answered: sg_message_id up to its first ".". Missing on an asynchronous bounce.
    const providerMessageId = textOf(event.sg_message_id)?.split(".")[0]?.trim();
    if (!providerMessageId) {
      untied++;
      continue;
    }
    events.push({
      ...reading,
      providerMessageId,
      recipient,
      eventId: textOf(event.sg_event_id) ?? (await sha256Hex(JSON.stringify(event))),
      occurredAt: millisOf(event.timestamp) ?? Date.now(),
    });
  }
  if (events.length) return { kind: "events", events };
  if (unreadable.length) return { kind: "invalid", reason: `no readable event: ${unreadable.slice(0, 5).join("; ")}` };
  const why = [quiet && `${quiet} event(s) saying nothing of delivery`, untied && `${untied} without sg_message_id`].filter(Boolean).join(", ");
  return { kind: "ignored", why: why || "an empty batch" };
}

/**
 * SendGrid's Signed Event Webhook: the ECDSA P-256 signature (DER, base64)
 * over timestamp + raw body checked with the configured public key and
 * refused when older than MAX_EVENT_AGE_MS; delivered, deferred, bounce,
 * dropped, spamreport, unsubscribe and group_unsubscribe events read into
 * recipient events, the rest ignored.
 */
export const sendgridHook: ProviderHook = { verify, read };
