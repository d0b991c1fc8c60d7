/**
 * The message as the readers see it: its start only (a bounded prefix, its
 * top header block cut to the fields the readers look at), parsed by
 * postal-mime, and split into the report's own text, its DSN and feedback
 * parts, and the returned original. Every reader reads these Parts, never
 * the raw message.
 */
import PostalMime, { type Email } from "postal-mime";
import { concatBytes } from "../../mail/bytes";
import { failedRecipientsOf, readDsnFields } from "./dsn";
import { decodeText, READ_FIELD_NAMES } from "./fields";
import { MAX_BOUNDARY_LINES, MAX_MIME_DEPTH, MAX_PARTS, MAX_READ_FIELD_BYTES, MAX_READ_FIELDS, MAX_RECIPIENTS, MAX_REPORT_BYTES } from "./limits";
import { returnedHeaders } from "./original-ids";
import type { Field, Parts } from "./types";

const DELIVERY_STATUS_TYPES = new Set(["message/delivery-status", "message/global-delivery-status"]);
const FEEDBACK_REPORT_TYPES = new Set(["message/feedback-report"]);
const ORIGINAL_MESSAGE_TYPES = new Set(["message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers", "message/global-headers"]);

/**
 * Parses the start of a message (at most MAX_REPORT_BYTES, and `maxLines`
 * lines) into the parts the readers read. May throw on input the parser
 * refuses (readBounceReport reads that as "not a report").
 */
export async function parseReport(raw: Uint8Array | string, maxLines: number): Promise<Parts> {
  const message = typeof raw === "string" ? new TextEncoder().encode(raw.slice(0, MAX_REPORT_BYTES)) : raw;
  const bytes = reportPrefix(message, maxLines);
  const email = await PostalMime.parse(bytes, {
    // A returned message is evidence, not content: keep it out of `text` so
    // the addresses in its headers and body are never read as the report's.
    forceRfc822Attachments: true,
    attachmentEncoding: "arraybuffer",
    maxNestingDepth: MAX_MIME_DEPTH,
    maxRfc822NestingDepth: 0,
  });
  return splitParts(email, bytes);
}

function splitParts(email: Email, bytes: Uint8Array): Parts {
  const from = email.from && !email.from.group ? email.from : null;
  // Human mail and most reports never need these two: they are worked out when first read.
  let rawBody: string | undefined;
  let returned: Field[] | undefined;
  const parts: Parts = {
    headers: email.headers,
    subject: email.subject ?? "",
    fromName: from?.name ?? "",
    fromAddress: from?.address ?? "",
    text: email.text ?? "",
    get rawBody() {
      rawBody ??= bodyOf(decodeText(bytes));
      return rawBody;
    },
    hasDeliveryStatus: false,
    dsnBlocks: [],
    feedbackReports: [],
    originals: [],
    get returnedHeaders() {
      returned ??= returnedHeaders(parts);
      return returned;
    },
    failedRecipients: failedRecipientsOf(email.headers),
  };
  for (const attachment of email.attachments.slice(0, MAX_PARTS)) {
    const type = attachment.mimeType.toLowerCase();
    if (DELIVERY_STATUS_TYPES.has(type)) {
      parts.hasDeliveryStatus = true;
      if (parts.dsnBlocks.length < MAX_RECIPIENTS) parts.dsnBlocks.push(...readDsnFields(decodeText(attachment.content)));
    } else if (FEEDBACK_REPORT_TYPES.has(type)) parts.feedbackReports.push(decodeText(attachment.content));
    else if (ORIGINAL_MESSAGE_TYPES.has(type)) parts.originals.push(attachment);
  }
  return parts;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * The start of a message that is parsed: at most MAX_REPORT_BYTES and
 * MAX_PARSE_LINES lines. A message whose lines end in bare CRs (old Mac
 * mail) has them made LF first: the parser splits lines on LF only, and
 * would otherwise see one line of the whole message.
 */
function reportPrefix(message: Uint8Array, maxLines: number): Uint8Array {
  let bytes = message.subarray(0, MAX_REPORT_BYTES);
  const firstCr = bytes.indexOf(CR);
  if (firstCr >= 0 && bytes[firstCr + 1] !== LF) bytes = withBareCrsAsLf(bytes);
  let end = -1;
  let boundaries = 0;
  for (let line = 0; line < maxLines && end < bytes.length && boundaries < MAX_BOUNDARY_LINES; line++) {
    const next = bytes.indexOf(LF, end + 1);
    // A line starting with "--" may start a MIME part: the parser's work per part is far more than per line.
    if (bytes[end + 1] === DASH && bytes[end + 2] === DASH) boundaries++;
    end = next < 0 ? bytes.length : next;
  }
  return readFieldsOnly(bytes.subarray(0, end + 1));
}

/** A copy with every CR that no LF follows made an LF. */
function withBareCrsAsLf(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  for (let at = copy.indexOf(CR); at >= 0; at = copy.indexOf(CR, at + 1)) if (copy[at + 1] !== LF) copy[at] = LF;
  return copy;
}

/**
 * The message with its top header block cut down to READ_FIELDS, each
 * field (with its folded lines) at most MAX_READ_FIELD_BYTES, and at most
 * MAX_READ_FIELDS of them. The body is left as it is.
 */
function readFieldsOnly(bytes: Uint8Array): Uint8Array {
  const kept: Uint8Array[] = [];
  let fields = 0;
  let keep = false;
  let size = 0;
  let at = 0;
  while (at < bytes.length) {
    const next = bytes.indexOf(LF, at);
    const end = next < 0 ? bytes.length : next + 1;
    const line = bytes.subarray(at, end);
    if (line[0] === LF || (line[0] === CR && line[1] === LF)) break;
    if (line[0] !== SP && line[0] !== TAB) {
      keep = READ_FIELD_NAMES.has(fieldNameOf(line)) && fields++ < MAX_READ_FIELDS;
      size = 0;
    }
    if (keep && size < MAX_READ_FIELD_BYTES) {
      const piece = line.length <= MAX_READ_FIELD_BYTES - size ? line : line.subarray(0, MAX_READ_FIELD_BYTES - size);
      kept.push(piece);
      if (piece !== line) kept.push(NEWLINE);
      size += piece.length;
    }
    at = end;
  }
  kept.push(bytes.subarray(at));
  return concatBytes(kept);
}

const SP = 0x20;
const DASH = 0x2d;
const TAB = 0x09;
const COLON = 0x3a;
const NEWLINE = new Uint8Array([LF]);
/** Longer than any field name the reader looks at: a longer one is none of them. */
const MAX_FIELD_NAME = 40;

/** The lowercase name of the header field that starts this line ("" when none). */
function fieldNameOf(line: Uint8Array): string {
  const colon = line.subarray(0, MAX_FIELD_NAME).indexOf(COLON);
  if (colon <= 0) return "";
  let name = "";
  for (const byte of line.subarray(0, colon)) name += String.fromCharCode(byte);
  return name.trimEnd().toLowerCase();
}

/** What follows the header block (the first blank line). */
function bodyOf(message: string): string {
  const end = /\r?\n\r?\n|\r\r/.exec(message);
  return end ? message.slice(end.index + end[0].length) : "";
}
