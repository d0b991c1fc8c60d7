/**
 * Amazon SES events in SNS envelopes, signed as SNS signs them, for the
 * tests of src/events/providers/ses.ts in Node and in workerd: WebCrypto
 * only, no node: imports. The signing certificate is made here, per run:
 * an RSA key from WebCrypto and a minimal self-signed X.509 certificate
 * (RFC 5280 4.1, version 1, no extensions) written in DER by hand, so no
 * private key is committed and nothing runs openssl.
 *
 * The payloads follow AWS's documented examples:
 *   SNS envelopes  https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
 *   string to sign https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html
 *   SES events     https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html
 *   older format   https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
 */
import type { HookRequest } from "../../src/events/types";

// --- DER (X.690), just what a certificate needs -------------------------------------------

function der(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const n = content.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + length.length + n);
  out.set([tag, ...length]);
  out.set(content, 1 + length.length);
  return out;
}
const concat = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};
const sequence = (...parts: Uint8Array[]) => der(0x30, concat(...parts));
const set = (...parts: Uint8Array[]) => der(0x31, concat(...parts));
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
function oid(dotted: string): Uint8Array {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [a! * 40 + b!];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return der(0x06, new Uint8Array(bytes));
}
const NULL = new Uint8Array([0x05, 0x00]);
/** UTCTime, YYMMDDHHMMSSZ (RFC 5280 4.1.2.5.1: years 1950 to 2049). */
const utcTime = (ms: number) => der(0x17, ascii(`${new Date(ms).toISOString().slice(2, 19).replace(/[-T:]/g, "")}Z`));
const name = (commonName: string) => sequence(set(sequence(oid("2.5.4.3"), der(0x0c, new TextEncoder().encode(commonName)))));
const SHA256_WITH_RSA = sequence(oid("1.2.840.113549.1.1.11"), NULL);

const base64 = (bytes: Uint8Array) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
const pem = (label: string, bytes: Uint8Array) => `-----BEGIN ${label}-----\n${base64(bytes).replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;

// --- the signer ---------------------------------------------------------------------------

export type SignatureVersion = "1" | "2";

export interface SnsSigner {
  /** The PEM a relay's `config.events.certificate` holds. */
  certificate: string;
  /** A base64 SHA1withRSA (version 1) or SHA256withRSA (version 2) signature of the text. */
  sign(text: string, version: SignatureVersion): Promise<string>;
}

const RSA = { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) };

/** A new RSA key and its self-signed certificate, standing in for SNS's signing certificate. */
export async function snsSigner(commonName = "sns.amazonaws.com"): Promise<SnsSigner> {
  const pair = (await crypto.subtle.generateKey({ ...RSA, hash: "SHA-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", pair.publicKey)) as ArrayBuffer);
  const pkcs8 = (await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer;
  // WebCrypto binds a key to one hash: the same private key, once per signature version.
  const keys: Record<SignatureVersion, CryptoKey> = {
    "1": await crypto.subtle.importKey("pkcs8", pkcs8, { name: RSA.name, hash: "SHA-1" }, false, ["sign"]),
    "2": await crypto.subtle.importKey("pkcs8", pkcs8, { name: RSA.name, hash: "SHA-256" }, false, ["sign"]),
  };
  const serial = crypto.getRandomValues(new Uint8Array(9));
  serial[0] = 0x01; // positive, no leading zero
  const now = Date.now();
  const tbs = sequence(der(0x02, serial), SHA256_WITH_RSA, name(commonName), sequence(utcTime(now - 86_400_000), utcTime(now + 365 * 86_400_000)), name(commonName), spki);
  const certSignature = new Uint8Array(await crypto.subtle.sign(RSA.name, keys["2"], tbs));
  const certificate = sequence(tbs, SHA256_WITH_RSA, der(0x03, concat(new Uint8Array([0]), certSignature)));
  return {
    certificate: pem("CERTIFICATE", certificate),
    async sign(text, version) {
      return base64(new Uint8Array(await crypto.subtle.sign(RSA.name, keys[version], new TextEncoder().encode(text))));
    },
  };
}

// --- SNS envelopes ------------------------------------------------------------------------

export type SnsEnvelope = Record<string, string>;

export const TOPIC_ARN = "arn:aws:sns:us-west-2:123456789012:MyTopic";
export const SIGNING_CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem";
const TOKEN =
  "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736";

/**
 * The string SNS signs, written from the docs (not shared with the module
 * under test): `Name\nValue\n` per field, in this order; Subject only if
 * present.
 */
export function snsStringToSign(envelope: SnsEnvelope): string {
  const fields =
    envelope.Type === "Notification"
      ? ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
      : ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"];
  return fields.map((field) => (envelope[field] === undefined ? "" : `${field}\n${envelope[field]}\n`)).join("");
}

export interface EnvelopeOptions {
  version?: SignatureVersion;
  /** When SNS sent it (ms); now by default. */
  timestamp?: number;
  messageId?: string;
  subject?: string;
  topicArn?: string;
}

async function signed(signer: SnsSigner, fields: SnsEnvelope, version: SignatureVersion): Promise<SnsEnvelope> {
  const envelope = { ...fields, SignatureVersion: version, SigningCertURL: SIGNING_CERT_URL };
  return { ...envelope, Signature: await signer.sign(snsStringToSign(envelope), version) };
}

/** A Notification carrying an SES event (an object, serialized as SNS carries it) or any text, signed. */
export async function snsNotification(signer: SnsSigner, message: object | string, options: EnvelopeOptions = {}): Promise<SnsEnvelope> {
  const messageId = options.messageId ?? "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324";
  const topicArn = options.topicArn ?? TOPIC_ARN;
  return signed(
    signer,
    {
      Type: "Notification",
      MessageId: messageId,
      TopicArn: topicArn,
      ...(options.subject !== undefined && { Subject: options.subject }),
      Message: typeof message === "string" ? message : JSON.stringify(message),
      Timestamp: new Date(options.timestamp ?? Date.now()).toISOString(),
      UnsubscribeURL: `https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${topicArn}:c9135db0-26c4-47ec-8998-413945fb5a96`,
    },
    options.version ?? "2",
  );
}

/** A SubscriptionConfirmation (or UnsubscribeConfirmation) as SNS sends it when the endpoint is subscribed, signed. */
export async function snsConfirmation(signer: SnsSigner, options: EnvelopeOptions & { type?: "SubscriptionConfirmation" | "UnsubscribeConfirmation" } = {}): Promise<SnsEnvelope> {
  const topicArn = options.topicArn ?? TOPIC_ARN;
  const type = options.type ?? "SubscriptionConfirmation";
  return signed(
    signer,
    {
      Type: type,
      MessageId: options.messageId ?? "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
      Token: TOKEN,
      TopicArn: topicArn,
      Message:
        type === "SubscriptionConfirmation"
          ? `You have chosen to subscribe to the topic ${topicArn}.\nTo confirm the subscription, visit the SubscribeURL included in this message.`
          : `You have chosen to deactivate subscription ${topicArn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.`,
      SubscribeURL: `https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${topicArn}&Token=${TOKEN}`,
      Timestamp: new Date(options.timestamp ?? Date.now()).toISOString(),
    },
    options.version ?? "2",
  );
}

/** The request SNS makes with an envelope: JSON as text/plain, the type repeated in x-amz-sns-message-type. */
export function snsRequest(envelope: SnsEnvelope | Record<string, unknown>, headers: Record<string, string> = {}): HookRequest {
  return {
    method: "POST",
    url: "https://mailgate.test/hooks/relays/ses-relay",
    headers: new Headers({
      "content-type": "text/plain; charset=UTF-8",
      "user-agent": "Amazon Simple Notification Service Agent",
      ...(typeof envelope.Type === "string" && { "x-amz-sns-message-type": envelope.Type }),
      ...(typeof envelope.MessageId === "string" && { "x-amz-sns-message-id": envelope.MessageId }),
      ...(typeof envelope.TopicArn === "string" && { "x-amz-sns-topic-arn": envelope.TopicArn }),
      ...headers,
    }),
    body: JSON.stringify(envelope),
  };
}

// --- SES events ---------------------------------------------------------------------------

/** The MessageId SES's SendEmail answered, as in AWS's examples. */
export const SES_MESSAGE_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000";

export interface SesEventOptions {
  /** `eventType` (event publishing, the default) or the older `notificationType`. */
  format?: "event" | "notification";
  messageId?: string;
  recipients?: string[];
}

function sesEvent(type: string, body: Record<string, unknown>, options: SesEventOptions): Record<string, unknown> {
  const recipients = options.recipients ?? ["recipient@example.com"];
  return {
    [options.format === "notification" ? "notificationType" : "eventType"]: type,
    mail: {
      timestamp: "2017-08-05T00:40:02.012Z",
      source: "Sender Name <sender@example.com>",
      sourceArn: "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
      sendingAccountId: "123456789012",
      messageId: options.messageId ?? SES_MESSAGE_ID,
      destination: recipients,
      headersTruncated: false,
      tags: { "ses:configuration-set": ["ConfigSet"] },
    },
    ...body,
  };
}

export interface BouncedRecipient {
  emailAddress: string;
  action?: string;
  status?: string;
  diagnosticCode?: string;
}

/** A Bounce: by default the documented Permanent/General bounce of recipient@example.com (5.1.1 user unknown). */
export function sesBounce(options: SesEventOptions & { bounceType?: string; bounceSubType?: string; bouncedRecipients?: BouncedRecipient[] } = {}): Record<string, unknown> {
  const bouncedRecipients = options.bouncedRecipients ?? [
    { emailAddress: "recipient@example.com", action: "failed", status: "5.1.1", diagnosticCode: "smtp; 550 5.1.1 user unknown" },
  ];
  return sesEvent(
    "Bounce",
    {
      bounce: {
        bounceType: options.bounceType ?? "Permanent",
        bounceSubType: options.bounceSubType ?? "General",
        bouncedRecipients,
        timestamp: "2017-08-05T00:41:02.669Z",
        feedbackId: "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        reportingMTA: "dsn; mta.example.com",
      },
    },
    { ...options, recipients: options.recipients ?? bouncedRecipients.map((r) => r.emailAddress) },
  );
}

/** A Complaint (feedback type abuse), optionally with complaintSubType OnAccountSuppressionList. */
export function sesComplaint(options: SesEventOptions & { complaintSubType?: string | null } = {}): Record<string, unknown> {
  const recipients = options.recipients ?? ["recipient@example.com"];
  return sesEvent(
    "Complaint",
    {
      complaint: {
        complainedRecipients: recipients.map((emailAddress) => ({ emailAddress })),
        timestamp: "2017-08-05T00:41:02.669Z",
        feedbackId: "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        userAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3112.90 Safari/537.36",
        complaintFeedbackType: "abuse",
        arrivalDate: "2017-08-05T00:41:02.669Z",
        ...(options.complaintSubType !== undefined && { complaintSubType: options.complaintSubType }),
      },
    },
    options,
  );
}

/** A Delivery, as in the docs: "250 2.6.0 Message received". */
export function sesDelivery(options: SesEventOptions = {}): Record<string, unknown> {
  return sesEvent(
    "Delivery",
    {
      delivery: {
        timestamp: "2016-10-19T23:21:04.133Z",
        processingTimeMillis: 11893,
        recipients: options.recipients ?? ["recipient@example.com"],
        smtpResponse: "250 2.6.0 Message received",
        reportingMTA: "mta.example.com",
      },
    },
    options,
  );
}

/** A DeliveryDelay (TransientCommunicationFailure, 4.4.1), as in the docs. */
export function sesDeliveryDelay(options: SesEventOptions = {}): Record<string, unknown> {
  return sesEvent(
    "DeliveryDelay",
    {
      deliveryDelay: {
        timestamp: "2020-06-16T00:25:40.095Z",
        delayType: "TransientCommunicationFailure",
        expirationTime: "2020-06-16T00:25:40.914Z",
        delayedRecipients: (options.recipients ?? ["recipient@example.com"]).map((emailAddress) => ({
          emailAddress,
          status: "4.4.1",
          diagnosticCode: "smtp; 421 4.4.1 Unable to connect to remote host",
        })),
      },
    },
    options,
  );
}

/** A Reject (SES found a virus), as in the docs. */
export function sesReject(options: SesEventOptions = {}): Record<string, unknown> {
  return sesEvent("Reject", { reject: { reason: "Bad content" } }, options);
}

/** A Send: SES accepted the request (nothing happened to a recipient yet). */
export function sesSend(options: SesEventOptions = {}): Record<string, unknown> {
  return sesEvent("Send", { send: {} }, options);
}
