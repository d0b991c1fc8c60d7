/**
 * The JSON a webhook receives for one message: envelope, decoded headers,
 * addresses with names, subject, text, html, the reply alone without the
 * quoted part (email-reply-parser), attachments with an expiring signed
 * link each (inlined as base64 up to the destination's limit), a link to
 * the raw MIME, the thread and the routing decision. Built from one
 * postal-mime parse of the message; everything else is small beside it.
 */
import EmailReplyParser from "email-reply-parser";
import { decodeWords, type Email } from "postal-mime";
import type { StoredDecision } from "../decision";
import { mailboxes } from "../mail/address";
import { toBase64 } from "../mail/bytes";
import type { Mailbox } from "../model";
import { LINK_LIFETIME_SECONDS, signedUrl } from "./signed-url";

export const PAYLOAD_TYPE = "message.received";

/**
 * The reply parser runs a dozen patterns on every line (about 7 µs a line),
 * so it reads only what can be the reply: the text up to its first quoted
 * line (kept, so the parser sees the quote and the header above it), and at
 * most this much.
 */
const STRIP_INPUT_LIMIT = 16 * 1024;

export interface PayloadAttachment {
  filename: string | null;
  content_type: string;
  size: number;
  content_id: string | null;
  disposition: string | null;
  /** Signed download link (null when PUBLIC_URL is not set). */
  url: string | null;
  /** Base64, when the attachment is within the destination's `inline_max_bytes`. */
  content?: string;
}

export interface WebhookPayload {
  /** The delivery: the same on every retry, so receivers can drop duplicates. */
  id: string;
  /** A replay (POST /v1/messages/{id}/redeliver) is a new delivery; this names the one it repeats. */
  redelivery_of: string | null;
  type: typeof PAYLOAD_TYPE;
  created_at: string;
  message: {
    id: string;
    message_id: string;
    thread_id: string | null;
    alias_id: string | null;
    envelope: { from: string; to: string };
    from: Mailbox | null;
    to: Mailbox[];
    cc: Mailbox[];
    reply_to: Mailbox[];
    subject: string | null;
    date: string | null;
    headers: { name: string; value: string }[];
    text: string | null;
    html: string | null;
    /** The text without quoted earlier messages and signatures. */
    stripped_text: string | null;
    attachments: PayloadAttachment[];
    raw_url: string | null;
    size: number;
    received_at: string;
    decision: StoredDecision;
  };
}

export interface PayloadInput {
  deliveryId: string;
  redeliveryOf: string | null;
  message: { id: string; messageId: string; mailFrom: string; rcptTo: string; size: number; decision: StoredDecision; createdAt: Date };
  threadId: string | null;
  aliasId: string | null;
  inlineMaxBytes: number;
  /** Where the Worker answers (PUBLIC_URL), for links; null leaves them out. */
  publicUrl: string | null;
  secretsKey: string | undefined;
  now: number;
}

/**
 * The reply without its quote, for `stripped_text`: the parser reads only
 * the head of the text (STRIP_INPUT_LIMIT), so a long thread costs no more
 * than a short one.
 */
export function strippedReply(text: string): string {
  const quote = /^>/m.exec(text.slice(0, STRIP_INPUT_LIMIT));
  const head = quote ? text.slice(0, text.indexOf("\n", quote.index) + 1 || undefined) : text.slice(0, STRIP_INPUT_LIMIT);
  return new EmailReplyParser().parseReply(head).trim();
}

/** The payload of a message parsed once (src/mail/parse.ts); the benchmark weighs this against the parse. */
export async function payloadOf(parsed: Email, input: PayloadInput): Promise<WebhookPayload> {
  const expires = Math.floor(input.now / 1000) + LINK_LIFETIME_SECONDS;
  const link = (path: string) => (input.publicUrl ? signedUrl(input.publicUrl, input.secretsKey, path, expires) : Promise.resolve(null));
  const base = `/files/${input.message.id}`;
  const [rawUrl, ...attachmentUrls] = await Promise.all([link(`${base}/raw`), ...parsed.attachments.map((_, i) => link(`${base}/attachments/${i}`))]);

  const attachments = parsed.attachments.map((a, i): PayloadAttachment => {
    const bytes = a.content as ArrayBuffer;
    return {
      filename: a.filename,
      content_type: a.mimeType,
      size: bytes.byteLength,
      content_id: a.contentId ?? null,
      disposition: a.disposition,
      url: attachmentUrls[i] ?? null,
      ...(bytes.byteLength <= input.inlineMaxBytes && { content: toBase64(new Uint8Array(bytes)) }),
    };
  });
  const [from] = mailboxes(parsed.from);
  return {
    id: input.deliveryId,
    redelivery_of: input.redeliveryOf,
    type: PAYLOAD_TYPE,
    created_at: new Date(input.now).toISOString(),
    message: {
      id: input.message.id,
      message_id: input.message.messageId,
      thread_id: input.threadId,
      alias_id: input.aliasId,
      envelope: { from: input.message.mailFrom, to: input.message.rcptTo },
      from: from ?? null,
      to: mailboxes(parsed.to),
      cc: mailboxes(parsed.cc),
      reply_to: mailboxes(parsed.replyTo),
      subject: parsed.subject ?? null,
      date: parsed.date ?? null,
      headers: parsed.headers.map((h) => ({ name: h.originalKey, value: decodeWords(h.value) })),
      text: parsed.text ?? null,
      html: parsed.html ?? null,
      stripped_text: parsed.text === undefined ? null : strippedReply(parsed.text),
      attachments,
      raw_url: rawUrl ?? null,
      size: input.message.size,
      received_at: input.message.createdAt.toISOString(),
      decision: input.message.decision,
    },
  };
}
