/**
 * Amazon SES events, delivered by Amazon SNS: SES publishes each sending
 * event to an SNS topic, and the topic's HTTPS subscription POSTs it to
 * `/hooks/relays/{id}` as JSON with `Content-Type: text/plain` and an
 * `x-amz-sns-message-type` header (SubscriptionConfirmation, Notification,
 * UnsubscribeConfirmation).
 *   https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
 *
 * `config.events` holds:
 *   certificate  the PEM of the SNS signing certificate (required). SNS
 *                names its certificate in `SigningCertURL`; that URL is
 *                never fetched (a Worker's hook must not reach out for the
 *                key that vouches for the request): the operator downloads
 *                it once and pastes it into the relay. When SNS rotates its
 *                certificate, messages fail verification until the new one
 *                is configured.
 *   topicArn     the topic the relay's SES events go to (optional): when
 *                set, a message from any other topic is refused ("Reject
 *                any message with an unexpected TopicArn",
 *                https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).
 *
 * The signature is checked exactly as AWS documents it
 * (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html):
 * the string to sign is `Name\nValue\n` for each of the type's fields in
 * byte order, SignatureVersion 1 is SHA1withRSA and 2 is SHA256withRSA, the
 * `Signature` is base64. The certificate's key is read with node:crypto's
 * X509Certificate (in workerd with nodejs_compat as in Node: its
 * `publicKey.export({ type: "spki", format: "der" })` gives the
 * SubjectPublicKeyInfo) and imported into WebCrypto as RSASSA-PKCS1-v1_5.
 *
 * The SES event inside a Notification is read in both of SES's formats:
 * event publishing (`eventType`, through a configuration set) and the older
 * identity notifications (`notificationType`, Bounce/Complaint/Delivery
 * only); their `mail`, `bounce`, `complaint` and `delivery` objects are the
 * same.
 *   https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
 *   https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
 */
import { X509Certificate } from "node:crypto";
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

type Json = Record<string, unknown>;
type MessageType = "Notification" | "SubscriptionConfirmation" | "UnsubscribeConfirmation";

/**
 * The fields each message type signs, already in the byte order the string
 * to sign lists them in; `Subject` only when the notification has one.
 * https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html
 */
const SIGNED_FIELDS: Record<MessageType, readonly string[]> = {
  Notification: ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
  SubscriptionConfirmation: ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
  UnsubscribeConfirmation: ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
};
const OPTIONAL_FIELDS = new Set(["Subject"]);

/**
 * SignatureVersion 1 signs a SHA1 hash, 2 a SHA256 hash (both RSA).
 * https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html
 */
const HASHES: Record<string, "SHA-1" | "SHA-256"> = { "1": "SHA-1", "2": "SHA-256" };

/**
 * SNS's own hosts: `sns.<region>.amazonaws.com` (`.com.cn` in the China
 * regions). The docs say to make sure SigningCertURL is on a trusted AWS
 * domain "(for example, https://sns.<region>.amazonaws.com)"; the URL is
 * only checked, never fetched. The same holds for the SubscribeURL we are
 * asked to visit (https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html
 * shows it on that host), so confirming a subscription cannot be turned
 * into a request to anywhere else.
 */
const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/;

function isSnsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" && SNS_HOST.test(url.hostname) && url.username === "" && url.password === "" && url.port === "";
  } catch {
    return false;
  }
}

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const text = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

function parseJson(body: string): Json | null {
  try {
    const value: unknown = JSON.parse(body);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

const isMessageType = (value: unknown): value is MessageType => typeof value === "string" && Object.hasOwn(SIGNED_FIELDS, value);

/** The SNS message, or why it is not one: the type, the header that repeats it, and every field the type signs. */
function envelopeOf(request: HookRequest): { ok: true; envelope: Json; type: MessageType } | { ok: false; reason: string } {
  const envelope = parseJson(request.body);
  if (!envelope) return { ok: false, reason: "the body is not a JSON object" };
  const type = envelope.Type;
  if (!isMessageType(type)) return { ok: false, reason: `unknown SNS message type ${JSON.stringify(type ?? null)}` };
  // The header is not signed; it must agree with the signed Type when present.
  const header = request.headers.get("x-amz-sns-message-type");
  if (header !== null && header !== type) return { ok: false, reason: `x-amz-sns-message-type ${header} does not match Type ${type}` };
  for (const field of [...SIGNED_FIELDS[type], "SignatureVersion", "Signature", "SigningCertURL"]) {
    const value = envelope[field];
    if (value === undefined && OPTIONAL_FIELDS.has(field)) continue;
    if (typeof value !== "string") return { ok: false, reason: `${field} is missing` };
  }
  return { ok: true, envelope, type };
}

/**
 * The string SNS signed: each field as `Name\nValue\n`, the values as
 * parsed from the JSON (escaped control characters back in their original
 * form, as the docs insist).
 */
function stringToSign(envelope: Json, type: MessageType): string {
  let signed = "";
  for (const field of SIGNED_FIELDS[type]) {
    const value = envelope[field];
    if (typeof value === "string") signed += `${field}\n${value}\n`;
  }
  return signed;
}

function base64Bytes(value: string): Uint8Array<ArrayBuffer> | null {
  try {
    return Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The DER of the first certificate in a PEM (a pasted chain starts with the signing certificate). */
function pemCertificate(pem: string): Uint8Array<ArrayBuffer> | null {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/.exec(pem.replace(/\\n/g, "\n"));
  return match ? base64Bytes(match[1]!.replace(/\s+/g, "")) : null;
}

/** The certificate's public key as WebCrypto needs it to check an RSA signature with this hash. */
async function verifyingKey(pem: string, hash: "SHA-1" | "SHA-256"): Promise<CryptoKey | null> {
  const der = pemCertificate(pem);
  if (!der) return null;
  try {
    const key = new X509Certificate(der).publicKey as { export(options: { type: "spki"; format: "der" }): Uint8Array };
    const spki = new Uint8Array(key.export({ type: "spki", format: "der" }));
    return await crypto.subtle.importKey("spki", spki, { name: "RSASSA-PKCS1-v1_5", hash }, false, ["verify"]);
  } catch {
    return null;
  }
}

async function verify(request: HookRequest, config: EventsConfig, now: number): Promise<Verification> {
  const certificate = config.certificate;
  if (!certificate) return { ok: false, reason: "no SNS signing certificate configured (config.events.certificate)" };
  const read = envelopeOf(request);
  if (!read.ok) return read;
  const { envelope, type } = read;
  const hash = HASHES[envelope.SignatureVersion as string];
  if (!hash) return { ok: false, reason: `unsupported SignatureVersion ${JSON.stringify(envelope.SignatureVersion)}` };
  if (!isSnsUrl(envelope.SigningCertURL as string)) return { ok: false, reason: "SigningCertURL is not an https URL on an SNS host" };
  if (config.topicArn && envelope.TopicArn !== config.topicArn) return { ok: false, reason: `unexpected TopicArn ${envelope.TopicArn as string}` };
  const signature = base64Bytes(envelope.Signature as string);
  if (!signature || signature.length === 0) return { ok: false, reason: "Signature is not base64" };
  const key = await verifyingKey(certificate, hash);
  if (!key) return { ok: false, reason: "the configured certificate cannot be read as an RSA certificate" };
  const signed = new TextEncoder().encode(stringToSign(envelope, type));
  if (!(await crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, signature, signed))) return { ok: false, reason: "signature mismatch" };
  // Checked after the signature, so `stale` is said only of a message SNS did send.
  const sent = Date.parse(envelope.Timestamp as string);
  if (!Number.isFinite(sent)) return { ok: false, reason: "Timestamp is not a date" };
  if (Math.abs(now - sent) > MAX_EVENT_AGE_MS) return { ok: false, reason: `Timestamp ${envelope.Timestamp as string} is too far from now`, stale: true };
  return { ok: true };
}

/** An RFC 3463 status (`5.1.1`) at the start of a DSN Status, or inside an SMTP reply or Diagnostic-Code. */
function enhancedStatus(value: string | null, anywhere: boolean): string | null {
  if (!value) return null;
  const match = (anywhere ? /(?:^|[\s;])([245]\.\d{1,3}\.\d{1,3})(?=$|[\s;,.])/ : /^([245]\.\d{1,3}\.\d{1,3})\b/).exec(value.trim());
  return match ? match[1]! : null;
}

const timeOf = (value: unknown, fallback: number): number => {
  const time = typeof value === "string" ? Date.parse(value) : Number.NaN;
  return Number.isFinite(time) ? time : fallback;
};

interface Outcome {
  recipient: string;
  status: string | null;
  diagnostic: string | null;
}

/** Bounce subtypes that say SES itself will not send to the address (its global or the account's suppression list). */
const SUPPRESSED_BY_SES = new Set(["Suppressed", "OnAccountSuppressionList"]);

/**
 * The recipient events of one SES event. Each row's source:
 *  - Bounce → bounced, for each `bounce.bouncedRecipients[]` (emailAddress,
 *    status, diagnosticCode). `bounceType` Permanent is hard: "it's
 *    unlikely that you'll be able to send email to that recipient in the
 *    future". Transient and Undetermined are not hard: SES publishes a
 *    Transient bounce only once it "has stopped trying to re-deliver", so
 *    this message has failed (bounced, not deferred), but "you may be able
 *    to successfully resend to an address that initially resulted in a
 *    Transient bounce in the future"; Undetermined means SES "was unable to
 *    determine a specific bounce reason", which is no proof the address is
 *    gone, so it counts as a soft bounce too. The DSN `action` is not read:
 *    SES has already concluded, and its bounceType says how. Permanent with
 *    `bounceSubType` Suppressed / OnAccountSuppressionList → providerSuppressed
 *    (SES "has suppressed sending to this address").
 *  - Complaint → complained, for each `complaint.complainedRecipients[]`;
 *    `complaintSubType` OnAccountSuppressionList → providerSuppressed.
 *  - Delivery → delivered, for each `delivery.recipients[]`, with the
 *    `smtpResponse` of the receiving server.
 *  - DeliveryDelay → deferred, for each `deliveryDelay.delayedRecipients[]`.
 *  - Reject (a virus: SES "doesn't attempt to deliver") and Rendering
 *    Failure (a template that did not render) → failed, for every
 *    `mail.destination`, as SES gives no per-recipient list.
 *  - Send, Open, Click, and anything else → nothing to apply.
 *    https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
 *    https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
 */
function eventsOf(ses: Json, snsMessageId: string, snsTime: number): HookReading {
  const type = text(ses.eventType) ?? text(ses.notificationType);
  if (!type) return { kind: "ignored", why: "the SNS message is not an SES event" };
  const mail = isObject(ses.mail) ? ses.mail : {};
  const outcomes = (kind: RecipientEventKind, rows: Outcome[], at: unknown, hard = false, providerSuppressed = false): HookReading => {
    // mail.messageId is the MessageId SES's SendEmail answered, which the SES relay stores as is.
    const providerMessageId = text(mail.messageId);
    if (!providerMessageId) return { kind: "invalid", reason: `SES ${type} event without mail.messageId` };
    if (rows.length === 0) return { kind: "ignored", why: `SES ${type} event names no recipient` };
    const occurredAt = timeOf(at, snsTime);
    const events: RecipientEvent[] = rows.map((row) => ({
      kind,
      providerMessageId,
      recipient: row.recipient,
      status: row.status,
      diagnostic: row.diagnostic,
      hard,
      // SNS keeps a message's MessageId when it retries it, so a replay has the same id.
      eventId: `${snsMessageId}:${row.recipient}`,
      occurredAt,
      providerSuppressed,
    }));
    return { kind: "events", events };
  };
  const recipientsOf = (value: unknown, row: (entry: Json, recipient: string) => Outcome): Outcome[] =>
    list(value).flatMap((entry) => {
      if (typeof entry === "string" && entry) return [row({}, entry)];
      const recipient = isObject(entry) ? text(entry.emailAddress) : null;
      return recipient && isObject(entry) ? [row(entry, recipient)] : [];
    });
  const destinations = (diagnostic: string | null) => recipientsOf(mail.destination, (_, recipient) => ({ recipient, status: null, diagnostic }));

  switch (type) {
    case "Bounce": {
      const bounce = isObject(ses.bounce) ? ses.bounce : {};
      const bounceType = text(bounce.bounceType);
      const subType = text(bounce.bounceSubType);
      const permanent = bounceType === "Permanent";
      const rows = recipientsOf(bounce.bouncedRecipients, (entry, recipient) => {
        const diagnostic = text(entry.diagnosticCode);
        return {
          recipient,
          status: enhancedStatus(text(entry.status), false) ?? enhancedStatus(diagnostic, true),
          diagnostic: diagnostic ?? `SES bounce ${bounceType ?? "?"}/${subType ?? "?"}`,
        };
      });
      return outcomes("bounced", rows, bounce.timestamp, permanent, permanent && subType !== null && SUPPRESSED_BY_SES.has(subType));
    }
    case "Complaint": {
      const complaint = isObject(ses.complaint) ? ses.complaint : {};
      const feedback = text(complaint.complaintFeedbackType);
      const rows = recipientsOf(complaint.complainedRecipients, (_, recipient) => ({
        recipient,
        status: null,
        diagnostic: feedback ? `complaint: ${feedback}` : null,
      }));
      return outcomes("complained", rows, complaint.timestamp, false, complaint.complaintSubType === "OnAccountSuppressionList");
    }
    case "Delivery": {
      const delivery = isObject(ses.delivery) ? ses.delivery : {};
      const response = text(delivery.smtpResponse);
      const rows = recipientsOf(delivery.recipients, (_, recipient) => ({ recipient, status: enhancedStatus(response, true), diagnostic: response }));
      return outcomes("delivered", rows, delivery.timestamp);
    }
    case "DeliveryDelay": {
      const delay = isObject(ses.deliveryDelay) ? ses.deliveryDelay : {};
      const delayType = text(delay.delayType);
      const rows = recipientsOf(delay.delayedRecipients, (entry, recipient) => {
        const diagnostic = text(entry.diagnosticCode);
        return {
          recipient,
          status: enhancedStatus(text(entry.status), false) ?? enhancedStatus(diagnostic, true),
          diagnostic: diagnostic ?? (delayType ? `SES delivery delay: ${delayType}` : null),
        };
      });
      return outcomes("deferred", rows, delay.timestamp);
    }
    case "Reject": {
      const reject = isObject(ses.reject) ? ses.reject : {};
      return outcomes("failed", destinations(`SES rejected the message: ${text(reject.reason) ?? "no reason given"}`), null);
    }
    case "Rendering Failure": {
      const failure = isObject(ses.failure) ? ses.failure : {};
      return outcomes("failed", destinations(`SES could not render the template: ${text(failure.errorMessage) ?? "no reason given"}`), null);
    }
    default:
      return { kind: "ignored", why: `SES ${type} event carries no delivery outcome` };
  }
}

async function read(request: HookRequest): Promise<HookReading> {
  const read = envelopeOf(request);
  if (!read.ok) return { kind: "invalid", reason: read.reason };
  const { envelope, type } = read;
  if (type === "SubscriptionConfirmation") {
    const url = envelope.SubscribeURL as string;
    return isSnsUrl(url) ? { kind: "confirm_subscription", url } : { kind: "invalid", reason: "SubscribeURL is not an https URL on an SNS host" };
  }
  if (type === "UnsubscribeConfirmation") return { kind: "ignored", why: "SNS confirms an unsubscription; nothing to apply" };
  // A Message that is not JSON (a test publish from the console, SES's "Successfully validated SNS topic" note) is not an event.
  const ses = parseJson(envelope.Message as string);
  if (!ses) return { kind: "ignored", why: "the SNS message is not an SES event" };
  return eventsOf(ses, envelope.MessageId as string, timeOf(envelope.Timestamp, Date.now()));
}

/**
 * Amazon SES events through an SNS HTTPS subscription: verified against the
 * SNS signing certificate configured on the relay (never fetched), read
 * into recipient events, or a subscription to confirm.
 */
export const sesHook: ProviderHook = { verify, read };
