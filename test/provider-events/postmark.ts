/**
 * Postmark webhook requests as Postmark sends them, for the Node table
 * tests and the Worker tests alike (WebCrypto and web globals only, no
 * node: imports). The records follow Postmark's documented examples
 * (https://postmarkapp.com/developer/webhooks/bounce-webhook,
 * …/spam-complaint-webhook, …/delivery-webhook, …/subscription-change-webhook,
 * …/open-tracking-webhook), the bounce types its Bounce API reference
 * (https://postmarkapp.com/developer/api/bounce-api#bounce-types).
 *
 * Postmark signs nothing: the webhook URL carries Basic credentials
 * (`https://<username>:<password>@example.com/webhook`,
 * https://postmarkapp.com/developer/webhooks/webhooks-overview), which an
 * HTTP client sends as `Authorization: Basic base64(username:password)`
 * and never in the request line. `postmarkRequestFromUrl` does that
 * conversion; the reader is src/events/providers/postmark.ts.
 */
import type { HookRequest } from "../../src/events/types";

type Json = Record<string, unknown>;

export const POSTMARK_USERNAME = "postmark-hook";
export const POSTMARK_PASSWORD = "s3cret:with-colon é";
/** The id the send API answered (`MessageID`), as the relay stored it; the documented examples' value. */
export const POSTMARK_MESSAGE_ID = "883953f4-6105-42a2-a16a-77a8eac79483";
export const POSTMARK_RECIPIENT = "john@example.com";
/** The examples' time, with Postmark's seven fractional digits. */
export const POSTMARK_TIME = "2019-11-05T16:33:54.9070259Z";

/**
 * Every bounce type of the Bounce API reference: TypeCode, `Name` and
 * `Description` as Postmark writes them.
 */
export const POSTMARK_BOUNCE_TYPES: Record<string, { code: number; name: string; description: string }> = {
  HardBounce: { code: 1, name: "Hard bounce", description: "The server was unable to deliver your message (ex: unknown user, mailbox not found)." },
  Transient: {
    code: 2,
    name: "Message delayed/Undeliverable",
    description: "The server could not temporarily deliver your message (ex: Message is delayed due to network troubles).",
  },
  Unsubscribe: { code: 16, name: "Unsubscribe request", description: "Unsubscribe or Remove request." },
  Subscribe: { code: 32, name: "Subscribe request", description: "Subscribe request from someone wanting to get added to the mailing list." },
  AutoResponder: { code: 64, name: "Auto responder", description: 'Automatic email responder (ex: "Out of Office" or "On Vacation").' },
  AddressChange: { code: 128, name: "Address change", description: "The recipient has requested an address change." },
  DnsError: { code: 256, name: "DNS error", description: "A temporary DNS error." },
  SpamNotification: {
    code: 512,
    name: "Spam notification",
    description: "The message was delivered, but was either blocked by the user, or classified as spam, bulk mail, or had rejected content.",
  },
  OpenRelayTest: { code: 1024, name: "Open relay test", description: "The NDR is actually a test email message to see if the mail server is an open relay." },
  Unknown: { code: 2048, name: "Unknown", description: "Unable to classify the NDR." },
  SoftBounce: {
    code: 4096,
    name: "Soft bounce/Undeliverable",
    description: "Unable to temporarily deliver message (i.e. mailbox full, account disabled, exceeds quota, out of disk space).",
  },
  VirusNotification: { code: 8192, name: "Virus notification", description: "The bounce is actually a virus notification warning about a virus/code infected message." },
  ChallengeVerification: {
    code: 16384,
    name: "Spam challenge verification",
    description: "The bounce is a challenge asking for verification you actually sent the email. Typcial challenges are made by Spam Arrest, or MailFrontier Matador.",
  },
  BadEmailAddress: { code: 100000, name: "Invalid email address", description: "The address is not a valid email address." },
  SpamComplaint: { code: 100001, name: "Spam complaint", description: "The subscriber explicitly marked this message as spam." },
  ManuallyDeactivated: { code: 100002, name: "Manually deactivated", description: "The email was manually deactivated." },
  Unconfirmed: { code: 100003, name: "Registration not confirmed", description: "The subscriber has not clicked on the confirmation link upon registration or import." },
  Blocked: { code: 100006, name: "ISP block", description: "Blocked from this ISP due to content or blacklisting." },
  SMTPApiError: { code: 100007, name: "SMTP API error", description: "An error occurred while accepting an email through the SMTP API." },
  InboundError: { code: 100008, name: "Processing failed", description: "Unable to deliver inbound message to destination inbound hook." },
  DMARCPolicy: { code: 100009, name: "DMARC Policy", description: "Email rejected due to DMARC Policy." },
  TemplateRenderingFailed: { code: 100010, name: "Template rendering failed", description: "An error occurred while attempting to render your template." },
};

/** A Bounce record of any documented type (bounce webhook example; HardBounce unless `type` says otherwise). */
export function postmarkBounce(type = "HardBounce", overrides: Json = {}): Json {
  const known = POSTMARK_BOUNCE_TYPES[type];
  return {
    RecordType: "Bounce",
    MessageStream: "outbound",
    ID: 42,
    Type: type,
    TypeCode: known?.code ?? 0,
    Name: known?.name ?? type,
    Tag: "Test",
    MessageID: POSTMARK_MESSAGE_ID,
    Metadata: { a_key: "a_value", b_key: "b_value" },
    ServerID: 1234,
    Description: known?.description ?? "",
    Details: "Test bounce details",
    Email: POSTMARK_RECIPIENT,
    From: "sender@example.com",
    BouncedAt: POSTMARK_TIME,
    DumpAvailable: true,
    // Postmark deactivates the address after a hard bounce (https://postmarkapp.com/support/article/815-what-are-bounces-and-spam-complaints).
    Inactive: type === "HardBounce",
    CanActivate: true,
    Subject: "Test subject",
    Content: "<Full dump of bounce>",
    ...overrides,
  };
}

/** A SpamComplaint record (spam complaint webhook example: deactivated, and cannot be reactivated). */
export function postmarkSpamComplaint(overrides: Json = {}): Json {
  return postmarkBounce("SpamComplaint", {
    RecordType: "SpamComplaint",
    ID: 43,
    Description: "",
    Details: "Test spam complaint details",
    Inactive: true,
    CanActivate: false,
    Content: "<Abuse report dump>",
    ...overrides,
  });
}

/** A Delivery record (delivery webhook example, with the destination server's answer as `Details` carries it). */
export function postmarkDelivery(overrides: Json = {}): Json {
  return {
    RecordType: "Delivery",
    ServerID: 23,
    MessageStream: "outbound",
    MessageID: POSTMARK_MESSAGE_ID,
    Recipient: POSTMARK_RECIPIENT,
    Tag: "welcome-email",
    DeliveredAt: "2021-02-21T16:34:52Z",
    Details: "smtp;250 2.0.0 OK 1480624905 l186si10190883ite.73 - gsmtp",
    Metadata: { example: "value", example_2: "value" },
    ...overrides,
  };
}

/** A SubscriptionChange record (subscription change webhook example: suppressed after a hard bounce). */
export function postmarkSubscriptionChange(overrides: Json = {}): Json {
  return {
    RecordType: "SubscriptionChange",
    MessageID: POSTMARK_MESSAGE_ID,
    ServerID: 123456,
    MessageStream: "outbound",
    ChangedAt: "2020-02-01T10:53:34.416071Z",
    Recipient: POSTMARK_RECIPIENT,
    Origin: "Recipient",
    SuppressSending: true,
    SuppressionReason: "HardBounce",
    Tag: "my-tag",
    Metadata: { example: "value", example_2: "value" },
    ...overrides,
  };
}

/** An Open record (open tracking webhook example), which carries nothing to apply. */
export function postmarkOpen(overrides: Json = {}): Json {
  return {
    RecordType: "Open",
    MessageStream: "outbound",
    FirstOpen: true,
    Client: { Name: "Chrome 35.0.1916.153", Company: "Google", Family: "Chrome" },
    OS: { Name: "OS X 10.7 Lion", Company: "Apple Computer, Inc.", Family: "OS X 10" },
    Platform: "WebMail",
    UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36",
    ReadSeconds: 5,
    Geo: {},
    MessageID: POSTMARK_MESSAGE_ID,
    Metadata: { a_key: "a_value", b_key: "b_value" },
    ReceivedAt: "2019-11-05T16:33:54.9070259Z",
    Tag: "welcome-email",
    Recipient: POSTMARK_RECIPIENT,
    ...overrides,
  };
}

/** `Basic base64(username:password)` of the UTF-8 text (RFC 7617), as a client makes it from the URL's credentials. */
export function postmarkAuthorization(username = POSTMARK_USERNAME, password = POSTMARK_PASSWORD): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return `Basic ${btoa(Array.from(bytes, (byte) => String.fromCharCode(byte)).join(""))}`;
}

/** The webhook URL an operator gives Postmark: the hook's URL with the credentials in it (percent-encoded by the URL). */
export function postmarkWebhookUrl(relayId = "rly_postmark", username = POSTMARK_USERNAME, password = POSTMARK_PASSWORD, origin = "https://mailgate.test"): string {
  const url = new URL(`/hooks/relays/${relayId}`, origin);
  url.username = username;
  url.password = password;
  return url.href;
}

/**
 * The request Postmark makes to a webhook URL with credentials: the
 * credentials leave the URL and become the Authorization header, as any
 * HTTP client does (fetch refuses a URL with credentials outright).
 */
export function postmarkRequestFromUrl(webhookUrl: string, record: Json | string): HookRequest {
  const url = new URL(webhookUrl);
  const headers = jsonHeaders();
  if (url.username || url.password) headers.set("authorization", postmarkAuthorization(decodeURIComponent(url.username), decodeURIComponent(url.password)));
  url.username = "";
  url.password = "";
  return { method: "POST", url: url.href, headers, body: typeof record === "string" ? record : JSON.stringify(record) };
}

export interface PostmarkAuth {
  username?: string;
  password?: string;
  /** The whole Authorization header instead (a malformed one), or null for none. */
  authorization?: string | null;
  relayId?: string;
}

/** A `POST /hooks/relays/{id}` request for one record, with the credentials (POSTMARK_USERNAME/PASSWORD) unless `auth` says otherwise. */
export function postmarkRequest(record: Json | string, auth: PostmarkAuth = {}): HookRequest {
  const request = postmarkRequestFromUrl(postmarkWebhookUrl(auth.relayId, auth.username, auth.password), record);
  if (auth.authorization === null) request.headers.delete("authorization");
  else if (auth.authorization !== undefined) request.headers.set("authorization", auth.authorization);
  return request;
}

function jsonHeaders(): Headers {
  return new Headers({ "content-type": "application/json", accept: "application/json" });
}
