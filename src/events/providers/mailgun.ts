/**
 * Mailgun's event webhooks (the JSON "event-data" webhooks): one event per
 * POST, `{ "signature": { timestamp, token, signature }, "event-data": {...} }`,
 * read into the recipient event it reports. Pure: WebCrypto only.
 *
 * Config (the relay's sealed `config.events`): `{ signing_key }`, the
 * "HTTP webhook signing key" of the Mailgun account (or of the parent
 * account, for a subaccount's domain).
 *
 * Where each rule comes from:
 * - Signature: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
 *   ("Concatenate timestamp and token values together with no separator",
 *   HMAC with the webhook signing key and SHA256, compare the hexdigest;
 *   `parent-signature` for subaccounts; "optionally ... check if the
 *   timestamp is not too far from the current time").
 * - Payload fields (`event`, `id`, `timestamp`, `recipient`,
 *   `message.headers.message-id` without angle brackets, `delivery-status`,
 *   `severity`, `reason`): https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads
 * - `failed` with `severity` permanent (hard bounces, retry limit reached,
 *   "previously unsubscribed/bounced/complained addresses") or temporary:
 *   https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-types
 * - The three suppression lists (bounces, unsubscribes, complaints) that
 *   Mailgun fills itself and then refuses to deliver to:
 *   https://documentation.mailgun.com/en/latest/api-suppressions.html
 *   (github.com/mailgun/documentation, source/api-suppressions.rst).
 * - The send API answers `"id": "<20111114174239.25659.5817@samples.mailgun.org>"`
 *   (https://documentation.mailgun.com/en/latest/user_manual.html#sending-via-api),
 *   the same id the events carry without brackets; we store it without them.
 */
import { secretsEqual, sha256Hex } from "../../hash";
import { clip } from "../../inbound/bounce-report/fields";
import { enhancedStatusIn, failureStatusIn, readSyncRefusal } from "../../inbound/bounce-report/status";
import { toHex } from "../../mail/bytes";
import { type EventsConfig, type HookReading, type HookRequest, MAX_EVENT_AGE_MS, type ProviderHook, type RecipientEvent, type Verification } from "../types";

type Json = Record<string, unknown>;

const encoder = new TextEncoder();

/** The `reason` of a permanent failure Mailgun gives when it did not try: the address is on one of its suppression lists. */
const SUPPRESSED_REASONS = new Set(["suppress-bounce", "suppress-complaint", "suppress-unsubscribe"]);

/** The signing key, per the Securing Webhooks page: the HMAC of `timestamp + token`, as lowercase hex. */
async function hmacHex(key: string, data: string): Promise<string> {
  const imported = await crypto.subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(await crypto.subtle.sign("HMAC", imported, encoder.encode(data)));
}

function objectOf(value: unknown): Json | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

function textOf(value: unknown): string | null {
  return typeof value === "string" && value.trim() ? value.trim() : null;
}

function parseObject(body: string): Json | null {
  try {
    return objectOf(JSON.parse(body));
  } catch {
    return null;
  }
}

interface Signed {
  timestamp: string;
  token: string;
  signature: string;
  parentSignature: string | null;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** The body's `signature` block, or why it cannot be checked. `timestamp` is documented as an int of seconds; it is signed as the text it is sent as. */
function signedOf(body: Json): Signed | string {
  const block = objectOf(body.signature);
  if (!block) return 'no "signature" object';
  const timestamp = typeof block.timestamp === "number" && Number.isSafeInteger(block.timestamp) ? String(block.timestamp) : block.timestamp;
  if (typeof timestamp !== "string" || !/^\d{1,12}$/.test(timestamp)) return "the signature's timestamp is not a number of seconds";
  if (typeof block.token !== "string" || !block.token) return "the signature has no token";
  if (typeof block.signature !== "string" || !HEX_SHA256.test(block.signature)) return "the signature is not a hex SHA-256 HMAC";
  const parent = block["parent-signature"];
  return {
    timestamp,
    token: block.token,
    signature: block.signature.toLowerCase(),
    parentSignature: typeof parent === "string" && HEX_SHA256.test(parent) ? parent.toLowerCase() : null,
  };
}

const refuse = (reason: string): Verification => ({ ok: false, reason });

async function verify(request: HookRequest, config: EventsConfig, now: number): Promise<Verification> {
  const key = config.signing_key;
  if (!key) return refuse("no Mailgun webhook signing key is configured");
  const body = parseObject(request.body);
  if (!body) return refuse("the body is not a JSON object");
  const signed = signedOf(body);
  if (typeof signed === "string") return refuse(signed);
  const expected = await hmacHex(key, signed.timestamp + signed.token);
  // Both compared in constant time, whichever matches: a subaccount's events carry the parent account's
  // signature too, so the key configured may be either account's (Securing Webhooks, parent-signature).
  const [own, parent] = await Promise.all([secretsEqual(signed.signature, expected), secretsEqual(signed.parentSignature ?? "", expected)]);
  if (!own && !(signed.parentSignature && parent)) return refuse("the signature does not match the signing key");
  // Checked once the signature holds: a stale request is a genuine one replayed or held back.
  const age = now - Number(signed.timestamp) * 1000;
  if (age > MAX_EVENT_AGE_MS) return { ok: false, reason: `signed ${Math.round(age / 1000)} s ago`, stale: true };
  if (age < -MAX_EVENT_AGE_MS) return refuse(`signed ${Math.round(-age / 1000)} s in the future`);
  return { ok: true };
}

/** A 3-digit reply code as a number (Mailgun sends `code` as a number; 6xx are its own, not SMTP's). */
function codeOf(value: unknown): number | null {
  const code = typeof value === "string" && /^\d{3}$/.test(value.trim()) ? Number(value) : value;
  return typeof code === "number" && Number.isInteger(code) && code >= 100 && code <= 999 ? code : null;
}

const RFC3463 = /^[245]\.\d{1,3}\.\d{1,3}$/;

/** What `delivery-status` says: the remote server's answer (its reply code in front when it is an SMTP one), and the RFC 3463 code Mailgun gives apart, if any. */
function deliveryStatusOf(data: Json): { code: number | null; diagnostic: string | null; enhanced: string | null } {
  const status = objectOf(data["delivery-status"]) ?? {};
  const code = codeOf(status.code);
  const words = textOf(status.message) ?? textOf(status.description);
  const smtp = code !== null && code >= 200 && code < 600;
  const diagnostic = words && smtp && !words.startsWith(String(code)) ? `${code} ${words}` : words;
  const enhanced = textOf(status["enhanced-code"]);
  return { code, diagnostic: clip(diagnostic), enhanced: enhanced && RFC3463.test(enhanced) ? enhanced : null };
}

type Reading = Pick<RecipientEvent, "kind" | "status" | "diagnostic" | "hard" | "providerSuppressed">;

/**
 * A permanent refusal by the receiving server, read by the rules every
 * other source follows (readSyncRefusal): hard when the mailbox or the
 * domain does not exist. The status Mailgun gives apart leads the text.
 */
function bounceOf(code: number | null, diagnostic: string | null, enhanced: string | null): Reading {
  const reply = code !== null && code >= 500 && code < 600 ? String(code) : "550";
  const status = enhanced ?? failureStatusIn(diagnostic) ?? "5.0.0";
  const hard = readSyncRefusal(reply, `${reply} ${status} ${diagnostic ?? ""}`)?.hard ?? false;
  return { kind: "bounced", status, diagnostic, hard, providerSuppressed: false };
}

/** The event's effect on its recipient; null for events that say nothing of delivery (opened, clicked, accepted...); a string says why it cannot be read. */
function readingOf(name: string, data: Json): Reading | null | string {
  const quiet = { status: null, diagnostic: null, hard: false };
  switch (name) {
    case "delivered": {
      const { diagnostic, enhanced } = deliveryStatusOf(data);
      return { kind: "delivered", status: enhanced ?? enhancedStatusIn(diagnostic), diagnostic, hard: false, providerSuppressed: false };
    }
    case "failed": {
      const { code, diagnostic, enhanced } = deliveryStatusOf(data);
      const severity = textOf(data.severity)?.toLowerCase();
      const reason = textOf(data.reason)?.toLowerCase() ?? null;
      const status = enhanced ?? failureStatusIn(diagnostic);
      // Event types page: temporary = "temporary rejected by an ESP", Mailgun retries.
      if (severity === "temporary") return { kind: "deferred", status, diagnostic, hard: false, providerSuppressed: false };
      if (severity !== "permanent") return 'a "failed" event without a severity of "permanent" or "temporary"';
      // Dropped before any attempt: the address is on a suppression list (suppress-bounce, -complaint, -unsubscribe).
      if (reason && SUPPRESSED_REASONS.has(reason)) return { kind: "failed", status, diagnostic, hard: false, providerSuppressed: true };
      if (reason === "bounce" || (code !== null && code >= 500 && code < 600)) return bounceOf(code, diagnostic, enhanced);
      // Gave up without a refusal of its own: the retry limit ("old"), an ESP block, anything else.
      return { kind: "failed", status, diagnostic, hard: false, providerSuppressed: false };
    }
    // Mailgun adds complaining and unsubscribing recipients to its complaints and unsubscribes lists (api-suppressions).
    case "complained":
      return { kind: "complained", ...quiet, providerSuppressed: true };
    case "unsubscribed":
      return { kind: "unsubscribed", ...quiet, providerSuppressed: true };
    default:
      return null;
  }
}

/** Seconds since the epoch (a float in event-data, an int in the signature) as ms. */
function millisOf(value: unknown): number | null {
  const seconds = typeof value === "string" && /^\d+(?:\.\d+)?$/.test(value) ? Number(value) : value;
  return typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : null;
}

const invalid = (reason: string): HookReading => ({ kind: "invalid", reason });

async function read(request: HookRequest): Promise<HookReading> {
  const body = parseObject(request.body);
  if (!body) return invalid("the body is not a JSON object");
  const data = objectOf(body["event-data"]);
  if (!data) return invalid('no "event-data" object');
  const name = textOf(data.event)?.toLowerCase();
  if (!name) return invalid('the event-data has no "event"');
  const reading = readingOf(name, data);
  if (reading === null) return { kind: "ignored", why: `Mailgun's "${name}" event says nothing of delivery` };
  if (typeof reading === "string") return invalid(reading);
  const recipient = textOf(data.recipient);
  if (!recipient) return invalid(`the "${name}" event has no recipient`);
  const headers = objectOf(objectOf(data.message)?.headers);
  // Stored without brackets: the send API answers "<id>", the events carry "id".
  const providerMessageId = textOf(headers?.["message-id"])
    ?.replace(/^<(.*)>$/, "$1")
    .trim();
  if (!providerMessageId) return invalid(`the "${name}" event has no message.headers.message-id`);
  const signature = objectOf(body.signature);
  const event: RecipientEvent = {
    ...reading,
    providerMessageId,
    recipient,
    // The event's own id, the same on every retry of the webhook; else a digest of its content.
    eventId: textOf(data.id) ?? (await sha256Hex(JSON.stringify(data))),
    occurredAt: millisOf(data.timestamp) ?? millisOf(signature?.timestamp) ?? Date.now(),
  };
  return { kind: "events", events: [event] };
}

/**
 * Mailgun's webhook: the body's own signature (HMAC-SHA256 of timestamp and
 * token with the signing key, or the parent account's) checked in constant
 * time and refused when older than MAX_EVENT_AGE_MS; delivered, failed
 * (permanent or temporary), complained and unsubscribed events read into
 * recipient events, the rest ignored.
 */
export const mailgunHook: ProviderHook = { verify, read };
