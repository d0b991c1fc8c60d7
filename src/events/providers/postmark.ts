/**
 * Postmark webhooks (Bounce, Spam complaint, Delivery, Subscription change):
 * one JSON record per request, told apart by `RecordType`.
 *
 * Verification. Postmark does not sign its webhooks: "You can configure
 * your webhook URL with basic HTTP authentication by adding the user name
 * and password to the URL … https://<username>:<password>@example.com/webhook"
 * (https://postmarkapp.com/developer/webhooks/webhooks-overview, "Protecting
 * your webhook"; the Webhooks API stores them as `HttpAuth: { Username,
 * Password }`, https://postmarkapp.com/developer/api/webhooks-api). An HTTP
 * client never sends credentials in the request line: they arrive as
 * `Authorization: Basic base64(username:password)` (RFC 7617), which is what
 * `verify` reads. Config: `{ username, password }`. There is no timestamp,
 * so nothing is refused as stale; a replay is caught by the event id.
 *
 * The bodies, as documented (fields we do not read left out):
 *
 *   Bounce (https://postmarkapp.com/developer/webhooks/bounce-webhook):
 *     { "RecordType": "Bounce", "ID": 42, "Type": "HardBounce", "TypeCode": 1, "Name": "Hard bounce",
 *       "MessageID": "00000000-0000-0000-0000-000000000000", "MessageStream": "outbound",
 *       "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
 *       "Details": "Test bounce details", "Email": "john@example.com", "BouncedAt": "2019-11-05T16:33:54.9070259Z",
 *       "Inactive": true, "CanActivate": true, … }
 *   Spam complaint (https://postmarkapp.com/developer/webhooks/spam-complaint-webhook):
 *     the same fields with "RecordType": "SpamComplaint", "Type": "SpamComplaint", "Inactive": true, "CanActivate": false.
 *   Delivery (https://postmarkapp.com/developer/webhooks/delivery-webhook):
 *     { "RecordType": "Delivery", "MessageID": "…", "Recipient": "john@example.com",
 *       "DeliveredAt": "2021-02-21T16:34:52Z", "Details": "Test delivery webhook details", … }
 *     (`Details`: "response line received from the destination email server", e.g. "smtp;250 2.0.0 OK …",
 *     https://postmarkapp.com/support/article/1067-how-do-i-enable-delivery-webhooks).
 *   Subscription change (https://postmarkapp.com/developer/webhooks/subscription-change-webhook):
 *     { "RecordType": "SubscriptionChange", "MessageID": "…", "ChangedAt": "2020-02-01T10:53:34.416071Z",
 *       "Recipient": "bounced-address@wildbit.com", "Origin": "Recipient", "SuppressSending": true,
 *       "SuppressionReason": "HardBounce", … }
 *
 * Other sources:
 * - Bounce types, codes and descriptions: https://postmarkapp.com/developer/api/bounce-api#bounce-types
 *   (the same set in Postmark's own client, ActiveCampaign/postmark.js src/client/models/bounces/Bounce.ts).
 * - Field types: postmark.js src/client/models/webhooks/payload/*.ts (ID a number, Inactive a boolean).
 * - `MessageID` is the id the send API answers (https://postmarkapp.com/developer/api/email-api,
 *   response `MessageID`), which the postmark relay stores verbatim (src/outbound/relays/postmark.ts),
 *   so it is kept as is.
 *
 * Not documented, so read as follows: which fields are required. We require
 * those without which the event cannot be applied (`RecordType`,
 * `MessageID`, the recipient); a time that is missing dates the event when
 * we read it, one that is not a time makes the record invalid.
 */
import { secretsEqual, sha256Hex } from "../../hash";
import { clip } from "../../inbound/bounce-report/fields";
import { enhancedStatusIn, failureStatusIn } from "../../inbound/bounce-report/status";
import { fromBase64 } from "../../mail/bytes";
import type { EventsConfig, HookReading, HookRequest, ProviderHook, RecipientEvent, RecipientEventKind, Verification } from "../types";
import { ignored, invalid, isObject, isToken, type Json, parseJson, refused, stringAt } from "./json";

/** What a bounce record of one `Type` becomes (in BOUNCE_TYPES, a string instead says why such a record is ignored). */
export interface BounceMapping {
  kind: RecipientEventKind;
  hard: boolean;
  /** The RFC 3463 status the type implies, used when `Details` quotes none. */
  status: string | null;
}

const bounced = (hard: boolean, status: string | null = null): BounceMapping => ({ kind: "bounced", hard, status });
const plain = (kind: RecipientEventKind): BounceMapping => ({ kind, hard: false, status: null });

/**
 * Every bounce type of https://postmarkapp.com/developer/api/bounce-api#bounce-types
 * (its TypeCode, and Postmark's description quoted), and what it becomes.
 *
 * Soft bounces are `bounced` (hard: false), not `deferred`: "When a message
 * status shows as Soft Bounce or Undeliverable, it means we have ceased
 * attempting to send that message" (https://postmarkapp.com/support/article/1159-how-to-fix-soft-bounces).
 * `Transient` ("Message delayed") and `DnsError` ("A temporary DNS error")
 * are `deferred`: Postmark describes them as temporary, and a delay notice
 * may still be followed by a delivery or a bounce, either of which a
 * `deferred` does not stand in the way of.
 */
export const BOUNCE_TYPES: Record<string, { code: number; mapping: BounceMapping | string }> = {
  // "Hard bounce — The server was unable to deliver your message (ex: unknown user, mailbox not found)." Postmark deactivates the address.
  HardBounce: { code: 1, mapping: bounced(true, "5.1.1") },
  // "Message delayed — The server could not temporarily deliver your message (ex: Message is delayed due to network troubles)."
  Transient: { code: 2, mapping: plain("deferred") },
  // "Unsubscribe request — Unsubscribe or Remove request.": the recipient answered asking to get no more mail.
  Unsubscribe: { code: 16, mapping: plain("unsubscribed") },
  Subscribe: { code: 32, mapping: "a subscribe request says nothing about delivering the message" },
  // "Automatic email responder (ex: "Out of Office" or "On Vacation")": the message reached someone.
  AutoResponder: { code: 64, mapping: "an automatic reply says nothing about delivering the message" },
  AddressChange: { code: 128, mapping: "an address change request says nothing about delivering the message" },
  // "DNS error — A temporary DNS error."
  DnsError: { code: 256, mapping: plain("deferred") },
  // "The message was delivered, but was either blocked by the user, or classified as spam, bulk mail, or had rejected content.": it did not reach the reader, the mailbox exists.
  SpamNotification: { code: 512, mapping: bounced(false) },
  OpenRelayTest: { code: 1024, mapping: "an open relay test is not about the message" },
  // "Unknown — Unable to classify the NDR.": a non-delivery report, of no known kind.
  Unknown: { code: 2048, mapping: bounced(false) },
  // "Soft bounce — Unable to temporarily deliver message (i.e. mailbox full, account disabled, exceeds quota, out of disk space)."
  SoftBounce: { code: 4096, mapping: bounced(false) },
  // "The bounce is actually a virus notification warning about a virus/code infected message.": refused for its content.
  VirusNotification: { code: 8192, mapping: bounced(false) },
  // "The bounce is a challenge asking for verification you actually sent the email.": held until someone answers.
  ChallengeVerification: { code: 16384, mapping: plain("deferred") },
  // "Invalid email address — The address is not a valid email address." RFC 3463 5.1.3: bad destination mailbox address syntax.
  BadEmailAddress: { code: 100000, mapping: bounced(true, "5.1.3") },
  // "Spam complaint — The subscriber explicitly marked this message as spam."
  SpamComplaint: { code: 100001, mapping: plain("complained") },
  // "Manually deactivated — The email was manually deactivated.": Postmark did not send it.
  ManuallyDeactivated: { code: 100002, mapping: plain("failed") },
  Unconfirmed: { code: 100003, mapping: "a list registration not confirmed says nothing about delivering the message" },
  // "ISP block — Blocked from this ISP due to content or blacklisting.": about the sender or the content, and it may pass later.
  Blocked: { code: 100006, mapping: bounced(false) },
  // "SMTP API error — An error occurred while accepting an email through the SMTP API.": never sent.
  SMTPApiError: { code: 100007, mapping: plain("failed") },
  InboundError: { code: 100008, mapping: "an inbound processing error is not about outbound mail" },
  // "DMARC Policy — Email rejected due to DMARC Policy.": the sending domain's policy, not the mailbox.
  DMARCPolicy: { code: 100009, mapping: bounced(false) },
  // "Template rendering failed — An error occurred while attempting to render your template.": never sent.
  TemplateRenderingFailed: { code: 100010, mapping: plain("failed") },
};

/** Types whose record says Postmark will not send to the address, whatever `Inactive` says. */
const SUPPRESSING_TYPES = new Set(["ManuallyDeactivated"]);

/** RecordTypes Postmark sends that carry nothing to apply (https://postmarkapp.com/developer/webhooks/open-tracking-webhook, …/click-webhook, …/inbound-webhook). */
const NOT_DELIVERY = new Set(["Open", "Click", "Inbound"]);

const MAX_ID_CHARS = 998;
const MAX_ADDRESS_CHARS = 320;

/** Postmark's webhook: Basic credentials checked in constant time, then one record read into at most one event. */
export const postmarkHook: ProviderHook = {
  verify: verifyPostmark,
  read: readPostmark,
};

/**
 * Checks the `Authorization: Basic` credentials Postmark sends (from the
 * `https://user:pass@…` webhook URL) against `config.username` and
 * `config.password`, both compared in constant time and both always
 * compared, so the time says nothing about which one was wrong.
 */
async function verifyPostmark(request: HookRequest, config: EventsConfig): Promise<Verification> {
  const { username, password } = config;
  if (!username || !password) return refused("no webhook username and password configured");
  const header = request.headers.get("authorization");
  if (!header) return refused("no Authorization header");
  const credentials = basicCredentials(header);
  if (!credentials) return refused("Authorization is not Basic credentials");
  const [userMatches, passwordMatches] = await Promise.all([secretsEqual(credentials.username, username), secretsEqual(credentials.password, password)]);
  return userMatches && passwordMatches ? { ok: true } : refused("wrong username or password");
}

/**
 * Reads one Postmark record: `events` with one event for Bounce, Spam
 * complaint, Delivery and a Subscription change that suppresses;
 * `ignored` for records and bounce types that say nothing about delivering
 * the message (opens, clicks, auto-replies, reactivations, types we do not
 * know); `invalid` when the body or a field we need is wrong.
 */
async function readPostmark(request: HookRequest): Promise<HookReading> {
  const record = parseJson(request.body);
  if (!isObject(record)) return invalid("the body is not a JSON object");
  const recordType = record.RecordType;
  if (typeof recordType !== "string" || !recordType) return invalid("no RecordType");
  if (recordType === "Bounce" || recordType === "SpamComplaint") return readBounce(recordType, record);
  if (recordType === "Delivery") return readDelivery(record);
  if (recordType === "SubscriptionChange") return readSubscriptionChange(record);
  if (NOT_DELIVERY.has(recordType)) return ignored(`${recordType} records say nothing about delivery`);
  return ignored(`unknown RecordType ${recordType}`);
}

/** A Bounce or SpamComplaint record (both are bounce records in Postmark: same fields, `ID` from the Bounce API). */
async function readBounce(recordType: string, record: Json): Promise<HookReading> {
  // A complaint record is a complaint whatever its Type says; bounce hooks also carried complaints as Type SpamComplaint (https://postmarkapp.com/blog/bounce-hooks-now-include-spam-complaints).
  const type = recordType === "SpamComplaint" ? "SpamComplaint" : typeOf(record);
  if (!type) return invalid("a bounce without a known Type or TypeCode");
  const entry = BOUNCE_TYPES[type];
  if (!entry) return ignored(`bounce type ${type} is not one we know`);
  if (typeof entry.mapping === "string") return ignored(`${type}: ${entry.mapping}`);
  const fields = commonFields(record, "Email", "BouncedAt");
  if (typeof fields === "string") return invalid(fields);
  const id = record.ID;
  const ownId = typeof id === "number" && Number.isFinite(id) ? String(id) : typeof id === "string" && isToken(id, MAX_ID_CHARS) ? id : null;
  const details = stringAt(record, "Details");
  const { kind, hard, status } = entry.mapping;
  return one({
    kind,
    providerMessageId: fields.messageId,
    recipient: fields.recipient,
    status: kind === "complained" ? null : (failureStatusIn(details) ?? status),
    diagnostic: clip(details) ?? clip(stringAt(record, "Description")),
    hard,
    eventId: ownId ?? (await digest(recordType, fields)),
    occurredAt: fields.occurredAt,
    providerSuppressed: record.Inactive === true || SUPPRESSING_TYPES.has(type),
  });
}

/** A Delivery record: the destination server accepted the message for this recipient. */
async function readDelivery(record: Json): Promise<HookReading> {
  const fields = commonFields(record, "Recipient", "DeliveredAt");
  if (typeof fields === "string") return invalid(fields);
  const details = stringAt(record, "Details");
  return one({
    kind: "delivered",
    providerMessageId: fields.messageId,
    recipient: fields.recipient,
    status: enhancedStatusIn(details),
    diagnostic: clip(details),
    hard: false,
    eventId: await digest("Delivery", fields),
    occurredAt: fields.occurredAt,
    providerSuppressed: false,
  });
}

/**
 * A Subscription change: the address added to (`SuppressSending: true`) or
 * removed from the stream's suppression list. "Possible SuppressionReason
 * values are: HardBounce, SpamComplaint, or ManualSuppression"; "If a
 * recipient unsubscribes, they will be suppressed with the
 * SuppressionReason of ManualSuppression"; "MessageID is null for Manual
 * Suppressions with Origin value of Customer or Admin and Reactivations"
 * (subscription-change-webhook). So a suppression by the recipient tied to
 * a message is applied (a broadcast stream reports its bounces and
 * complaints only this way); a reactivation, or a suppression an operator
 * made, has no message of ours to apply to.
 */
async function readSubscriptionChange(record: Json): Promise<HookReading> {
  if (record.SuppressSending !== true) return ignored("a reactivation: Postmark sends to the address again");
  const origin = stringAt(record, "Origin");
  if (origin !== null && origin !== "Recipient") return ignored(`a suppression made by the ${origin}, not by the recipient`);
  if (record.MessageID === null || record.MessageID === undefined) return ignored("a suppression not caused by a message");
  const reason = stringAt(record, "SuppressionReason");
  const mapping: BounceMapping | null =
    reason === "HardBounce" ? bounced(true, "5.1.1") : reason === "SpamComplaint" ? plain("complained") : reason === "ManualSuppression" ? plain("unsubscribed") : null;
  if (!mapping) return ignored(`suppression reason ${reason ?? "(none)"} is not one we know`);
  const fields = commonFields(record, "Recipient", "ChangedAt");
  if (typeof fields === "string") return invalid(fields);
  return one({
    ...mapping,
    providerMessageId: fields.messageId,
    recipient: fields.recipient,
    diagnostic: `Postmark suppressed the address: ${reason} (origin ${origin ?? "unknown"})`,
    eventId: await digest("SubscriptionChange", fields),
    occurredAt: fields.occurredAt,
    providerSuppressed: true,
  });
}

/** The bounce type by name, else by TypeCode (a Type we do not know is still named, to be ignored as such). */
function typeOf(record: Json): string | null {
  const type = stringAt(record, "Type");
  if (type) return type;
  const code = record.TypeCode;
  return Object.entries(BOUNCE_TYPES).find(([, entry]) => entry.code === code)?.[0] ?? null;
}

interface CommonFields {
  messageId: string;
  recipient: string;
  /** The time as Postmark wrote it ("" when absent), for the digest: replays carry the same. */
  rawTime: string;
  occurredAt: number;
}

/** The message id, the recipient (in `recipientKey`) and the time (in `timeKey`, ISO 8601); a string says what is wrong. */
function commonFields(record: Json, recipientKey: string, timeKey: string): CommonFields | string {
  const messageId = stringAt(record, "MessageID");
  if (!messageId || !isToken(messageId, MAX_ID_CHARS)) return "no valid MessageID";
  const recipient = stringAt(record, recipientKey);
  if (!recipient || !isToken(recipient, MAX_ADDRESS_CHARS) || !/^[^@]+@[^@]+$/.test(recipient)) return `no valid ${recipientKey}`;
  const time = record[timeKey];
  if (time === undefined || time === null) return { messageId, recipient, rawTime: "", occurredAt: Date.now() };
  if (typeof time !== "string" || !Number.isFinite(Date.parse(time))) return `${timeKey} is not a time`;
  return { messageId, recipient, rawTime: time, occurredAt: Date.parse(time) };
}

/** The id of a record Postmark gives none: SHA-256 of what does not change between its replays. */
function digest(recordType: string, fields: CommonFields): Promise<string> {
  return sha256Hex(JSON.stringify([recordType, fields.messageId, fields.recipient, fields.rawTime]));
}

/** `username:password` out of `Basic <base64>` (RFC 7617 §2: the user-id holds no colon, the password may). */
function basicCredentials(header: string): { username: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header.trim());
  if (!match) return null;
  const decoded = new TextDecoder().decode(fromBase64(match[1]!));
  const colon = decoded.indexOf(":");
  return colon < 0 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function one(event: RecipientEvent): HookReading {
  return { kind: "events", events: [event] };
}
