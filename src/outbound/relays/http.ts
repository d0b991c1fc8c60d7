/**
 * What the HTTP providers share: the composed message read back into the
 * fields their APIs take, and one mapping of HTTP answers to outcomes.
 */
import { decodeWords, type Email } from "postal-mime";
import { mailboxes, normalizeAddress } from "../../mail/address";
import { toBase64 } from "../../mail/bytes";
import type { Mailbox } from "../../model";
import { allRecipients, type OutgoingMessage, type ProbeFailure, type ProbeResult, type Relay, type SendOutcome, statelessSession } from "./types";

export const PROVIDER_TIMEOUT_MS = 30_000;

/** Headers the provider APIs build from their own fields; everything else is passed on as a custom header. */
const FIELD_HEADERS = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "reply-to",
  "subject",
  "date",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-disposition",
  "return-path",
  "sender",
]);

/** The composed message as the providers that take fields (Postmark, Resend, SendGrid) need it. */
export interface MessageFields {
  parsed: Email;
  from: Mailbox;
  /** The recipients still to deliver to, in the header they were written in; the rest are Bcc. */
  to: Mailbox[];
  cc: Mailbox[];
  bcc: Mailbox[];
  replyTo: Mailbox[];
  text: string | null;
  html: string | null;
}

/**
 * A relay for a provider that takes fields instead of MIME: each message is
 * read back once into its fields; one that cannot be read back or has no
 * From fails for every recipient, since no provider would take it. `probe`
 * is the provider's read-only check (see `providerProbe`).
 */
export function fieldsRelay(send: (message: OutgoingMessage, fields: MessageFields) => Promise<SendOutcome>, probe: () => Promise<ProbeResult>): Relay {
  return {
    probe,
    async open() {
      return statelessSession(async (message) => {
        const read = await message.parsed();
        if (!read.ok) return { kind: "sent", providerMessageId: null, recipients: allRecipients(message.recipients, "failed", null, read.reason) };
        const parsed = read.email;
        const from = mailboxes(parsed.from)[0];
        if (!from) return { kind: "sent", providerMessageId: null, recipients: allRecipients(message.recipients, "failed", null, "no From") };
        return send(message, { parsed, from, ...recipientFields(parsed, message.recipients), replyTo: mailboxes(parsed.replyTo), ...bodies(parsed) });
      });
    },
  };
}

/** The recipients still to deliver to, in the header they were written in; the rest were Bcc. */
export function recipientFields(parsed: Email, pending: string[]) {
  // Pending recipients are canonical; the headers keep the addresses as written.
  const wanted = new Set(pending);
  const isWanted = (m: Mailbox) => wanted.has(normalizeAddress(m.address) ?? "");
  const to = mailboxes(parsed.to).filter(isWanted);
  const cc = mailboxes(parsed.cc).filter(isWanted);
  const shown = new Set([...to, ...cc].map((m) => normalizeAddress(m.address)));
  const bcc = pending.filter((a) => !shown.has(a)).map((address) => ({ name: "", address }));
  return { to, cc, bcc };
}

/** Our custom and threading headers (Message-ID, X-Mailgate-Message-Id, In-Reply-To, References, the caller's), decoded. */
export function customHeaders(parsed: Email): [string, string][] {
  return parsed.headers.filter((h) => !FIELD_HEADERS.has(h.key)).map((h) => [h.originalKey, decodeWords(h.value)]);
}

/**
 * The text and HTML bodies as written: without the line breaks the
 * multipart layout puts between a part and the next boundary.
 */
export function bodies(parsed: Email): { text: string | null; html: string | null } {
  const trim = (value: string | undefined) => (value === undefined ? null : value.replace(/(?:\r?\n)+$/, ""));
  return { text: trim(parsed.text), html: trim(parsed.html) };
}

export interface FlatAttachment {
  filename: string;
  contentType: string;
  base64: string;
  contentId: string | null;
}

function contentBase64(content: ArrayBuffer | Uint8Array | string): string {
  if (typeof content === "string") return content;
  return toBase64(content instanceof Uint8Array ? content : new Uint8Array(content));
}

/** Attachments as the JSON APIs take them: base64, always a filename (made up when the part has none), and the Content-ID that `cid:` links need. */
export function attachments(parsed: Email): FlatAttachment[] {
  return parsed.attachments.map((a, i) => ({
    filename: a.filename ?? `attachment-${i + 1}`,
    contentType: a.mimeType,
    base64: contentBase64(a.content),
    contentId: a.contentId ?? null,
  }));
}

/** `"Name" <address>` for JSON APIs (UTF-8, no RFC 2047), or the bare address. */
export function quoted(mailbox: Mailbox): string {
  return mailbox.name ? `"${mailbox.name.replace(/[\\"]/g, (c) => `\\${c}`)}" <${mailbox.address}>` : mailbox.address;
}

/**
 * Statuses that mean "this message, as it is, will never be accepted"
 * (validation, too large): every recipient failed. Credentials, missing
 * endpoints, rate limits and server errors are the relay's own failures.
 */
const MESSAGE_REJECTED = new Set([400, 413, 415, 422]);

/** Posts and maps the answer: 2xx sent, message errors failed, the rest (and network errors) a relay error. */
export async function providerRequest(
  message: OutgoingMessage,
  request: () => Promise<Response>,
  providerId: (response: Response, body: string) => string | null,
  special: (response: Response, body: string) => SendOutcome | null = () => null,
): Promise<SendOutcome> {
  const answer = await answered(request);
  if ("error" in answer) return { kind: "relay_error", code: "network", message: answer.error };
  const { response, body } = answer;
  if (response.ok) return { kind: "sent", providerMessageId: providerId(response, body), recipients: allRecipients(message.recipients, "sent", String(response.status), null) };
  const handled = special(response, body);
  if (handled) return handled;
  const text = `${response.status} ${body.slice(0, 500)}`.trim();
  if (MESSAGE_REJECTED.has(response.status))
    return { kind: "sent", providerMessageId: null, recipients: allRecipients(message.recipients, "failed", String(response.status), text) };
  return { kind: "relay_error", code: String(response.status), message: text };
}

/** One string field of a provider's JSON answer, or null: a failed call's answer may not be JSON at all. */
export function jsonField(body: string, field: string): string | null {
  try {
    const value = (JSON.parse(body) as Record<string, unknown>)[field];
    return typeof value === "string" ? value : null;
  } catch {
    return null;
  }
}

/** A provider's answer, short and on one line, for a relay test's answer or error. */
export function excerpt(body: string, length = 300): string {
  const flat = body.replace(/\s+/g, " ").trim();
  return flat.length > length ? `${flat.slice(0, length)}…` : flat;
}

/** A probe's failure in the provider's words: `Postmark answered HTTP 401: {"ErrorCode":10,…}`. */
export function probeRefused(provider: string, status: number, body: string): ProbeFailure {
  return { ok: false, error: `${provider} answered HTTP ${status}: ${excerpt(body) || "(no body)"}`, code: String(status) };
}

/** A provider's JSON answer, or null when it is not JSON. */
export function jsonOf(body: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(body);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * A relay test for an HTTP provider: one authenticated, read-only request
 * the provider documents, its answer judged by `judge` (which builds the
 * answer from chosen fields, so a credential the provider echoes, as
 * Postmark's server answer does, is never shown). No answer at all is a
 * failure naming the network error.
 */
export async function providerProbe(provider: string, request: () => Promise<Response>, judge: (response: Response, body: string) => ProbeResult): Promise<ProbeResult> {
  const answer = await answered(request);
  if ("error" in answer) return { ok: false, error: `${provider} did not answer: ${answer.error}`, code: "network" };
  const { response, body } = answer;
  return judge(response, body);
}

/** A provider's answer read whole, or why there was none (the network's error). */
async function answered(request: () => Promise<Response>): Promise<{ response: Response; body: string } | { error: string }> {
  try {
    const response = await request();
    return { response, body: await response.text() };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}
