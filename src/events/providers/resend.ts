/**
 * Resend webhooks: one `email.*` event per request, signed with Svix.
 *
 * Verification (https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests,
 * which defers to https://docs.svix.com/receiving/verifying-payloads/how-manual):
 * - headers `svix-id` ("the unique message identifier for the webhook
 *   message … the same when the same webhook is being resent"),
 *   `svix-timestamp` (seconds since the epoch) and `svix-signature` ("the
 *   Base64 encoded list of signatures (space delimited)", each `v1,<base64>`;
 *   several while a secret is rotated);
 * - signed content `${svix_id}.${svix_timestamp}.${body}`, the raw body;
 * - HMAC-SHA256, keyed with the base64-decoded part of the signing secret
 *   after its `whsec_` prefix; one matching `v1` signature is enough;
 * - a timestamp more than five minutes from now is refused (Svix's own
 *   tolerance, and our MAX_EVENT_AGE_MS), as a replay.
 * Config: `{ secret }`, the endpoint's `whsec_…` signing secret.
 *
 * The body (https://resend.com/docs/dashboard/webhooks/event-types and the
 * per-event pages https://resend.com/docs/webhooks/emails/{bounced,…}):
 *
 *   { "type": "email.bounced", "created_at": "2024-11-22T23:41:12.126Z",
 *     "data": { "email_id": "56761188-7520-42d8-8898-ff6fc54ce618", "to": ["delivered@resend.dev"],
 *               "created_at": "2024-11-22T23:41:11.894719+00:00", "from": "…", "subject": "…",
 *               "bounce": { "message": "…", "subType": "Suppressed", "type": "Permanent",
 *                           "diagnosticCode": ["smtp; 550 5.5.0 …"] },        (email.bounced)
 *               "failed": { "reason": "reached_daily_quota" },                (email.failed)
 *               "suppressed": { "message": "…", "type": "OnAccountSuppressionList" } } }  (email.suppressed)
 *
 * - `data.email_id`: "Unique identifier for the specific email", the `id`
 *   the send API answers (https://resend.com/docs/api-reference/emails/send-email),
 *   which the resend relay stores verbatim (src/outbound/relays/resend.ts).
 * - `data.to`: "Array of impacted recipient email addresses": one event each.
 *   Entries are read as bare addresses, or `Name <address>` as `from` may be.
 * - `created_at`: "ISO 8601 timestamp when the webhook event was created".
 * - Bounce types and subtypes: https://resend.com/docs/dashboard/emails/email-bounces
 *   (Permanent: General, NoEmail, Suppressed, OnAccountSuppressionList;
 *   Transient: General, MailboxFull, MessageTooLarge, ContentRejected,
 *   AttachmentRejected; the bounced page's field list also names `Temporary`).
 * - "When sending to an email address results in a hard bounce or spam
 *   complaint, Resend places this address on the Suppression List"
 *   (https://resend.com/docs/knowledge-base/why-are-my-emails-landing-on-the-suppression-list):
 *   `providerSuppressed` for complaints, permanent bounces and suppressions.
 *
 * Not documented: whether `data.to` lists only the recipients the event is
 * about (the field says "impacted"; we trust it), and events for Cc/Bcc
 * recipients (the payload names only `to`, so they get none).
 */
import { secretsEqual, sha256Hex } from "../../hash";
import { clip } from "../../inbound/bounce-report/fields";
import { MAX_RECIPIENTS } from "../../inbound/bounce-report/limits";
import { failureStatusIn } from "../../inbound/bounce-report/status";
import { fromBase64, toBase64 } from "../../mail/bytes";
import {
  type EventsConfig,
  type HookReading,
  type HookRequest,
  MAX_EVENT_AGE_MS,
  type ProviderHook,
  type RecipientEvent,
  type RecipientEventKind,
  type Verification,
} from "../types";
import { ignored, invalid, isObject, isToken, type Json, objectAt, parseJson, refused, stringAt } from "./json";

type Kind = Extract<RecipientEventKind, "delivered" | "deferred" | "bounced" | "complained" | "failed">;

/** What each `email.*` event that reports delivery becomes (https://resend.com/docs/dashboard/webhooks/event-types, quoted). */
export const RESEND_EVENTS: Record<string, Kind> = {
  // "Resend successfully delivered the email to the recipient's mail server."
  "email.delivered": "delivered",
  // "The email couldn't be delivered due to a temporary issue."
  "email.delivery_delayed": "deferred",
  // "The recipient's mail server permanently rejected the email."
  "email.bounced": "bounced",
  // "The email was successfully delivered, but the recipient marked it as spam."
  "email.complained": "complained",
  // "The email failed to send due to an error … invalid recipients, API key problems, domain verification issues, email quota limits."
  "email.failed": "failed",
  // "Event triggered whenever the email is suppressed by Resend" (https://resend.com/docs/webhooks/emails/suppressed):
  // not sent, the address is on Resend's suppression list. No bounce: nothing answered from a mailbox.
  "email.suppressed": "failed",
};

/** Documented `email.*` events that carry nothing to apply, and why. Any other type (contact.*, domain.*, new ones) is ignored as unknown. */
const IGNORED_EVENTS: Record<string, string> = {
  "email.sent": "the API request was accepted, as the send answer said already",
  "email.scheduled": "the email is scheduled, not sent yet",
  "email.opened": "an open says nothing about delivery",
  "email.clicked": "a click says nothing about delivery",
  "email.received": "an inbound email, not one we sent",
};

/**
 * Bounce subtypes that say what the RFC 3463 status would be when the
 * diagnostic quotes none (email-bounces page: "the recipient's inbox was
 * full", "message you sent was too large").
 */
const SUBTYPE_STATUS: Record<string, string> = { MailboxFull: "5.2.2", MessageTooLarge: "5.3.4" };
/** Permanent subtypes that name Resend's own suppression list rather than a server's answer. */
const SUPPRESSION_SUBTYPES = new Set(["Suppressed", "OnAccountSuppressionList"]);

const WHSEC_PREFIX = "whsec_";
const MAX_ID_CHARS = 998;
const MAX_ADDRESS_CHARS = 320;

/** Resend's webhook: a Svix signature and timestamp checked, then one event read into one recipient event per `data.to` address. */
export const resendHook: ProviderHook = {
  verify: verifyResend,
  read: readResend,
};

/**
 * Checks the Svix signature over `${svix-id}.${svix-timestamp}.${body}`
 * with the `whsec_` secret, each `v1` signature compared in constant time;
 * then the timestamp, so that `stale` marks only a genuine request that is
 * too old (or too far ahead).
 */
async function verifyResend(request: HookRequest, config: EventsConfig, now: number): Promise<Verification> {
  const key = signingKey(config.secret);
  if (!key) return refused("no whsec_ signing secret configured");
  const id = request.headers.get("svix-id");
  const timestamp = request.headers.get("svix-timestamp");
  const signatures = request.headers.get("svix-signature");
  if (!id || !timestamp || !signatures) return refused("missing svix-id, svix-timestamp or svix-signature header");
  if (!/^\d{1,12}$/.test(timestamp.trim())) return refused("svix-timestamp is not a time");

  const expected = await hmacBase64(key, `${id}.${timestamp}.${request.body}`);
  let matched = false;
  for (const entry of signatures.trim().split(/\s+/)) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue;
    // Every entry is compared (no early exit), as secretsEqual compares every byte.
    if (await secretsEqual(entry.slice(comma + 1), expected)) matched = true;
  }
  if (!matched) return refused("no svix-signature matches");

  const sentAt = Number(timestamp.trim()) * 1000;
  if (Math.abs(now - sentAt) > MAX_EVENT_AGE_MS)
    return { ok: false, reason: `svix-timestamp ${timestamp} is more than ${MAX_EVENT_AGE_MS / 60_000} minutes from now`, stale: true };
  return { ok: true };
}

/**
 * Reads one Resend event: `events`, one per address in `data.to`, for
 * delivered, delayed, bounced, complained, failed and suppressed; `ignored`
 * for events that say nothing about delivery (sent, opened, …) and types we
 * do not know (contacts, domains, new ones); `invalid` when the body or a
 * field we need is wrong.
 */
async function readResend(request: HookRequest): Promise<HookReading> {
  const event = parseJson(request.body);
  if (!isObject(event)) return invalid("the body is not a JSON object");
  const type = event.type;
  if (typeof type !== "string" || !type) return invalid("no event type");
  const kind = RESEND_EVENTS[type];
  if (!kind) return ignored(IGNORED_EVENTS[type] ? `${type}: ${IGNORED_EVENTS[type]}` : `unknown event type ${type}`);

  const data = event.data;
  if (!isObject(data)) return invalid("no data");
  const emailId = stringAt(data, "email_id");
  if (!emailId || !isToken(emailId, MAX_ID_CHARS)) return invalid("no valid data.email_id");
  const to = data.to;
  const entries = typeof to === "string" ? [to] : Array.isArray(to) ? to : null;
  if (!entries) return invalid("no data.to");
  const recipients = [...new Set(entries.map(addressOf))];
  if (!recipients.length || recipients.some((r) => r === null)) return invalid("data.to holds something that is not an address");
  if (recipients.length > MAX_RECIPIENTS) return invalid(`data.to names more than ${MAX_RECIPIENTS} recipients`);

  const createdAt = event.created_at;
  if (createdAt !== undefined && (typeof createdAt !== "string" || !Number.isFinite(Date.parse(createdAt)))) return invalid("created_at is not a time");
  const occurredAt = typeof createdAt === "string" ? Date.parse(createdAt) : Date.now();

  const details = detailsOf(type, kind, data);
  const svixId = request.headers.get("svix-id")?.trim() || null;
  const events: RecipientEvent[] = [];
  for (const recipient of recipients as string[]) {
    events.push({
      kind,
      providerMessageId: emailId,
      recipient,
      ...details,
      // svix-id is the same on every redelivery of one message (Svix): with the recipient, it names this event.
      eventId: svixId ? `${svixId}:${recipient}` : await sha256Hex(JSON.stringify([type, emailId, recipient, typeof createdAt === "string" ? createdAt : ""])),
      occurredAt,
    });
  }
  return { kind: "events", events };
}

/** Status, diagnostic, hardness and suppression, the same for every recipient of the event. */
function detailsOf(type: string, kind: Kind, data: Json): Pick<RecipientEvent, "status" | "diagnostic" | "hard" | "providerSuppressed"> {
  if (type === "email.bounced") {
    const bounce = objectAt(data, "bounce");
    const bounceType = stringAt(bounce, "type");
    const subType = stringAt(bounce, "subType");
    const codes = Array.isArray(bounce.diagnosticCode) ? bounce.diagnosticCode.filter((c): c is string => typeof c === "string") : [];
    const message = stringAt(bounce, "message");
    // "Permanent — also known as "hard bounce," where the recipient's mail server rejects the email and will never be delivered"; Transient (or Temporary) "could be delivered in the future".
    // The event itself is documented as a permanent rejection: one that says no type is hard too.
    const hard = bounceType === null || bounceType === "Permanent";
    const status = failureStatusIn(codes.join(" ")) ?? failureStatusIn(message) ?? (subType ? (SUBTYPE_STATUS[subType] ?? null) : null);
    return { status, diagnostic: clip(codes[0] ?? message ?? subType), hard, providerSuppressed: hard || (subType !== null && SUPPRESSION_SUBTYPES.has(subType)) };
  }
  if (type === "email.suppressed") {
    const suppressed = objectAt(data, "suppressed");
    return { status: null, diagnostic: clip(stringAt(suppressed, "message") ?? stringAt(suppressed, "type")), hard: false, providerSuppressed: true };
  }
  if (type === "email.failed") return { status: null, diagnostic: clip(stringAt(objectAt(data, "failed"), "reason")), hard: false, providerSuppressed: false };
  return { status: null, diagnostic: null, hard: false, providerSuppressed: kind === "complained" };
}

/** The HMAC key: the base64 after `whsec_` (a secret without the prefix is read as the base64 itself, as Svix's libraries do). */
function signingKey(secret: string | undefined): Uint8Array<ArrayBuffer> | null {
  const trimmed = secret?.trim() ?? "";
  const base64 = trimmed.startsWith(WHSEC_PREFIX) ? trimmed.slice(WHSEC_PREFIX.length) : trimmed;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return null;
  const key = fromBase64(base64);
  return key.byteLength ? key : null;
}

async function hmacBase64(key: Uint8Array<ArrayBuffer>, content: string): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toBase64(new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, new TextEncoder().encode(content))));
}

/** A bare address out of `address` or `Name <address>`; null when it is not one. */
function addressOf(entry: unknown): string | null {
  if (typeof entry !== "string") return null;
  const angle = /<([^<>]*)>\s*$/.exec(entry);
  const address = (angle ? angle[1]! : entry).trim();
  return isToken(address, MAX_ADDRESS_CHARS) && /^[^@]+@[^@]+$/.test(address) ? address : null;
}
