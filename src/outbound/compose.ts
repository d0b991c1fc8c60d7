/**
 * Composes outbound MIME. The layout is ours and small (text, or
 * alternative text and HTML; inside `related` with inline images; inside
 * `mixed` with attachments); every header is encoded and folded by
 * nodemailer's mime-funcs through src/mail/mime-header.ts (RFC 2047 words,
 * RFC 2231 names). Bodies are always 7-bit: plain ASCII or base64.
 */
import { wrap } from "nodemailer/lib/base64";
import { buildHeaderValue } from "nodemailer/lib/mime-funcs";
import { toBase64, toHex } from "../mail/bytes";
import { OWN_MESSAGE_ID_HEADER } from "../mail/message-id";
import { encodeText, formatMailbox, headerLine } from "../mail/mime-header";
import type { Mailbox } from "../model";

export interface OutboundAttachment {
  filename: string;
  /** Base64 (any line length). */
  content: string;
  contentType: string;
  /** An inline part the HTML refers to as `cid:` (angle brackets included). */
  contentId?: string;
}

/** What the author wrote: the same for a send request, a notification and the composer. */
export interface WrittenContent {
  to: Mailbox[];
  cc: Mailbox[];
  subject: string;
  text: string | null;
  html: string | null;
  attachments: OutboundAttachment[];
  /** Custom headers (already validated: no CR/LF, no reserved names). */
  headers: Record<string, string>;
}

export interface OutboundContent extends WrittenContent {
  from: Mailbox;
  replyTo: Mailbox | null;
  messageId: string;
  inReplyTo: string | null;
  references: string[];
  date: Date;
}

/** RFC 5322 2.1.1: a line may not exceed 998 characters. */
const MAX_LINE = 998;

function longestLine(crlf: string): number {
  let longest = 0;
  for (let start = 0, end = crlf.indexOf("\r\n"); ; start = end + 2, end = crlf.indexOf("\r\n", start)) {
    longest = Math.max(longest, (end === -1 ? crlf.length : end) - start);
    if (end === -1) return longest;
  }
}

/** 7bit when the text is ASCII with short lines, else base64: the body is always 7-bit clean. */
function textPart(text: string): { data: string; encoding: "7bit" | "base64" } {
  const crlf = text.replace(/\r?\n/g, "\r\n");
  // Non-ASCII, a bare CR, or a line over 998 characters rules 7bit out (RFC 5322 2.1.1, RFC 2045 2.7).
  const sevenBit = !/[\u0080-\uffff]/.test(crlf) && !/\r(?!\n)/.test(crlf) && longestLine(crlf) <= MAX_LINE;
  // Text is encoded in canonical form: CRLF line ends (RFC 2045 6.8).
  return sevenBit ? { data: crlf, encoding: "7bit" } : { data: wrap(toBase64(crlf)), encoding: "base64" };
}

/** References, oldest first, within 998 characters: the first id and as many of the last as fit (RFC 5322 3.6.4). */
function referencesLine(ids: string[]): string {
  let kept = [...ids];
  while (kept.length > 2 && `References: ${kept.join(" ")}`.length > MAX_LINE) kept = [kept[0]!, ...kept.slice(2)];
  return kept.join(" ");
}

const CRLF = "\r\n";

/** A MIME entity: its header lines (folded) and body; `type` is what multipart/related names as its root. */
interface Entity {
  type: string;
  headers: string[];
  body: string;
}

const render = (entity: Entity) => `${entity.headers.join(CRLF)}${CRLF}${CRLF}${entity.body}`;

function multipart(subtype: "alternative" | "related" | "mixed", parts: Entity[]): Entity {
  const boundary = `=_${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
  // RFC 2387 3.1: related names the type of its root part.
  const params: Record<string, string> = subtype === "related" ? { type: parts[0]!.type, boundary } : { boundary };
  return {
    type: `multipart/${subtype}`,
    headers: [headerLine("Content-Type", buildHeaderValue({ value: `multipart/${subtype}`, params }))],
    body: `${parts.map((part) => `--${boundary}${CRLF}${render(part)}${CRLF}`).join("")}--${boundary}--`,
  };
}

function textEntity(type: "text/plain" | "text/html", text: string): Entity {
  const { data, encoding } = textPart(text);
  return { type, headers: [`Content-Type: ${type}; charset=UTF-8`, `Content-Transfer-Encoding: ${encoding}`], body: data };
}

/** RFC 6838 4.2 `type/subtype`, as the send API checks it. */
const MEDIA_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i;

function attachmentEntity(attachment: OutboundAttachment): Entity {
  const type = MEDIA_TYPE.test(attachment.contentType) ? attachment.contentType : "application/octet-stream";
  const disposition = attachment.contentId ? "inline" : "attachment";
  return {
    type,
    headers: [
      headerLine("Content-Type", buildHeaderValue({ value: type, params: { name: attachment.filename } })),
      "Content-Transfer-Encoding: base64",
      headerLine("Content-Disposition", buildHeaderValue({ value: disposition, params: { filename: attachment.filename } })),
      ...(attachment.contentId ? [`Content-ID: ${attachment.contentId}`] : []),
    ],
    body: wrap(attachment.content.replace(/\s+/g, ""), 76),
  };
}

/** The message as MIME text (CRLF line ends). Nothing refuses: an attachment whose type is not a MIME type goes as application/octet-stream. */
export function compose(content: OutboundContent): string {
  const headers = [
    `Date: ${content.date.toUTCString().replace(/GMT$/, "+0000")}`,
    headerLine("From", formatMailbox(content.from)),
    ...(content.replyTo ? [headerLine("Reply-To", formatMailbox(content.replyTo))] : []),
    ...(content.to.length ? [headerLine("To", content.to.map(formatMailbox).join(", "))] : []),
    ...(content.cc.length ? [headerLine("Cc", content.cc.map(formatMailbox).join(", "))] : []),
    ...(!content.to.length && !content.cc.length ? ["To: undisclosed-recipients:;"] : []),
    // Ids stay on their line, unfolded, for readers that match `^Message-ID: (.*)$`.
    `Message-ID: ${content.messageId}`,
    headerLine("Subject", encodeText(content.subject)),
    "MIME-Version: 1.0",
    // Our own copy of the Message-ID survives relays that rewrite Message-ID (Odoo's X-Odoo-Message-Id).
    `${OWN_MESSAGE_ID_HEADER}: ${content.messageId}`,
    ...(content.inReplyTo ? [`In-Reply-To: ${content.inReplyTo}`] : []),
    ...(content.references.length ? [headerLine("References", referencesLine(content.references))] : []),
    ...Object.entries(content.headers).map(([name, value]) => headerLine(name, encodeText(value))),
  ];

  // Mail of attachments alone (a scanner's PDF) still needs a body part: an empty text.
  const text = content.text ?? (content.html === null ? "" : null);
  const texts = [...(text !== null ? [textEntity("text/plain", text)] : []), ...(content.html !== null ? [textEntity("text/html", content.html)] : [])];
  let body = texts.length > 1 ? multipart("alternative", texts) : texts[0]!;
  const inline = content.attachments.filter((a) => a.contentId);
  const attached = content.attachments.filter((a) => !a.contentId);
  if (inline.length) body = multipart("related", [body, ...inline.map(attachmentEntity)]);
  if (attached.length) body = multipart("mixed", [body, ...attached.map(attachmentEntity)]);
  return `${[...headers, ...body.headers].join(CRLF)}${CRLF}${CRLF}${body.body}${CRLF}`;
}
