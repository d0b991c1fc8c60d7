/**
 * Composes outbound MIME with mimetext (its browser build: CRLF line ends,
 * no Node APIs). mimetext lays out the parts (alternative, mixed, related)
 * and boundaries; we hand it bodies already transfer-encoded and give its
 * address and subject fields our encoders (src/mail/mime-header.ts), because
 * its own always base64-encode names and never fold, which breaks long or
 * non-ASCII subjects.
 */
import { createMimeMessage, Mailbox as MimeMailbox, MIMETextError } from "mimetext/browser";
import type { Mailbox } from "../db/schema";
import { toBase64 } from "../mail/base64";
import { OWN_MESSAGE_ID_HEADER } from "../mail/message-id";
import { encodeText, fold, formatMailbox, isAsciiPrintable } from "../mail/mime-header";

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

function wrap(base64: string, width = 76): string {
  const clean = /\s/.test(base64) ? base64.replace(/\s+/g, "") : base64;
  const lines: string[] = [];
  for (let i = 0; i < clean.length; i += width) lines.push(clean.slice(i, i + width));
  return lines.join("\r\n");
}

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
  const sevenBit = !/[^\x00-\x7f]/.test(crlf) && !/\r(?!\n)/.test(crlf) && longestLine(crlf) <= MAX_LINE;
  // Text is encoded in canonical form: CRLF line ends (RFC 2045 6.8).
  return sevenBit ? { data: crlf, encoding: "7bit" } : { data: wrap(toBase64(crlf)), encoding: "base64" };
}

/** RFC 2231 `attribute-char`: what may stand unencoded in an extended parameter value. */
const ATTRIBUTE_CHAR = /^[A-Za-z0-9!#$&+\-.^_`|~]$/;
/** Characters of an extended value per line: with ` filename*12*=utf-8''` before it, lines stay within 78. */
const EXTENDED_CHUNK = 50;

/**
 * A MIME parameter (`name`, `filename`): a quoted string when the value is
 * printable ASCII without quotes or backslashes and short, else RFC 2231
 * `name*=utf-8''<percent-encoded>`, split into `name*0*`, `name*1*`, ...
 * continuations when long. Never an encoded word inside a quoted string
 * (RFC 2047 5: not allowed there; strict parsers report a defect).
 */
export function mimeParameter(name: string, value: string): string {
  if (isAsciiPrintable(value) && !/["\\]/.test(value) && value.length <= EXTENDED_CHUNK) return `${name}="${value}"`;
  const pieces: string[] = [];
  let piece = "";
  const encoder = new TextEncoder();
  // Split between characters, never inside one: strict readers decode each piece on its own.
  for (const char of value) {
    const encoded = ATTRIBUTE_CHAR.test(char) ? char : [...encoder.encode(char)].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`).join("");
    if (piece.length + encoded.length > EXTENDED_CHUNK && piece) {
      pieces.push(piece);
      piece = "";
    }
    piece += encoded;
  }
  pieces.push(piece);
  if (pieces.length === 1) return `${name}*=utf-8''${pieces[0]}`;
  return pieces.map((p, i) => `${name}*${i}*=${i === 0 ? "utf-8''" : ""}${p}`).join(";\r\n ");
}

/** References, oldest first, kept within one line: the first id and as many of the last as fit (RFC 5322 3.6.4). */
function referencesLine(ids: string[]): string {
  let kept = [...ids];
  while (kept.length > 2 && `References: ${kept.join(" ")}`.length > MAX_LINE) kept = [kept[0]!, ...kept.slice(2)];
  return kept.join(" ");
}

/** Content the composer cannot write (mimetext's refusal, named): it never will be, so the work fails at once. */
export type Composed = { ok: true; raw: string } | { ok: false; reason: string };

export function compose(content: OutboundContent): Composed {
  try {
    return { ok: true, raw: composeMime(content) };
  } catch (error) {
    if (error instanceof MIMETextError) return { ok: false, reason: `the message cannot be composed: ${error.message}` };
    throw error;
  }
}

function composeMime(content: OutboundContent): string {
  const message = createMimeMessage();
  const field = (name: string) => message.headers.fields.find((f) => f.name === name)!;
  const dumpAs = (name: string, value: string) => {
    // mimetext writes "Name: <dump>"; folded continuation lines come after the first.
    field(name).dump = () => fold(name, value).slice(name.length + 2);
  };

  message.setSender({ addr: content.from.address, name: content.from.name });
  // Encoded words start beside the field name: each encoder is told how much of the line that takes.
  dumpAs("From", formatMailbox(content.from, "From: ".length));
  if (content.replyTo) {
    message.setHeader("Reply-To", new MimeMailbox({ addr: content.replyTo.address, name: content.replyTo.name }));
    dumpAs("Reply-To", formatMailbox(content.replyTo, "Reply-To: ".length));
  }
  for (const [name, list] of [
    ["To", content.to],
    ["Cc", content.cc],
  ] as const) {
    if (!list.length) continue;
    message.setHeader(name, list.map((m) => new MimeMailbox({ addr: m.address, name: m.name })));
    dumpAs(name, list.map((m, i) => formatMailbox(m, i === 0 ? name.length + 2 : 0)).join(", "));
  }
  if (!content.to.length && !content.cc.length) message.setHeader("To", "undisclosed-recipients:;");
  message.setSubject(content.subject);
  dumpAs("Subject", encodeText(content.subject, "Subject: ".length));
  message.setHeader("Message-ID", content.messageId);
  message.setHeader("Date", content.date.toUTCString().replace(/GMT$/, "+0000"));

  // Our own copy of the Message-ID survives relays that rewrite Message-ID (Odoo's X-Odoo-Message-Id).
  message.setHeader(OWN_MESSAGE_ID_HEADER, content.messageId);
  if (content.inReplyTo) message.setHeader("In-Reply-To", content.inReplyTo);
  if (content.references.length) message.setHeader("References", referencesLine(content.references));
  for (const [name, value] of Object.entries(content.headers)) {
    message.setHeader(name, fold(name, encodeText(value, name.length + 2)).slice(name.length + 2));
  }

  // Mail of attachments alone (a scanner's PDF) still needs a body part: an empty text.
  const text = content.text ?? (content.html === null ? "" : null);
  if (text !== null) message.addMessage({ contentType: "text/plain", ...textPart(text) });
  if (content.html !== null) message.addMessage({ contentType: "text/html", ...textPart(content.html) });
  for (const attachment of content.attachments) {
    const part = message.addAttachment({
      filename: "attachment",
      contentType: attachment.contentType,
      data: wrap(attachment.content),
      encoding: "base64",
      ...(attachment.contentId && { inline: true, headers: { "Content-ID": attachment.contentId } }),
    });
    // mimetext writes `name="<filename>"` as given; the names are written here, by RFC 2231.
    part.setHeader("Content-Type", `${attachment.contentType};\r\n ${mimeParameter("name", attachment.filename)}`);
    part.setHeader("Content-Disposition", `${attachment.contentId ? "inline" : "attachment"};\r\n ${mimeParameter("filename", attachment.filename)}`);
  }
  return `${message.asRaw()}\r\n`;
}
