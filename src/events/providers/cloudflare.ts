/**
 * Cloudflare Email Service (Email Sending) delivery events. Cloudflare does
 * not call a webhook: a Queues event subscription, one per sending domain,
 * publishes each message's lifecycle to a queue the Worker consumes, and
 * each queue message body is one event. There is no signature to check (the
 * queue belongs to our account), so this module only reads a body; the
 * queue consumer acks, applies or logs what it answers.
 *
 * The body, as documented (queue message body = this JSON object):
 *
 *   {
 *     "type": "cf.email.sending.message.bounced",
 *     "source": { "type": "email.sending", "zoneId": "…", "domain": "send.example.com" },
 *     "payload": {
 *       "eventId": "0190d0c4-7ea1-7af2-8b88-c1d2e3f4a5b6",
 *       "messageId": "0101018f7d0c4d9a-msg-bounced",
 *       "sender": "receipts@send.example.com",
 *       "recipient": "user@example.net",
 *       "subject": "Your receipt",              (absent on message.complained)
 *       "terminal": true,                       (false on message.deferred)
 *       "delivery": { "status": "bounced", "provider": "external_smtp", "deliveryTimeMs": 2143,
 *                     "smtpStatusCode": "550", "smtpEnhancedStatusCode": "5.1.1",
 *                     "smtpResponse": "550 5.1.1 User unknown" },   (only `status` on failed, rejected, complained)
 *       "bounce": { "type": "hard" | "soft", "classification": "permanent_failure" | "temporary_failure", "reason": "…" },
 *                                               (message.bounced, and message.deferred with type soft)
 *       "failure": { "reason": "delivery_failed" },                                   (message.failed)
 *       "rejection": { "reason": "suppressed", "party": "recipient", "detail": "…" },  (message.rejected)
 *       "complaint": { "type": "abuse" }                                              (message.complained)
 *     },
 *     "metadata": { "accountId": "…", "eventSubscriptionId": "…", "eventSchemaVersion": 1,
 *                   "eventTimestamp": "2026-06-01T02:48:57.132Z" }
 *   }
 *
 * Sources:
 * - Every type with an example payload: https://developers.cloudflare.com/email-service/platform/event-subscriptions/
 *   (cloudflare-docs src/content/partials/queues/event-subscriptions/email-sending-events.mdx).
 * - The envelope common to every event subscription (`type`, `source`,
 *   `payload`, `metadata.accountId|eventSubscriptionId|eventSchemaVersion|eventTimestamp`,
 *   the last "the ISO 8601 timestamp when the event occurred"):
 *   https://developers.cloudflare.com/queues/event-subscriptions/events-schemas/#common-schema-fields
 * - The six types, one subscription per sending domain (apex or verified
 *   subdomain): https://developers.cloudflare.com/changelog/ (2026-07-15,
 *   cloudflare-docs src/content/changelog/email-service/2026-07-15-event-subscriptions.mdx).
 * - Consumers of the same body that agree on these field names:
 *   santigamo/reccado src/cloudflare/email-events.ts, cloudflare/agentic-inbox.
 *
 * Not documented anywhere we found, so read as follows:
 * - The form of `payload.messageId` against `env.EMAIL.send()`'s answer (see
 *   cloudflareProviderMessageId).
 * - Whether the payload says the recipient is now suppressed: it carries no
 *   such field, so `providerSuppressed` follows the suppression rules (see
 *   providerSuppresses).
 * - Which fields are required: we require the ones without which the event
 *   cannot be applied (`type`, `payload.messageId`, `payload.recipient`).
 */
import { sha256Hex } from "../../hash";
import { clip } from "../../inbound/bounce-report/fields";
import type { HookReading, RecipientEvent, RecipientEventKind } from "../types";
import { ignored, invalid, isObject, isToken, type Json, objectAt, parseJson, stringAt } from "./json";

/** What one queue message body reads as (a queue has no subscription handshake, so never `confirm_subscription`). */
export type CloudflareEventReading = Exclude<HookReading, { kind: "confirm_subscription" }>;

/** The `source.type` of Email Sending events (and the `--source` of `wrangler queues subscription create`). */
export const EMAIL_SENDING_SOURCE = "email.sending";

/** The prefix of every Email Sending event's `type`; the rest is the event name the subscription lists (`message.bounced`). */
const TYPE_PREFIX = "cf.email.sending.";

/**
 * Each documented event and the kind it becomes. `rejected` (refused before
 * any delivery attempt: suppression, validation, spam) fails the recipient
 * as a refusal at send time would; it is no bounce, nothing answered from a
 * mailbox.
 */
const KINDS: Record<string, RecipientEventKind> = {
  "message.delivered": "delivered",
  "message.deferred": "deferred",
  "message.bounced": "bounced",
  "message.failed": "failed",
  "message.rejected": "failed",
  "message.complained": "complained",
};

/** A message id or an address longer than this is no id or address (RFC 5322's line limit; RFC 5321's path limit with room). */
const MAX_ID_CHARS = 998;
const MAX_ADDRESS_CHARS = 320;

/**
 * Reads one queue message body of an Email Sending event subscription into
 * the recipient event it reports. `events` (always exactly one: one event
 * names one recipient); `ignored` for a body that is another source's event
 * or a type we do not know (a queue may carry several subscriptions, and
 * Cloudflare may add types); `invalid` when a field we need is missing or
 * malformed. Fields we do not use are ignored. `now` dates an event whose
 * body carries no time. Async only for the digest of an event without id.
 */
export async function readCloudflareEvent(body: unknown, now: number): Promise<CloudflareEventReading> {
  const event = typeof body === "string" ? parseJson(body) : body;
  if (!isObject(event)) return invalid("the body is not a JSON object");
  if (typeof event.type !== "string" || !event.type) return invalid("no event type");

  const sourceType = isObject(event.source) ? event.source.type : undefined;
  if (sourceType !== undefined && sourceType !== EMAIL_SENDING_SOURCE) return ignored(`not an Email Sending event (source ${String(sourceType)})`);
  // The documented type carries the prefix; the bare event name (as subscriptions list it) is read too when the source says Email Sending.
  const name = event.type.startsWith(TYPE_PREFIX) ? event.type.slice(TYPE_PREFIX.length) : sourceType === EMAIL_SENDING_SOURCE ? event.type : null;
  if (name === null) return ignored(`not an Email Sending event (${event.type})`);
  const kind = KINDS[name];
  if (!kind) return ignored(`Email Sending event ${event.type} carries nothing to apply`);

  const payload = event.payload;
  if (!isObject(payload)) return invalid("no payload");
  const rawId = payload.messageId;
  if (typeof rawId !== "string" || !isToken(rawId.trim(), MAX_ID_CHARS)) return invalid("no valid payload.messageId");
  const recipient = typeof payload.recipient === "string" ? payload.recipient.trim() : "";
  if (!isToken(recipient, MAX_ADDRESS_CHARS) || !/^[^@]+@[^@]+$/.test(recipient)) return invalid("no valid payload.recipient");
  const ownId = payload.eventId;
  if (ownId !== undefined && (typeof ownId !== "string" || !isToken(ownId, MAX_ID_CHARS))) return invalid("payload.eventId is not an id");

  const metadata = isObject(event.metadata) ? event.metadata : {};
  const timestamp = metadata.eventTimestamp;
  let occurredAt = now;
  if (timestamp !== undefined) {
    const time = typeof timestamp === "string" ? Date.parse(timestamp) : Number.NaN;
    if (!Number.isFinite(time)) return invalid("metadata.eventTimestamp is not a time");
    occurredAt = time;
  }

  const providerMessageId = cloudflareProviderMessageId(rawId);
  const delivery = objectAt(payload, "delivery");
  const bounce = objectAt(payload, "bounce");
  const rejection = objectAt(payload, "rejection");
  const hard = kind === "bounced" && isHardBounce(bounce, delivery);
  // Replays of one event carry the same content: the digest is over what does not change between them (the raw time, absent when absent).
  const eventId = typeof ownId === "string" ? ownId : await sha256Hex(JSON.stringify([event.type, providerMessageId, recipient, typeof timestamp === "string" ? timestamp : ""]));

  const recipientEvent: RecipientEvent = {
    kind,
    providerMessageId,
    recipient,
    status: statusOf(delivery),
    diagnostic: diagnosticOf(name, payload, delivery, bounce, rejection),
    hard,
    eventId,
    occurredAt,
    providerSuppressed: providerSuppresses(name, hard, rejection),
  };
  return { kind: "events", events: [recipientEvent] };
}

/**
 * The id an event names its message by, in the form the `cloudflare` relay
 * stored `env.EMAIL.send()`'s answer in (src/outbound/relays/cloudflare.ts
 * keeps `messageId` verbatim, one per recipient). Neither form is
 * documented: the Workers API page says only `messageId: string; // Unique
 * email ID` (https://developers.cloudflare.com/email-service/api/send-emails/workers-api/),
 * and the event page's examples carry placeholders without brackets
 * (`0101018f7d0c4d9a-msg-deadbeef`). What we found: Cloudflare's local
 * simulator answers send() with `<{36 alphanumerics}@{sender domain}>`,
 * "the shape the production send_email binding returns" (workers-sdk
 * packages/miniflare/src/workers/email/message-id.ts, synthesizeMessageId;
 * the miniflare we test with does so for the raw EmailMessage form too, the
 * one the relay uses), and a consumer of both (santigamo/reccado,
 * test "delivery events for human-confirmed mailbox sends") stores the send
 * answer "bracketed … verbatim" and matches events whose id is "carried bare"
 * as well as bracketed. So: an id in brackets is kept; a bare `local@domain`
 * gets the brackets the send answer has; an opaque id (no `@`, like the
 * documented placeholder) is kept as is, since only the same opaque send
 * answer could match it. Idempotent, so the relay may apply it to what it
 * stores too.
 */
export function cloudflareProviderMessageId(id: string): string {
  const trimmed = id.trim();
  if (trimmed.startsWith("<") && trimmed.endsWith(">")) return trimmed;
  return trimmed.includes("@") && !/[<>]/.test(trimmed) ? `<${trimmed}>` : trimmed;
}

/**
 * Whether Cloudflare now refuses to send to the recipient (its suppression
 * list), which the payload never says in a field of its own; inferred from
 * the documented rules (https://developers.cloudflare.com/email-service/concepts/suppressions/):
 * a validated complaint suppresses with no expiry; a hard bounce for 7 days
 * (with no expiry once the address is confirmed invalid); while suppressed,
 * send() throws E_RECIPIENT_SUPPRESSED, and a `rejected` event with
 * `rejection.reason: "suppressed"` says so outright. A soft bounce
 * suppresses only "eligible" recipients and for 24 hours, so it is not
 * reported: the provider did not say it will not send again. (Bounce
 * suppressions are "not immediate": true means "is being suppressed".)
 */
function providerSuppresses(name: string, hard: boolean, rejection: Json): boolean {
  if (name === "message.complained") return true;
  if (name === "message.bounced") return hard;
  if (name === "message.rejected") return stringAt(rejection, "reason")?.toLowerCase() === "suppressed";
  return false;
}

/**
 * Hard or soft by what the payload says: `bounce.type` (documented `hard` /
 * `soft`), else `bounce.classification` (`permanent_failure` /
 * `temporary_failure`), else the class of the SMTP status. A `bounced` event
 * also follows retries running out on temporary failures, so one that says
 * nothing is soft: not enough to suppress an address on.
 */
function isHardBounce(bounce: Json, delivery: Json): boolean {
  const type = stringAt(bounce, "type")?.toLowerCase();
  if (type === "hard" || type === "soft") return type === "hard";
  const classification = stringAt(bounce, "classification")?.toLowerCase();
  if (classification === "permanent_failure" || classification === "temporary_failure") return classification === "permanent_failure";
  return statusOf(delivery)?.startsWith("5.") ?? false;
}

/** RFC 3463 status: the enhanced code given, else the one the basic SMTP code implies (`550` → `5.0.0`). */
function statusOf(delivery: Json): string | null {
  const enhanced = stringAt(delivery, "smtpEnhancedStatusCode");
  if (enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced)) return enhanced;
  const basic = stringAt(delivery, "smtpStatusCode");
  return basic && /^[245]\d\d$/.test(basic) ? `${basic[0]}.0.0` : null;
}

/** The remote server's answer when there is one, else the provider's own words for what happened. */
function diagnosticOf(name: string, payload: Json, delivery: Json, bounce: Json, rejection: Json): string | null {
  const answer = stringAt(delivery, "smtpResponse") ?? stringAt(bounce, "reason");
  if (name === "message.rejected") {
    const explanation = [stringAt(rejection, "reason"), stringAt(rejection, "detail")].filter(Boolean).join(": ");
    return clip(explanation || answer);
  }
  if (name === "message.failed") return clip(answer ?? stringAt(objectAt(payload, "failure"), "reason"));
  if (name === "message.complained") return clip(answer ?? stringAt(objectAt(payload, "complaint"), "type"));
  return clip(answer);
}
