/**
 * The returned original: the header fields of the message a report is
 * about, from its message/rfc822 or text/rfc822-headers part or as a text
 * bounce quotes them, and what is read from them: the original Message-IDs
 * (which tie the report to mail we sent), and its To and sender addresses
 * (which the readers use to tell recipients from the sender). Only the
 * header block is read, never the returned body.
 */
import { messageIdOf, OWN_MESSAGE_ID_HEADER } from "../../mail/message-id";
import { canonical, EVERY_ADDRESS } from "./addresses";
import { decodeText, fieldBlocks, linesOf, prefixOf, unique } from "./fields";
import { MAX_FIELD_LINES, MAX_ORIGINAL_HEADER_BYTES, MAX_REPORT_CHARS, MAX_REPORT_LINES } from "./limits";
import { copyStart } from "./text-patterns";
import type { Field, Parts } from "./types";

const ORIGINAL_ID_HEADERS = [OWN_MESSAGE_ID_HEADER.toLowerCase(), "message-id", "x-microsoft-original-message-id"];

/**
 * The ids that tie a report to mail we sent. Our own X-Mailgate-Message-Id
 * comes first: relays that rewrite Message-ID leave it alone. Exchange
 * keeps the id it replaced in X-Microsoft-Original-Message-Id.
 */
export function originalMessageIds(fields: Field[]): string[] {
  const ids = ORIGINAL_ID_HEADERS.flatMap((name) => fields.filter((field) => field.name === name).map((field) => messageIdOf(field.value)));
  return unique(ids.filter((id): id is string => id !== null));
}

/**
 * The returned message's header fields: from its message/rfc822 or
 * text/rfc822-headers part, else as a text bounce quotes them after its
 * "copy of the message" line.
 */
export function returnedHeaders(parts: Parts): Field[] {
  const original = parts.originals[0];
  if (original) return fieldBlocks(headerBlockOf(decodeText(prefixOf(original.content, MAX_ORIGINAL_HEADER_BYTES))), MAX_FIELD_LINES)[0] ?? [];
  return quotedHeaders(parts.text) ?? quotedHeaders(parts.rawBody) ?? [];
}

/** The header block at the start of a message: up to the first blank line. */
function headerBlockOf(message: string): string {
  const end = /\r?\n\r?\n/.exec(message);
  return end ? message.slice(0, end.index) : message;
}

/** Fields that show a header block is a message's, not a MIME part's. */
const MESSAGE_FIELD = /^(?:message-id|from|to|subject|date|received|return-path)$/;

/**
 * The headers of the returned message as a text bounce quotes them: the
 * first message header block after its "copy of the message" line; without
 * such a line (Zoho just appends them), the first block with a Message-ID
 * and another message field.
 */
function quotedHeaders(text: string): Field[] | null {
  // The copy starts where the report ends (within the report's own budget); its header block comes first.
  const start = copyStart(linesOf(text, MAX_REPORT_LINES, MAX_REPORT_CHARS));
  const lines = linesOf(text, start + 1 + MAX_FIELD_LINES);
  // Quoted headers may be indented (fml quotes them with three spaces): unindent field lines.
  const rest = lines.slice(start + 1, start + 1 + MAX_FIELD_LINES).map((line) => line.replace(/^\s+(?=[A-Za-z][A-Za-z0-9-]*:)/, ""));
  const isMessageHeader = (fields: Field[]) =>
    start >= 0
      ? fields.some((field) => MESSAGE_FIELD.test(field.name))
      : fields.some((field) => field.name === "message-id") && fields.filter((field) => MESSAGE_FIELD.test(field.name)).length > 1;
  return fieldBlocks(rest.join("\n"), MAX_FIELD_LINES).find(isMessageHeader) ?? null;
}

/** The To addresses of the returned (or reported) message. */
export function returnedRecipients(parts: Parts): string[] {
  return returnedAddresses(parts, RETURNED_TO);
}

/** The addresses of these fields of the returned message. */
export function returnedAddresses(parts: Parts, names: ReadonlySet<string>): string[] {
  const fields = parts.returnedHeaders.filter((field) => names.has(field.name));
  return unique(fields.flatMap((field) => [...field.value.matchAll(EVERY_ADDRESS)].flatMap((match) => canonical(match[0]) ?? [])));
}

const RETURNED_TO = new Set(["to"]);
export const RETURNED_SENDER = new Set(["from", "sender", "return-path"]);
