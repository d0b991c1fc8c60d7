/**
 * Reads what a bounce says: which recipients failed (or were delayed, or
 * delivered), with which status, and which of our messages it is about.
 *
 * Sources, strongest first:
 * - ARF feedback reports (RFC 5965) and Amazon SES notifications;
 * - RFC 3464 delivery status notifications (`message/delivery-status`),
 *   and X-Failed-Recipients (Exim, Gmail), which outrank the text;
 * - the plain-text bounces of MTAs that send no RFC 3464 part (qmail, Exim,
 *   old Sendmail and Postfix, Exchange 2003, Notes, Gmail, Yahoo, ...),
 *   read with a small table of line patterns;
 * - RFC 3834 auto-replies (vacation messages), which are not bounces;
 * - a bounce that a person forwards, inline or attached, read as the
 *   report it carries.
 *
 * Text is only searched for recipients when the headers show that a mail
 * system wrote the message (a daemon sender or the null reverse-path, with
 * a bounce subject or a report content type for the looser patterns), so
 * that human mail reads as no report. A failed or delayed recipient's
 * status is never a 2.x.x code, whatever transcript the text quotes.
 *
 * The work is bounded whatever the input (see MAX_REPORT_BYTES and the
 * limits below it): a few milliseconds of CPU at most.
 *
 * Pure and runtime-neutral (postal-mime and web APIs only), so it runs in
 * Node and in workerd alike. Never throws: unreadable input reads as "not a
 * report".
 */
import PostalMime, { type Attachment, type Email, type Header } from "postal-mime";
import { localPartOf, normalizeAddress } from "../mail/address";
import { messageIdOf, OWN_MESSAGE_ID_HEADER } from "../mail/message-id";

export type ReportKind = "bounce" | "delayed" | "delivered" | "feedback" | "auto_reply";
export type ReportedAction = "failed" | "delayed" | "delivered";

export interface ReportedRecipient {
  /** Normalized address (lowercase domain). */
  recipient: string;
  action: ReportedAction | null;
  /** RFC 3463 enhanced status code such as "5.1.1", or null when none can be read. */
  status: string | null;
  /** The Diagnostic-Code text or the SMTP reply line(s) found, trimmed, at most MAX_DIAGNOSTIC_CHARS. */
  diagnostic: string | null;
  remoteMta: string | null;
  /** Permanent, and says that the mailbox or the domain does not exist. */
  hard: boolean;
}

export interface BounceReport {
  /** null: not a delivery report, feedback report or auto-reply (human mail). */
  kind: ReportKind | null;
  /** In the order they appear in the report. */
  recipients: ReportedRecipient[];
  /** ARF Feedback-Type (abuse, opt-out, ...), only for kind "feedback". */
  feedbackType: string | null;
  /**
   * Ids naming the original message, best first, from the embedded
   * message/rfc822 or text/rfc822-headers part (or the copy of the headers a
   * text bounce quotes): X-Mailgate-Message-Id, which relays that rewrite
   * Message-ID leave alone, then Message-ID, then
   * X-Microsoft-Original-Message-ID. Unfolded, with <> kept.
   */
  originalMessageIds: string[];
}

/**
 * The work is bounded by design, not by the input: whatever arrives, only its
 * start is read, and every pass below sees a bounded number of bounded lines.
 * What a report needs sits near its start (the report's own text, the DSN
 * fields, the headers of the returned original); what follows is the
 * returned message's body and attachments, which no pass reads.
 *
 * Only this many bytes of a message are parsed (src/inbound/bounce.ts reads
 * no more from R2). The largest real report in the corpus is 72 KiB, most of
 * it the returned message.
 */
export const MAX_REPORT_BYTES = 128 * 1024;
/**
 * Only this many lines are parsed: the MIME parser's work grows with lines
 * more than with bytes (each line is a step of its own), so 128 KiB of empty
 * lines must not cost what 128 KiB of 76-character lines do.
 */
const MAX_PARSE_LINES = 2000;
/**
 * Top header fields handed to the parser: those the reader looks at, each
 * cut to this many bytes. The parser decodes every field it is given and
 * parses every address field in full (To, Cc, ... however long and many),
 * which the reader never reads; real bounces carry a hundred Received and
 * ARC lines.
 */
const MAX_READ_FIELD_BYTES = 4096;
const MAX_READ_FIELDS = 32;
/**
 * Lines starting with "--" parsed (each may start a MIME part): a report has
 * three or four parts, and the returned message some of its own.
 */
const MAX_BOUNDARY_LINES = 64;
/** MIME parts nested deeper than this make the message unreadable (no report): real reports nest three or four deep. */
const MAX_MIME_DEPTH = 16;
const MAX_DIAGNOSTIC_CHARS = 1000;
/** Lines are cut to this length before any pattern runs (RFC 5322 allows 998), so no regex sees a long input. */
const MAX_LINE_CHARS = 1000;
/** Lines of a text bounce read after a recipient for its diagnostic. */
const MAX_BLOCK_LINES = 15;
/** Lines of that block kept as the diagnostic when it quotes no SMTP reply. */
const MAX_PROSE_LINES = 3;
/**
 * Lines of a report's text that the pattern passes read (recipients, the
 * start of the returned copy): its report comes first, and is short. The
 * longest in the corpus names its recipients within 60 lines.
 */
const MAX_REPORT_LINES = 300;
/** Characters of those lines read in all: the longest report in the corpus has 6.4 K before its returned copy. */
const MAX_REPORT_CHARS = 32 * 1024;
/** Lines of header fields read in one place: a DSN part, a returned message's header block (quoted or in a part). */
const MAX_FIELD_LINES = 1000;
/** A field's value is cut to this length (a folded To of a thousand addresses is read no further). */
const MAX_FIELD_CHARS = 4000;
/** Bytes of a returned message read for its header block; its body is never read. */
const MAX_ORIGINAL_HEADER_BYTES = 32 * 1024;
/** MIME parts looked at: a report has three, one whose DSN lists recipients one part each has a few more. */
const MAX_PARTS = 50;
/**
 * Recipients read from one report: a report is about one message, and lists
 * the recipients it failed for at one MTA, a handful; more is only cost.
 */
const MAX_RECIPIENTS = 100;
/** Distinct blocks read for one recipient named several times. */
const MAX_BLOCKS_PER_RECIPIENT = 3;

export async function readBounceReport(raw: Uint8Array | string): Promise<BounceReport> {
  try {
    return await read(raw, true);
  } catch {
    return reportOf(null);
  }
}

// ---------------------------------------------------------------------------
// The message as parsed by postal-mime

interface Parts {
  headers: Header[];
  /** Decoded Subject. */
  subject: string;
  /** The From mailbox: its display name and address ("" when missing). */
  fromName: string;
  fromAddress: string;
  /** The text of the report itself: inline text/plain (or text/html) parts, not the returned message. */
  text: string;
  /**
   * The body as it is, after the header block. Read when the text names
   * nobody: a broken MIME structure (a multipart/report without boundaries,
   * or with boundaries that do not match its header, a garbled
   * Content-Type) can hide the report from the parser. Decoded when first read.
   */
  readonly rawBody: string;
  /** Whether there is a message/delivery-status part (RFC 3464, RFC 6533). */
  hasDeliveryStatus: boolean;
  /** The per-recipient blocks of those parts. */
  dsnBlocks: DsnBlock[];
  /** Bodies of message/feedback-report parts (RFC 5965). */
  feedbackReports: string[];
  /** The returned original: message/rfc822 or text/rfc822-headers parts and kin. */
  originals: Attachment[];
  /** The header fields of the returned original, from its part or as quoted in the text. Read when first asked for. */
  readonly returnedHeaders: Field[];
  /** The addresses X-Failed-Recipients lists. */
  failedRecipients: string[];
}

const DELIVERY_STATUS_TYPES = new Set(["message/delivery-status", "message/global-delivery-status"]);
const FEEDBACK_REPORT_TYPES = new Set(["message/feedback-report"]);
const ORIGINAL_MESSAGE_TYPES = new Set([
  "message/rfc822",
  "message/global",
  "text/rfc822-headers",
  "message/rfc822-headers",
  "message/global-headers",
]);

/** Reads one message; `outer`: it may be a person's forward of a bounce, which is read in turn (once). */
async function read(raw: Uint8Array | string, outer: boolean): Promise<BounceReport> {
  const message = typeof raw === "string" ? new TextEncoder().encode(raw.slice(0, MAX_REPORT_BYTES)) : raw;
  // A forwarded bounce is read within the forward's own budget: its lines count twice at most.
  const bytes = reportPrefix(message, outer ? MAX_PARSE_LINES : MAX_FORWARDED_LINES);
  const email = await PostalMime.parse(bytes, {
    // A returned message is evidence, not content: keep it out of `text` so
    // the addresses in its headers and body are never read as the report's.
    forceRfc822Attachments: true,
    attachmentEncoding: "arraybuffer",
    maxNestingDepth: MAX_MIME_DEPTH,
    maxRfc822NestingDepth: 0,
  });
  const parts = splitParts(email, bytes);
  const report = readFeedbackReport(parts) ?? readSesNotification(parts) ?? readDeliveryReport(parts) ?? readAutoReply(parts);
  if (report) return { ...report, originalMessageIds: originalMessageIds(parts.returnedHeaders) };
  return (outer ? await readForwardedBounce(parts) : null) ?? reportOf(null);
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
      return (rawBody ??= bodyOf(decodeText(bytes)));
    },
    hasDeliveryStatus: false,
    dsnBlocks: [],
    feedbackReports: [],
    originals: [],
    get returnedHeaders() {
      return (returned ??= returnedHeaders(parts));
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
  const out = new Uint8Array(kept.reduce((sum, piece) => sum + piece.length, 0));
  kept.reduce((offset, piece) => (out.set(piece, offset), offset + piece.length), 0);
  return out;
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

/** The first `bytes` of a part's content. */
function prefixOf(content: ArrayBuffer | Uint8Array | string, bytes: number): ArrayBuffer | Uint8Array | string {
  if (typeof content === "string") return content.slice(0, bytes);
  return content instanceof Uint8Array ? content.subarray(0, bytes) : new Uint8Array(content, 0, Math.min(bytes, content.byteLength));
}

function decodeText(content: ArrayBuffer | Uint8Array | string): string {
  return typeof content === "string" ? content : new TextDecoder("utf-8").decode(content);
}

function reportOf(kind: ReportKind | null, recipients: ReportedRecipient[] = [], feedbackType: string | null = null): BounceReport {
  return { kind, recipients, feedbackType, originalMessageIds: [] };
}

/**
 * The top header fields the reader looks at; the parser is handed no others
 * (readFieldsOnly). A lookup of any other name does not compile.
 */
const READ_FIELDS = [
  "from",
  "subject",
  "return-path",
  "reply-to",
  "content-type",
  "content-transfer-encoding",
  "mime-version",
  "auto-submitted",
  "precedence",
  "x-failed-recipients",
  "x-ms-exchange-message-is-ndr",
  "x-autoreply",
  "x-autorespond",
  "x-apple-action",
  "x-apple-unsubscribe",
  "x-mlserver",
] as const;
type ReadField = (typeof READ_FIELDS)[number];
const READ_FIELD_NAMES = new Set<string>(READ_FIELDS);

function headerValue(headers: Header[], key: ReadField): string | undefined {
  return headers.find((header) => header.key === key)?.value;
}

function headerValues(headers: Header[], key: ReadField): string[] {
  return headers.filter((header) => header.key === key).map((header) => header.value);
}

/**
 * The first lines of a text (any line ending: LF, CRLF or bare CR): at most
 * `maxLines`, each cut to MAX_LINE_CHARS, and at most `maxChars` in all.
 */
function linesOf(text: string, maxLines: number, maxChars = Infinity): string[] {
  const lines: string[] = [];
  let chars = 0;
  // Scanned up to the budget only (no split of the whole text): callers cut the same text several times.
  for (let at = 0; at <= text.length && lines.length < maxLines && chars < maxChars; ) {
    const lf = text.indexOf("\n", at);
    const end = lf < 0 ? text.length : lf;
    const line = text.slice(at, lf > at && text[lf - 1] === "\r" ? lf - 1 : end);
    for (const piece of line.includes("\r") ? line.split("\r") : [line]) {
      if (lines.length >= maxLines || chars >= maxChars) break;
      const cut = piece.slice(0, Math.min(MAX_LINE_CHARS, maxChars - chars));
      lines.push(cut);
      chars += cut.length;
    }
    at = end + 1;
  }
  return lines;
}

// ---------------------------------------------------------------------------
// Addresses, status codes, field blocks

/**
 * A mailbox as MTAs print it, the local part plain or quoted (RFC 5321
 * §4.1.2). Every repetition is bounded, so matching stays linear.
 */
const ADDRESS = String.raw`(?:"[^"\r\n\\]{1,64}"|[^\s<>()\[\]"',;:@\\]{1,64})@[\p{L}\p{N}_-]{1,63}(?:\.[\p{L}\p{N}_-]{1,63}){1,10}`;
const ADDRESS_IN_TEXT = new RegExp(`(${ADDRESS})`, "u");
const ADDRESS_ALONE = new RegExp(`^\\s*<?(${ADDRESS})>?\\s*$`, "u");
const EVERY_ADDRESS = new RegExp(ADDRESS, "gu");

/**
 * An RFC 3463 enhanced status code, class.subject.detail, not part of a
 * longer dotted number (an IP address or a version).
 */
const ENHANCED_STATUS = /(?<![\d.])([245])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;
/**
 * The same, right after an SMTP reply code ("550 5.1.1", "550-'5.2.2", "550 #5.1.0",
 * or "550" at the end of a line that a text bounce wrapped): the remote server's own words.
 */
const REPLY_STATUS = /(?<!\d)[245]\d\d(?:-|\s{1,12})['"#]?([245])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;
/** The two above for failures only (4.x.x and 5.x.x). */
const FAILURE_STATUS = /(?<![\d.])([45])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;
const FAILURE_REPLY_STATUS = /(?<!\d)[45]\d\d(?:-|\s{1,12})['"#]?([45])\.([0-7])\.(\d{1,3})(?!\d|\.\d)/;

/**
 * The enhanced code of a reply or diagnostic, preferring one that follows a
 * reply code: relays wrap the remote reply in their own summary (Amazon
 * SES: "5.1.0 - Unknown address error 550-'5.2.2 ... Mailbox Full'").
 */
function enhancedStatusIn(text: string | null | undefined): string | null {
  return statusOf(text ? (REPLY_STATUS.exec(text) ?? ENHANCED_STATUS.exec(text)) : null);
}

/**
 * The same for a failure or a delay: a 2.x.x code is never its status. SMTP
 * transcripts quote the successes before the failing reply ("<<< 250 2.1.5
 * Ok" for RCPT, then "<<< 554 5.7.1" after DATA), and a relay's diagnostic
 * may carry the last positive reply it logged.
 */
function failureStatusIn(text: string | null | undefined): string | null {
  return statusOf(text ? (FAILURE_REPLY_STATUS.exec(text) ?? FAILURE_STATUS.exec(text)) : null);
}

function statusOf(match: RegExpExecArray | null): string | null {
  return match ? `${match[1]}.${match[2]}.${Number(match[3])}` : null;
}

/**
 * A Diagnostic-Code with its own enhanced code is usually more specific than
 * the Status field, which MTAs often fill with a summary (4.4.7 "expired"
 * over a "450 4.7.1" reply, 5.0.0 over "550 5.1.1"); except when the Status
 * refines the diagnostic's x.0.0 or x.y.0 ("Status: 5.1.1" over "550 #5.1.0").
 */
function moreSpecificStatus(statusField: string | null, diagnostic: string | null): string | null {
  if (!diagnostic || !statusField) return diagnostic ?? statusField;
  const [statusClass, statusSubject] = statusField.split(".");
  const [diagnosticClass, diagnosticSubject, diagnosticDetail] = diagnostic.split(".");
  const refines = diagnosticDetail === "0" && statusClass === diagnosticClass && (diagnosticSubject === "0" || statusSubject === diagnosticSubject);
  return refines ? statusField : diagnostic;
}

/** x.0.0 says only "failed" (or "delayed"): a more specific code elsewhere is better. */
function isGenericStatus(status: string | null): boolean {
  return status === null || /^\d\.0\.0$/.test(status);
}

/** An address from a field value such as `rfc822; <a@b>` (RFC 3464 §2.1.1: address-type ";" address). */
function addressFromTypedValue(value: string): string | null {
  return cleanAddress(typedText(value));
}

/** The address of a field value: the value itself, else the first address in it. */
function cleanAddress(value: string): string | null {
  const address = (ADDRESS_ALONE.exec(value) ?? ADDRESS_IN_TEXT.exec(value))?.[1];
  return address ? canonical(address) : null;
}

/**
 * normalizeAddress, remembered: a report names its recipients again and
 * again (block after block, line after line), and each costs a URL parse.
 */
function canonical(address: string): string | null {
  let known = canonicalAddresses.get(address);
  if (known === undefined) {
    if (canonicalAddresses.size >= MAX_REMEMBERED_ADDRESSES) canonicalAddresses.clear();
    known = normalizeAddress(address);
    canonicalAddresses.set(address, known);
  }
  return known;
}

const canonicalAddresses = new Map<string, string | null>();
const MAX_REMEMBERED_ADDRESSES = 1000;

/** The text after the type of a typed field (`smtp; 550 ...`, `dns; mx.example`). */
function typedText(value: string): string {
  const semicolon = value.indexOf(";");
  return (semicolon < 0 ? value : value.slice(semicolon + 1)).trim();
}

interface Field {
  name: string;
  value: string;
}

/**
 * Header-style field blocks (RFC 3464 §2, RFC 5965 §3): fields separated
 * into blocks by blank lines, continuation lines folded in. Lines that are
 * not fields are skipped.
 */
function fieldBlocks(text: string, maxLines: number): Field[][] {
  const blocks: Field[][] = [];
  let block: Field[] = [];
  for (const line of linesOf(text, maxLines)) {
    if (line.trim() === "") {
      if (block.length) blocks.push(block);
      block = [];
      continue;
    }
    const last = block[block.length - 1];
    if (/^[ \t]/.test(line) && last) {
      if (last.value.length < MAX_FIELD_CHARS) last.value = `${last.value} ${line.trim()}`.slice(0, MAX_FIELD_CHARS);
      continue;
    }
    const field = /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$/.exec(line);
    if (field) block.push({ name: field[1]!.toLowerCase(), value: field[2]!.trim() });
  }
  if (block.length) blocks.push(block);
  return blocks;
}

/** A case-insensitive pattern for any of these phrases (regex sources), as whole words. */
function phrases(sources: string[]): RegExp {
  return new RegExp(`\\b(?:${sources.join("|")})\\b`, "i");
}

function clip(text: string | null | undefined): string | null {
  const squeezed = text?.replace(/\s+/g, " ").trim();
  return squeezed ? squeezed.slice(0, MAX_DIAGNOSTIC_CHARS) : null;
}

// ---------------------------------------------------------------------------
// Hard bounces

/** Diagnostics saying the mailbox does not exist. */
const NO_MAILBOX = phrases([
  String.raw`user(?:name)?s? (?:unknown|not found|does not exist|doesn't exist)`,
  String.raw`unknown (?:user|recipient|mailbox|address|local[- ]part)`,
  String.raw`no such (?:user|mailbox|recipient|address|account)`,
  String.raw`(?:mailbox|recipient|address|account) (?:unknown|not found|does not exist|doesn't exist|unavailable)`,
  String.raw`invalid (?:recipient|mailbox|address|user)`,
  String.raw`not (?:a )?(?:valid|known) (?:recipient|user|mailbox)`,
  String.raw`recipient (?:name )?is not recognized`,
  String.raw`(?:does not|doesn't) have an? [^.]{1,40} account`,
  String.raw`(?:unrouteable|undeliverable) address`,
  "not listed in",
  "no mailbox here",
  "no longer on server",
]);
/** Diagnostics saying the domain does not exist. */
const NO_DOMAIN = phrases([
  String.raw`host (?:or domain name )?not found`,
  "host unknown",
  "no such domain",
  String.raw`domain (?:does not exist|not found|unknown)`,
  String.raw`couldn't find (?:any host named|a mail exchanger)`,
  "unrouteable domain",
  "nxdomain",
]);
/** Words of a temporary condition, which no wording about the mailbox overrides. */
const TRANSIENT = phrases(["try again", String.raw`temporar(?:y|ily)`, "retry later"]);
/**
 * RFC 3463 codes that say the address cannot be delivered to, ever: 5.1.1
 * bad destination mailbox, 5.1.2 bad destination system, 5.1.6 mailbox
 * moved with no forwarding address, 5.1.10 null MX (RFC 7505).
 */
const MAILBOX_GONE = new Set(["5.1.1", "5.1.2", "5.1.6", "5.1.10"]);
/**
 * Codes under which the words decide: none, the generic 5.0.x, the other
 * addressing codes 5.1.x, and 5.4.4 "unable to route" (a domain without
 * MX or A). Any other code names another cause (5.2.2 mailbox full, 5.7.1
 * policy...), whatever the server's words add.
 */
const WORDS_DECIDE = /^5\.(?:0\.\d+|1\.\d+|4\.4)$/;

/** Permanent, and says that the mailbox or the domain does not exist, by its code or in words. */
function isHard(action: ReportedAction | null, status: string | null, diagnostic: string | null): boolean {
  if (action !== "failed") return false;
  if (status !== null && MAILBOX_GONE.has(status)) return true;
  if ((status !== null && !WORDS_DECIDE.test(status)) || diagnostic === null || TRANSIENT.test(diagnostic)) return false;
  return NO_MAILBOX.test(diagnostic) || NO_DOMAIN.test(diagnostic);
}

/**
 * A refusal a server or provider gave at once (SMTP 5xx at RCPT or after
 * DATA), read as a DSN's failed recipient would be: when it says the
 * mailbox is not there (5.1.x: no such user or domain; 5.2.x: the mailbox
 * is disabled or full; or a generic code whose words say so), its status
 * and whether that is a hard bounce. Null for refusals about the message or
 * the sender (5.7.x policy, 5.3.4 size...), which say nothing of the address.
 */
export function readSyncRefusal(code: string | null, text: string | null): { status: string; hard: boolean } | null {
  if (!code || !/^5\d\d$/.test(code)) return null;
  const status = failureStatusIn(text) ?? "5.0.0";
  const hard = isHard("failed", status, text);
  return /^5\.[12]\./.test(status) || hard ? { status, hard } : null;
}

function recipientOf(recipient: string, action: ReportedAction | null, status: string | null, diagnostic: string | null, remoteMta: string | null): ReportedRecipient {
  return { recipient, action, status, diagnostic, remoteMta, hard: isHard(action, status, diagnostic) };
}

// ---------------------------------------------------------------------------
// Feedback reports: ARF (RFC 5965) and mail-based unsubscribe requests

function readFeedbackReport(parts: Parts): BounceReport | null {
  const contentType = (headerValue(parts.headers, "content-type") ?? "").toLowerCase();
  const isArf = parts.feedbackReports.length > 0 || /report-type\s*=\s*"?feedback-report/.test(contentType);
  if (isArf) return arfReport(parts);
  if (headerValue(parts.headers, "x-apple-unsubscribe")?.trim().toLowerCase() === "true") {
    // Apple Mail's "unsubscribe" button sends a mail from the subscriber.
    const from = canonical(parts.fromAddress);
    return reportOf("feedback", from ? [recipientOf(from, null, null, null, null)] : [], "opt-out");
  }
  // Microsoft's JMRP complaints are no ARF: the reported message comes with the complaining recipient in a header of its own.
  // (They come with the reported message attached: no need to look for its headers in the text.)
  const complainant = parts.originals.length ? parts.returnedHeaders.find((field) => field.name === "x-hmxmroriginalrecipient") : undefined;
  if (complainant) {
    const address = cleanAddress(complainant.value);
    return reportOf("feedback", address ? [recipientOf(address, null, null, null, null)] : [], "abuse");
  }
  return null;
}

/**
 * The complaining recipients: Original-Rcpt-To (RFC 5965 §3.2), else
 * Removal-Recipient (RFC 6650 opt-out reports), else the To of the
 * reported message.
 */
function arfReport(parts: Parts): BounceReport {
  const fields = parts.feedbackReports.flatMap((text) => fieldBlocks(text, MAX_FIELD_LINES).flat());
  const feedbackType = fields.find((field) => field.name === "feedback-type")?.value.toLowerCase().split(/[\s;]/)[0] || null;
  const named = (name: string) =>
    fields
      .filter((field) => field.name === name)
      .slice(0, MAX_RECIPIENTS)
      .map((field) => cleanAddress(field.value));
  let addresses = named("original-rcpt-to");
  if (!addresses.some(Boolean)) addresses = named("removal-recipient");
  const recipients = unique(addresses.filter((address): address is string => address !== null));
  const fallback = recipients.length ? recipients : returnedRecipients(parts);
  return reportOf(
    "feedback",
    fallback.map((address) => recipientOf(address, null, null, null, null)),
    feedbackType,
  );
}

/** The To addresses of the returned (or reported) message. */
function returnedRecipients(parts: Parts): string[] {
  return returnedAddresses(parts, RETURNED_TO);
}

/** The addresses of these fields of the returned message. */
function returnedAddresses(parts: Parts, names: ReadonlySet<string>): string[] {
  const fields = parts.returnedHeaders.filter((field) => names.has(field.name));
  return unique(fields.flatMap((field) => [...field.value.matchAll(EVERY_ADDRESS)].flatMap((match) => canonical(match[0]) ?? [])));
}

const RETURNED_TO = new Set(["to"]);
const RETURNED_SENDER = new Set(["from", "sender", "return-path"]);

/**
 * The text's findings without the returned message's own sender, when the
 * text names someone else too and the sender was not also a recipient: a
 * bounce names the sender in passing ("A message sent by <x>", "Delivery
 * Status Notification for x"), and the sender is who the bounce goes back
 * to, not who it failed for. An only finding is kept (mail to oneself).
 */
function notTheSender(findings: TextFinding[], parts: Parts, returnedTo: string[]): TextFinding[] {
  if (findings.length < 2) return findings;
  const senders = returnedAddresses(parts, RETURNED_SENDER).filter((address) => !returnedTo.includes(address));
  const others = findings.filter((found) => !senders.includes(found.address));
  return others.length ? others : findings;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

// ---------------------------------------------------------------------------
// Amazon SES notifications (JSON, sent through SNS or as email feedback)

/** Senders of SES notifications: SNS (no-reply@sns.amazonaws.com) and SES email feedback (amazonses.com). */
const SES_SENDER = /@(?:[\w-]+\.)*(?:amazonaws|amazonses)\.com$/i;

/**
 * SES sends its bounce, complaint and delivery notifications as a JSON body
 * (possibly wrapped in an SNS envelope whose `Message` is the JSON again);
 * the details sit under the key named by the type ("bounce", ...).
 */
function readSesNotification(parts: Parts): BounceReport | null {
  if (!SES_SENDER.test(parts.fromAddress)) return null;
  const notification = sesNotification(parts.text);
  const type = String(notification?.notificationType ?? notification?.eventType ?? "").toLowerCase();
  const details = notification ? objectAt(notification, type) : null;
  if (!details) return null;
  if (type === "bounce") return sesBounce(details);
  if (type === "complaint") return sesComplaint(details);
  if (type === "delivery") return sesDelivery(details);
  return null;
}

function sesBounce(bounce: Json): BounceReport {
  const transient = String(bounce.bounceType ?? "").toLowerCase() === "transient";
  const recipients = sesRecipients(arrayAt(bounce, "bouncedRecipients").slice(0, MAX_RECIPIENTS)).flatMap((entry) => {
    const address = sesAddress(entry);
    if (!address) return [];
    const diagnosticCode = stringAt(entry, "diagnosticCode");
    const diagnostic = diagnosticCode ? clip(typedText(diagnosticCode)) : null;
    const action = actionOf(stringAt(entry, "action")) ?? (transient ? "delayed" : "failed");
    const status = action === "delivered" ? enhancedStatusIn(stringAt(entry, "status")) : (failureStatusIn(stringAt(entry, "status")) ?? failureStatusIn(diagnostic));
    return [recipientOf(address, action, status, diagnostic, null)];
  });
  return reportOf(kindOf(recipients), recipients);
}

function sesComplaint(complaint: Json): BounceReport {
  const recipients = sesRecipients(arrayAt(complaint, "complainedRecipients").slice(0, MAX_RECIPIENTS)).flatMap((entry) => {
    const address = sesAddress(entry);
    return address ? [recipientOf(address, null, null, null, null)] : [];
  });
  return reportOf("feedback", recipients, stringAt(complaint, "complaintFeedbackType")?.toLowerCase() ?? "abuse");
}

function sesDelivery(delivery: Json): BounceReport {
  const response = stringAt(delivery, "smtpResponse");
  const recipients = arrayAt(delivery, "recipients").slice(0, MAX_RECIPIENTS).flatMap((entry) => {
    const address = typeof entry === "string" ? cleanAddress(entry) : null;
    return address ? [recipientOf(address, "delivered", enhancedStatusIn(response), clip(response), clip(stringAt(delivery, "remoteMtaIp")))] : [];
  });
  return reportOf("delivered", recipients);
}

type Json = Record<string, unknown>;

function sesNotification(text: string): Json | null {
  if (!text.includes("notificationType") && !text.includes("eventType")) return null;
  const start = text.indexOf("{");
  const end = text.lastIndexOf("}");
  if (start < 0 || end <= start) return null;
  const body = text.slice(start, end + 1);
  // Sendmail breaks lines longer than it allows with "!" + newline + space: undo it.
  const parsed = parseJson(body) ?? parseJson(body.replace(/!\r?\n /g, ""));
  if (!parsed) return null;
  if (typeof parsed.Message === "string") return parseJson(parsed.Message);
  return parsed;
}

function parseJson(text: string): Json | null {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

function objectAt(value: Json, key: string): Json | null {
  const inner = value[key];
  return inner && typeof inner === "object" && !Array.isArray(inner) ? (inner as Json) : null;
}

function sesRecipients(list: unknown[]): Json[] {
  return list.filter((entry): entry is Json => Boolean(entry) && typeof entry === "object" && !Array.isArray(entry));
}

function sesAddress(entry: Json): string | null {
  const value = stringAt(entry, "emailAddress");
  return value ? cleanAddress(value) : null;
}

function stringAt(value: Json, key: string): string | null {
  const inner = value[key];
  return typeof inner === "string" ? inner : null;
}

function arrayAt(value: Json, key: string): unknown[] {
  const inner = value[key];
  return Array.isArray(inner) ? inner : [];
}

// ---------------------------------------------------------------------------
// Delivery reports: RFC 3464 parts, DSN fields quoted in the text, text bounces

function actionOf(value: string | null | undefined): ReportedAction | null {
  const action = value?.trim().toLowerCase().split(/[\s;(]/)[0];
  if (action === "failed" || action === "delayed" || action === "delivered") return action;
  // RFC 3464 §2.3.3: "relayed" and "expanded" are positive reports too.
  if (action === "relayed" || action === "expanded") return "delivered";
  return null;
}

function actionFromStatus(status: string | null): ReportedAction | null {
  if (status?.startsWith("5.")) return "failed";
  if (status?.startsWith("4.")) return "delayed";
  if (status?.startsWith("2.")) return "delivered";
  return null;
}

/** RFC 3464's kinds summed up: delayed or delivered only when every recipient is. */
function kindOf(recipients: ReportedRecipient[]): ReportKind {
  if (recipients.length && recipients.every((r) => r.action === "delayed")) return "delayed";
  if (recipients.length && recipients.every((r) => r.action === "delivered")) return "delivered";
  return "bounce";
}

/**
 * A multipart/report that is no delivery report: read receipts (RFC 8098
 * message disposition notifications) carry Final-Recipient fields too.
 */
const OTHER_REPORT_TYPE = /^\s*multipart\/report\s*;(?:.*;)?\s*report-type\s*=\s*"?(?!delivery-status\b)[\w-]/i;
/** A multipart/report of delivery status notifications (RFC 3464), or one that does not say (broken MTAs). */
const DELIVERY_REPORT_TYPE = /^\s*multipart\/report\b/i;

function readDeliveryReport(parts: Parts): BounceReport | null {
  if (OTHER_REPORT_TYPE.test(headerValue(parts.headers, "content-type") ?? "")) return null;
  const evidence = deliveryEvidence(parts);
  // RFC 3834 auto-replies that only look a little like a bounce (a null sender) stay auto-replies.
  if (!evidence.any || (isAutoReply(parts) && !evidence.strong)) return null;
  const recipients = recipientsIn(parts, parts.text, evidence) ?? recipientsIn(parts, parts.rawBody, evidence) ?? listedRecipients(parts);
  if (recipients.length) return reportOf(kindOf(recipients), recipients);
  // A report that names nobody we can read is still a report, when it says so plainly.
  if (evidence.strong) return reportOf("bounce");
  return null;
}

/**
 * The recipients of the RFC 3464 parts (or of DSN fields printed in the
 * text), completed with what the text says about each; else the text's own
 * recipients. Null when none can be read.
 */
function recipientsIn(parts: Parts, text: string, evidence: Evidence): ReportedRecipient[] | null {
  const returnedTo = returnedRecipients(parts);
  const fromText = listedFirst(notTheSender(readTextBounce(text, evidence), parts, returnedTo), parts.failedRecipients, returnedTo);
  const blocks = parts.hasDeliveryStatus ? parts.dsnBlocks : readDsnFields(text);
  const named = blocks.filter((block): block is DsnBlock & { recipient: string } => block.recipient !== null);
  if (named.length) {
    const byAddress = new Map(fromText.map((found) => [found.address, found]));
    const only = fromText.length === 1 ? fromText[0] : undefined;
    return named.map((block) => withTextDetails(block, byAddress.get(block.recipient) ?? only));
  }
  return fromText.length ? withUnnamedBlock(fromText, blocks) : null;
}

/**
 * X-Failed-Recipients (Exim, Gmail, Google Groups) lists the failed
 * addresses: structured evidence, which outranks the text. The text of a
 * bounce names other addresses too (Exim's "A message sent by <sender>", a
 * postmaster to write to), and may not name a listed one it failed to
 * route. The details the text gives for its one address go to the one
 * address listed; unless the returned message was sent To the text's
 * address and not to the listed one (the same mailbox spelled two ways),
 * where the text is taken at its word.
 */
function listedFirst(findings: TextFinding[], listed: string[], returnedTo: string[]): TextFinding[] {
  if (!listed.length) return findings;
  const byAddress = new Map(findings.map((found) => [found.address, found]));
  const only = listed.length === 1 && findings.length === 1 ? findings[0] : undefined;
  if (only && !byAddress.has(listed[0]!) && returnedTo.includes(only.address) && !returnedTo.includes(listed[0]!)) return findings;
  const unnamed: Omit<TextFinding, "address"> = { action: findings[0]?.action ?? "failed", status: null, diagnostic: null };
  return listed.map((address) => ({ ...(byAddress.get(address) ?? only ?? unnamed), address }));
}

/**
 * When the report itself names nobody: X-Failed-Recipients, else the one
 * address the returned message was sent To.
 */
function listedRecipients(parts: Parts): ReportedRecipient[] {
  const returnedTo = returnedRecipients(parts);
  const listed = parts.failedRecipients.length ? parts.failedRecipients : returnedTo.length === 1 ? returnedTo : [];
  return withUnnamedBlock(listedFirst([], listed, []), parts.dsnBlocks);
}

/** The addresses of X-Failed-Recipients (Exim starts a new field every 50), at most MAX_RECIPIENTS. */
function failedRecipientsOf(headers: Header[]): string[] {
  const values = headerValues(headers, "x-failed-recipients").flatMap((value) => value.slice(0, MAX_FIELD_CHARS).split(","));
  return unique(values.slice(0, MAX_RECIPIENTS).flatMap((part) => cleanAddress(part) ?? []));
}

/**
 * Recipients found elsewhere, given the details of a DSN's only block when
 * that block names no address (Exim's "Final-Recipient: rfc822;/var/mail/x"
 * for a delivery to a file): it is about the one recipient there is.
 */
function withUnnamedBlock(findings: TextFinding[], blocks: DsnBlock[]): ReportedRecipient[] {
  const only = blocks.length === 1 && findings.length === 1 ? blocks[0] : undefined;
  return findings.map((found) =>
    only ? withTextDetails({ ...only, recipient: found.address }, found) : recipientOf(found.address, found.action, found.status, found.diagnostic, null),
  );
}

/** A DSN's per-recipient block; the recipient is null when it is no address (a file, a pipe). */
interface DsnBlock {
  recipient: string | null;
  action: ReportedAction | null;
  status: string | null;
  diagnostic: string | null;
  remoteMta: string | null;
}

/** Per-recipient blocks of a DSN (RFC 3464 §2.3), in order; at most MAX_RECIPIENTS. */
function readDsnFields(text: string): DsnBlock[] {
  const out: DsnBlock[] = [];
  for (const block of fieldBlocks(text, MAX_FIELD_LINES)) {
    if (out.length >= MAX_RECIPIENTS) break;
    let current: Partial<Record<string, string>> = {};
    const flush = () => {
      const final = current["final-recipient"];
      const original = current["original-recipient"];
      if ((final !== undefined || original !== undefined) && out.length < MAX_RECIPIENTS) {
        const address = (final && addressFromTypedValue(final)) || (original && addressFromTypedValue(original)) || null;
        out.push(dsnBlock(address, current));
      }
      current = {};
    };
    for (const field of block) {
      // Some MTAs leave out the blank line between recipients: a second recipient field starts the next one.
      if ((field.name === "final-recipient" || field.name === "original-recipient") && current[field.name] !== undefined) flush();
      current[field.name] ??= field.value;
    }
    flush();
  }
  return out.slice(0, MAX_RECIPIENTS);
}

/**
 * One recipient's fields. A failed or delayed recipient's status is never a
 * 2.x.x code, neither the Status field's (broken MTAs) nor one its
 * Diagnostic-Code quotes (a relay's last positive reply, "smtp; 250 2.1.5 Ok").
 */
function dsnBlock(address: string | null, fields: Partial<Record<string, string>>): DsnBlock {
  const diagnostic = fields["diagnostic-code"] ? clip(typedText(fields["diagnostic-code"])) : null;
  const statusField = enhancedStatusIn(fields.status);
  const stated = actionOf(fields.action) ?? actionFromStatus(statusField);
  const failure = stated !== "delivered";
  const status = failure
    ? moreSpecificStatus(statusField?.startsWith("2.") ? null : statusField, failureStatusIn(diagnostic))
    : moreSpecificStatus(statusField, enhancedStatusIn(diagnostic));
  const action = stated ?? actionFromStatus(status);
  const remoteMta = fields["remote-mta"] ? clip(typedText(fields["remote-mta"])) : null;
  return { recipient: address, action, status, diagnostic, remoteMta };
}

/** Fills what the DSN leaves out (no diagnostic, a generic status) from the text part's words about the same address. */
function withTextDetails(block: DsnBlock & { recipient: string }, found: TextFinding | undefined): ReportedRecipient {
  // The text's codes are failures' (failureStatusIn): they never refine a delivered recipient's 2.0.0.
  const status = isGenericStatus(block.status) && block.action !== "delivered" && found?.status ? found.status : block.status;
  const diagnostic = block.diagnostic ?? found?.diagnostic ?? null;
  return recipientOf(block.recipient, block.action ?? found?.action ?? null, status, diagnostic, block.remoteMta);
}

// ---------------------------------------------------------------------------
// Is this mail from a mail system at all?

interface Evidence {
  /** A sign that a mail system wrote this: a daemon sender or the null reverse-path. */
  any: boolean;
  /** That and a bounce subject, or a report content type, X-Failed-Recipients, a known notice. */
  strong: boolean;
  /** How this program names the recipient, when it is one of NOTICE_SIGNATURES. */
  recipient: RegExp | null;
}

/** Local parts and display names of the senders of bounces. */
const DAEMON_SENDER = /^(?:mailer-?daemon|mail-?daemon|postmaster|post_master|mail[._ -]?delivery[._ -]?(?:system|subsystem)?)$/i;
const DAEMON_NAME = /\b(?:mailer[- ]?daemon|mail delivery|postmaster|delivery (?:sub)?system|ndr administrator|interscan)\b/i;
/** Subjects of bounces and delay warnings, in the languages of the corpus. */
const BOUNCE_SUBJECT = phrases([
  String.raw`undeliver(?:able|ed)`,
  "returned mail",
  String.raw`delivery (?:status notification|failure|failed|has failed|notification|problem)`,
  String.raw`failure (?:notice|delivery)`,
  "mail delivery failed",
  "could not be delivered",
  String.raw`non[- ]?delivery`,
  "mail system error",
  "error sending your mail",
  "returning message to sender",
  "delayed mail",
  "warning: message",
  "mail failure",
  "not delivered",
  "bounce notification",
  String.raw`non[- ]?deliverable`,
  "not deliverable",
  "unable to deliver",
  "returned to sender",
  "failed delivery",
  String.raw`delivery (?:error|report: failed)`,
  // Exchange's NDR subjects in other languages
  "unzustellbar",
  "non remis",
  "onbestelbaar",
  "non recapitabile",
  "no se puede entregar",
  "olevererbart",
]);

/** Auto-Submitted with the comment of a failure notice (Sendmail: "auto-generated (failure)"). */
const FAILURE_SUBMISSION = /^\s*auto-(?:generated|replied)\s*\(\s*(?:failure|delay|warning)/i;

/** Subject prefixes of replies and forwards (English, German, French, ...). */
const REPLY_OR_FORWARD = /^\s*(?:re|fwd?|aw|wg|tr|sv|vs|antw)\s*:/i;

/**
 * Programs that send their notices from ordinary-looking addresses, known by
 * a header of theirs (and the subject of their notices, where the header
 * alone does not tell); some name the recipient their own way.
 */
const NOTICE_SIGNATURES: { header: ReadField; value: RegExp; subject?: RegExp; recipient?: RegExp }[] = [
  // fml, the mailing-list manager: "You x@y are not member" (of <list@x>), "Loop Alert: Duplicated Message-ID in <list@x>"
  {
    header: "x-mlserver",
    value: /^fml\b/i,
    subject: /\b(?:are not member|loop alert|duplicated message-id)\b/i,
    recipient: new RegExp(`<(?<address>${ADDRESS})>`, "u"),
  },
  // KDDI au one net: error notices from no-reply@<host>.dion.ne.jp, answered to its system address
  { header: "reply-to", value: /^\s*<?no-reply@app\.auone-net\.jp>?\s*$/i },
];

function deliveryEvidence(parts: Parts): Evidence {
  const headers = parts.headers;
  // "MAILER-DAEMON <>" has no address: the name alone tells.
  const daemon = DAEMON_SENDER.test(localPartOf(parts.fromAddress)) || DAEMON_NAME.test(parts.fromName);
  const returnPath = headerValue(headers, "return-path");
  const nullSender = returnPath !== undefined && /^\s*<\s*>\s*$/.test(returnPath);
  // A person replying to or forwarding a bounce writes about it: that is no report.
  const bounceSubject = BOUNCE_SUBJECT.test(parts.subject) && !REPLY_OR_FORWARD.test(parts.subject);
  const report = DELIVERY_REPORT_TYPE.test(headerValue(headers, "content-type") ?? "") || parts.hasDeliveryStatus;
  // Headers that only bounces carry: Exim's and Gmail's list of failed addresses, Exchange's NDR mark, Sendmail's "(failure)".
  const failedHeader =
    headerValue(headers, "x-failed-recipients") !== undefined ||
    headerValue(headers, "x-ms-exchange-message-is-ndr") !== undefined ||
    FAILURE_SUBMISSION.test(headerValue(headers, "auto-submitted") ?? "");
  const signature = NOTICE_SIGNATURES.find((sig) => sig.value.test(headerValue(headers, sig.header) ?? "") && (sig.subject?.test(parts.subject) ?? true));
  const strong = ((daemon || nullSender) && bounceSubject) || report || failedHeader || signature !== undefined;
  return { any: strong || daemon || nullSender, strong, recipient: signature?.recipient ?? null };
}

// ---------------------------------------------------------------------------
// Text bounces

interface TextFinding {
  address: string;
  action: ReportedAction;
  status: string | null;
  diagnostic: string | null;
}

/**
 * Lines that end the report and start the copy of the returned message
 * (qmail's "--- Below this line is a copy of the message.", Exim's
 * "------ This is a copy of the message, including all the headers. ------",
 * Sendmail's "----- Unsent message follows -----", ...).
 */
const RETURNED_MESSAGE_STARTS: RegExp[] = [
  /^\s*[-=*_]{2,}.*\b(?:original|copy|unsent|returned|message follows|header of)\b/i,
  /^\s*(?:original message|message headers?|original mail)\s+(?:follows?|as follows)\b/i,
  /\b(?:below|enclosed|included) is a copy of\b/i,
  /^\s*original message(?: headers)?:\s*$/i,
  /^\s*the attachment contains the original\b/i,
  /^\s*content-type:\s*(?:message\/rfc822|text\/rfc822-headers)\b/i,
];

/**
 * Labels whose address is the sender, the original To or some id, never a
 * failed recipient: header names of the returned message and kin.
 */
const NOT_A_RECIPIENT_LABEL =
  /^(?:to|from|cc|bcc|sender|reply[- ]to|return-path|delivered-to|x-[\w-]+|envelope-to|errors-to|mail from|original sender|sender address|your address|from address|message-id|content-id|in-reply-to|references|resent-[\w-]+|list-[\w-]+)$/i;

/** Labels that introduce a failed recipient ("Unknown user:", "Could not be delivered to:", "RCPT TO:"). */
const RECIPIENT_LABEL = /\b(?:recipients?|rcpt|address(?:es)?|user(?:id)?|mailbox|deliver\w*|undeliver\w*|failed|to)\b/i;

/**
 * The address alone on its line, as qmail, Exim, Gmail, Notes and Mimecast
 * list failed recipients ("<a@b>:", "  a@b", "* a@b", "-- a@b", "\"a@b\":").
 * Human mail has such lines too (signatures), so it counts only on strong
 * evidence that a mail system wrote the message.
 */
const ADDRESS_LINE = new RegExp(String.raw`^\s*(?:[*-]{1,2}\s+)?["<]?(?<address>${ADDRESS})[">]?:?\s*$`, "u");

/** An SMTP failure reply (4xx, 5xx) or a failure's enhanced status code (regex source). */
const FAILURE_REPLY_SOURCE = String.raw`(?:^|[\s:'"\[(<])[45]\d\d(?:[ -]|$)|(?<![\d.])[45]\.[0-7]\.\d{1,3}(?!\d)`;

/** Words saying that delivery failed (regex sources). */
const FAILURE_WORD_SOURCES = [
  String.raw`undeliver\w*`,
  String.raw`not (?:be )?delivered`,
  String.raw`(?:could|can)(?:not|n't) be delivered`,
  String.raw`(?:wasn't|was not|were not) delivered`,
  "unable to deliver",
  "did not reach",
  "failure",
  "failed",
  "rejected",
  "refused",
  "unknown user",
  "user unknown",
  "no such user",
  "returned",
];

/**
 * Other ways text bounces name a failed recipient. Each pattern captures the
 * address and, when the reason is on the same line, the rest.
 */
const RECIPIENT_LINES: RegExp[] = [
  // Sendmail kin: ">>> a@b <a@b>"
  new RegExp(String.raw`^\s*(?:>{1,3}\s*)?${ADDRESS}\s+<(?<address>${ADDRESS})>\s*$`, "u"),
  // Postfix, MXLogic: "<a@b>: host mx said: 550 ..."
  new RegExp(String.raw`^\s*<(?<address>${ADDRESS})>:?\s+(?<rest>\S.*)$`, "u"),
  // Exim, a malformed address: "a@b <c@d>: malformed address: ..."
  new RegExp(String.raw`^\s*[^<>:]{1,80}\s<(?<address>${ADDRESS})>:\s+(?<rest>\S.*)$`, "u"),
  // OpenSMTPD, 1&1: "a@b: 550 ..."
  new RegExp(String.raw`^\s*"?(?<address>${ADDRESS})"?:\s+(?<rest>\S.*)$`, "u"),
  // Sendmail transcripts: "554 <a@b>... Service unavailable", "<a@b>... Deferred: ..."
  new RegExp(String.raw`^\s*(?:\d{3}[ -]\s*)?<?(?<address>${ADDRESS})>?\.\.\.\s*(?<rest>.*)$`, "u"),
  // Exchange 2003: "a@b on Thu, 29 Apr 2010 ..."
  new RegExp(String.raw`^\s*(?<address>${ADDRESS})\s+on\s+(?<rest>.*)$`, "u"),
  // "a@b [User unknown]", "a@b (reason)"
  new RegExp(String.raw`^\s*<?(?<address>${ADDRESS})>?\s+[\[(](?<rest>[^\])]{1,200})[\])]\s*$`, "u"),
  // Zoho: "a@b Invalid Address, ERROR_CODE :550, ..."
  new RegExp(String.raw`^\s*(?<address>${ADDRESS})\s+(?<rest>invalid address\b.*)$`, "iu"),
  // "Unknown user: a@b", "Recipient address: a@b", "Could not be delivered to: <a@b>" (IMail, KDDI, PMDF, ...):
  // the label is the reason, so the whole line is kept
  new RegExp(String.raw`^\s*(?<rest>(?<label>[^:<>@]{2,80}?)\s*:\s*<?(?<address>${ADDRESS})>?\s*[.,;]?)\s*$`, "u"),
  // "error delivering your mail to <a@b>.", "rejected recipient <a@b>", "RCPT TO:<a@b>"
  new RegExp(String.raw`^(?<rest>.*?\b(?:to|recipient)\s*:?\s*<(?<address>${ADDRESS})>.*)$`, "iu"),
  // "The following recipients returned permanent errors: a@b. Reason: ..."
  new RegExp(String.raw`\brecipients?\b[^:<>@]{0,60}:\s*<?(?<address>${ADDRESS})>?[.,;]?\s+(?<rest>\S.*)$`, "iu"),
];

/**
 * Prose: "Your message could not be delivered to a@b", "was undeliverable to
 * a@b: 550 ...", "Delivery to 'a@b' failed", "For a@b the server said: 550
 * ...": a bare or quoted address after "to" or "for", on a line that speaks
 * of delivery, says that it failed or quotes a failure reply (PROSE_LINE,
 * tested only on lines that fit). A role address there is someone to write
 * to ("if the failure persists, write to postmaster@..."), not a recipient.
 */
const PROSE_RECIPIENT = new RegExp(
  String.raw`^(?<rest>.*?\b(?:to|for)\s+['"]?(?!(?:postmaster|mailer-daemon|abuse|hostmaster|webmaster)@)(?<address>${ADDRESS})(?![\p{L}\p{N}_@-]|\.[\p{L}\p{N}]).*)$`,
  "iu",
);
const PROSE_LINE = new RegExp(String.raw`\b(?:deliver\w*|${FAILURE_WORD_SOURCES.join("|")})\b|${FAILURE_REPLY_SOURCE}`, "i");

/** A way to name a recipient: the pattern of its line, and what else the line must say. */
interface LinePattern {
  pattern: RegExp;
  when?: RegExp;
}

/** The patterns tried on a line, in order; on strong evidence, the address alone on its line first. */
const LINE_PATTERNS: LinePattern[] = [...RECIPIENT_LINES.map((pattern) => ({ pattern })), { pattern: PROSE_RECIPIENT, when: PROSE_LINE }];
const STRONG_LINE_PATTERNS: LinePattern[] = [{ pattern: ADDRESS_LINE }, ...LINE_PATTERNS];

/** Words saying that delivery failed, in the text of a report. */
const FAILURE_WORDS = phrases(FAILURE_WORD_SOURCES);

/** Words of a delay warning (RFC 3464's "delayed"): the message is still queued. */
const DELAY_WARNING = phrases([
  String.raw`ha(?:s|ve) been delayed`,
  "not yet been delivered",
  "will be retried",
  "warning message only",
  String.raw`this is (?:a|only a) warning`,
  "temporary failure report",
  "still being retried",
  "delay reason",
  "delivery attempts will continue",
]);

/**
 * Lines quoting an SMTP failure reply (4xx, 5xx) or a failure's enhanced status code: what the remote server
 * said. A transcript's successes ("<<< 250 2.1.5 Ok") are no part of why delivery failed.
 */
const SMTP_REPLY = new RegExp(FAILURE_REPLY_SOURCE);
/**
 * A line that introduces the sender, whose address comes alone on the next line: Exim's bounce and delay
 * warning to an errors_to address ("A message sent by\n\n  <sender@x>\n\ncould not be delivered ...").
 */
const SENDER_INTRO = /\b(?:sent|submitted) by\s*:?\s*$/i;
/** A MIME boundary line: where a broken multipart's next part starts. */
const BOUNDARY_LINE = /^--\S*[A-Za-z0-9]\S*$/;

interface Anchor {
  line: number;
  address: string;
  rest: string;
}

/**
 * Reads the recipients and their reasons out of the human-readable text of a
 * bounce. Only the part before the copy of the returned message is read.
 */
function readTextBounce(text: string, evidence: Evidence): TextFinding[] {
  const lines = reportLines(text);
  // On weak evidence (a postmaster sender, a bounce-like subject) the report must also say that something failed.
  if (!evidence.strong && !lines.some((line) => FAILURE_WORDS.test(line) || SMTP_REPLY.test(line))) return [];
  const patterns = evidence.recipient ? [{ pattern: evidence.recipient }] : evidence.strong ? STRONG_LINE_PATTERNS : LINE_PATTERNS;
  const anchors = recipientAnchors(lines, patterns);
  const action: ReportedAction = DELAY_WARNING.test(lines.join("\n")) ? "delayed" : "failed";
  // A recipient's block: its line's rest and the lines up to the next recipient. Some
  // reports name a recipient twice (Mail.Ru repeats the report in English): blocks add up, repeats do not.
  const byAddress = new Map<string, Map<string, string[]>>();
  anchors.forEach((anchor, index) => {
    const blocks = byAddress.get(anchor.address) ?? new Map<string, string[]>();
    if (blocks.size >= MAX_BLOCKS_PER_RECIPIENT || (!blocks.size && byAddress.size >= MAX_RECIPIENTS)) return;
    const end = Math.min(anchors[index + 1]?.line ?? lines.length, anchor.line + 1 + MAX_BLOCK_LINES);
    const block = [anchor.rest, ...lines.slice(anchor.line + 1, end)].map((line) => line.trim()).filter(Boolean);
    blocks.set(block.join("\n"), block);
    byAddress.set(anchor.address, blocks);
  });
  const findings = [...byAddress].map(([address, blocks]) => finding(address, action, [...blocks.values()].flat()));
  // A single recipient whose block quotes no reply: the reply is elsewhere in the report (often before the address).
  const only = findings.length === 1 ? findings[0] : undefined;
  if (only && !only.quotesReply) {
    const whole = finding(only.address, action, lines);
    if (whole.quotesReply) return [whole];
  }
  return findings;
}

/** A recipient's status and diagnostic, from the SMTP reply lines of its block if it has any, else from its first lines. */
function finding(address: string, action: ReportedAction, block: string[]): TextFinding & { quotesReply: boolean } {
  const replies = block.filter((line) => SMTP_REPLY.test(line));
  const quotesReply = replies.length > 0;
  return {
    address,
    action,
    status: failureStatusIn(replies.join("\n")) ?? failureStatusIn(block.join("\n")),
    diagnostic: clip((quotesReply ? replies : proseLines(block)).join(" ")),
    quotesReply,
  };
}

/** The first lines of a block that quotes no reply, up to a MIME boundary. */
function proseLines(block: string[]): string[] {
  const end = block.findIndex((line) => BOUNDARY_LINE.test(line.trim()));
  return (end < 0 ? block : block.slice(0, end)).filter((line) => line.trim()).slice(0, MAX_PROSE_LINES);
}

/** The report's own lines: its first MAX_REPORT_LINES, up to where the copy of the returned message starts. */
function reportLines(text: string): string[] {
  const lines = linesOf(text, MAX_REPORT_LINES, MAX_REPORT_CHARS);
  const end = copyStart(lines);
  return end < 0 ? lines : lines.slice(0, end);
}

/** Where the copy of the returned message starts, or -1. */
function copyStart(lines: string[]): number {
  return lines.findIndex((line) => RETURNED_MESSAGE_STARTS.some((pattern) => pattern.test(line)));
}

/**
 * The lines that name a recipient, each read by the first pattern that fits
 * it; not the address on the line after a sender's introduction.
 */
function recipientAnchors(lines: string[], patterns: LinePattern[]): Anchor[] {
  const anchors: Anchor[] = [];
  let previous = "";
  for (const [index, line] of lines.entries()) {
    const afterSenderIntro = SENDER_INTRO.test(previous);
    if (line.trim()) previous = line;
    // Every pattern needs an address, and every address an @: most lines are skipped at the cost of one scan.
    if (!line.includes("@") || afterSenderIntro) continue;
    for (const pattern of patterns) {
      const anchor = anchorIn(line, pattern);
      if (anchor) {
        anchors.push({ ...anchor, line: index });
        break;
      }
    }
  }
  return anchors;
}

function anchorIn(line: string, { pattern, when }: LinePattern): Omit<Anchor, "line"> | null {
  const groups = pattern.exec(line)?.groups;
  const label = groups?.label?.trim();
  if (!groups?.address || (label !== undefined && (NOT_A_RECIPIENT_LABEL.test(label) || !RECIPIENT_LABEL.test(label)))) return null;
  if (when && !when.test(line)) return null;
  const address = canonical(groups.address);
  return address ? { address, rest: groups.rest ?? "" } : null;
}

// ---------------------------------------------------------------------------
// Bounces forwarded by a person

/**
 * A person who forwards a bounce ("Fwd: Returned mail: see transcript for
 * details") passes the report on: attached whole (message/rfc822, "forward
 * as attachment"), or inline under the mail client's marker with the
 * bounce's own From, Date, Subject and To. Such mail, which reads as no
 * report itself, is read as the delivery report it carries, with the same
 * rules as any other (the forwarded From and Subject must show a mail
 * system), one level deep. A forwarded message that is no bounce (a
 * person's mail, a vacation reply) leaves the forward what it is: human mail.
 * A reply is not read so: Outlook quotes the mail replied to under the same
 * marker as a forward, and a person who answers a bounce writes about it.
 */
async function readForwardedBounce(parts: Parts): Promise<BounceReport | null> {
  if (REPLY_PREFIX.test(parts.subject)) return null;
  const attached = parts.originals.filter((part) => FORWARDABLE_TYPES.has(part.mimeType.toLowerCase())).slice(0, MAX_FORWARDED);
  const inline = forwardedInline(parts.text);
  for (const message of [...attached.map((part) => part.content), ...(inline ? [inline] : [])]) {
    const report = await read(typeof message === "string" ? message : new Uint8Array(message), false);
    if (report.kind === "bounce" || report.kind === "delayed" || report.kind === "delivered") return report;
  }
  return null;
}

/** Subject prefixes of replies (English, German, Scandinavian, Dutch, Polish, Italian); forwards have others. */
const REPLY_PREFIX = /^\s*(?:re|aw|sv|antw|odp|r)\s*(?:\[\d+\])?\s*:/i;
/** Whole messages among the returned parts (not a copy of headers only). */
const FORWARDABLE_TYPES = new Set(["message/rfc822", "message/global"]);
/** Attached messages tried: a forward attaches one. */
const MAX_FORWARDED = 1;
/** Lines of a forwarded message parsed: its report, its DSN fields, the returned headers. */
const MAX_FORWARDED_LINES = 400;

/**
 * The line mail clients put above a message forwarded inline: Gmail's
 * "---------- Forwarded message ---------", Outlook's "-----Original
 * Message-----" or a line of underscores, Apple Mail's "Begin forwarded
 * message:", Thunderbird's "-------- Forwarded Message --------", and their
 * translations.
 */
const FORWARD_MARKER =
  /^\s*(?:-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht|urspr\u00fcngliche nachricht|message transf\u00e9r\u00e9|message d'origine|mensaje (?:original|reenviado)|messaggio (?:originale|inoltrato)|doorgestuurd bericht|oorspronkelijk bericht|vidarebefordrat meddelande)\s*-{2,}|begin forwarded message:|_{10,})\s*$/i;
/** The forwarded header fields that decide (their names in the clients' languages): From and Subject. */
const FORWARDED_FROM = /^(?:from|de|von|da|van|fr\u00e5n)$/i;
const FORWARDED_SUBJECT = /^(?:subject|objet|betreff|oggetto|asunto|assunto|onderwerp|\u00e4mne)$/i;

/**
 * A message forwarded inline, rebuilt from the forward's text: the header
 * fields under the marker, then what follows them. Lines quoted with ">"
 * (Apple Mail quotes the whole forward) are unquoted first. Null when the
 * text has no marker followed by a From and a Subject.
 */
function forwardedInline(text: string): string | null {
  const lines = linesOf(text, MAX_REPORT_LINES + MAX_FORWARDED_LINES);
  const marker = lines.slice(0, MAX_REPORT_LINES).findIndex((line) => FORWARD_MARKER.test(unquoted(line)));
  if (marker < 0) return null;
  const rest = lines.slice(marker + 1, marker + 1 + MAX_FORWARDED_LINES).map(unquoted);
  let start = 0;
  while (start < rest.length && !rest[start]!.trim()) start++;
  const fields: Field[] = [];
  let end = start;
  for (; end < rest.length && end < start + MAX_FORWARDED_FIELDS; end++) {
    const field = /^([A-Za-z\u00c0-\u00ff][\w\u00c0-\u00ff-]*)[ \t]*:[ \t]*(.*)$/.exec(rest[end]!);
    if (!field) break;
    fields.push({ name: field[1]!, value: field[2]!.trim() });
  }
  const from = fields.find((field) => FORWARDED_FROM.test(field.name));
  const subject = fields.find((field) => FORWARDED_SUBJECT.test(field.name));
  if (!from || !subject) return null;
  const others = fields.filter((field) => field !== from && field !== subject && !/[^\x21-\x7e]/.test(field.name));
  const header = [`From: ${from.value}`, `Subject: ${subject.value}`, ...others.map((field) => `${field.name}: ${field.value}`)];
  return `${header.join("\n")}\n\n${rest.slice(end).join("\n")}`;
}

/** Header fields read under a forward marker (From, Sent, To, Cc, Subject and kin). */
const MAX_FORWARDED_FIELDS = 12;

/** A line without the ">" of a quote ("> text", ">> text", ">text"). */
function unquoted(line: string): string {
  return line.replace(/^(?:> ?){1,5}/, "");
}

// ---------------------------------------------------------------------------
// Auto-replies (RFC 3834)

/** Subjects of vacation replies: the marker, then a colon before the original subject. */
const AUTO_REPLY_SUBJECT =
  /^\s*(?:auto(?:matic)?[ -]?(?:reply|response|answer|antwort)|auto|out of (?:the )?office(?: reply)?|abwesenheitsnotiz|abwesend|r[ée]ponse automatique|respuesta autom[áa]tica|risposta automatica|automatisch antwoord|on vacation|vacation reply)\s*:/i;

function readAutoReply(parts: Parts): BounceReport | null {
  if (!isAutoReply(parts)) return null;
  const from = canonical(parts.fromAddress);
  return reportOf("auto_reply", from ? [recipientOf(from, null, null, null, null)] : []);
}

function isAutoReply(parts: Parts): boolean {
  const headers = parts.headers;
  const autoSubmitted = headerValue(headers, "auto-submitted")?.trim().toLowerCase() ?? "";
  if (autoSubmitted.startsWith("auto-replied")) return true;
  if (headerValue(headers, "x-autoreply") !== undefined || headerValue(headers, "x-autorespond") !== undefined) return true;
  if (headerValue(headers, "precedence")?.trim().toLowerCase() === "auto_reply") return true;
  if (headerValue(headers, "x-apple-action")?.trim().toLowerCase() === "vacation") return true;
  return AUTO_REPLY_SUBJECT.test(parts.subject);
}

// ---------------------------------------------------------------------------
// The original message's ids

const ORIGINAL_ID_HEADERS = [OWN_MESSAGE_ID_HEADER.toLowerCase(), "message-id", "x-microsoft-original-message-id"];

function originalMessageIds(fields: Field[]): string[] {
  const ids = ORIGINAL_ID_HEADERS.flatMap((name) => fields.filter((field) => field.name === name).map((field) => messageIdOf(field.value)));
  return unique(ids.filter((id): id is string => id !== null));
}

/**
 * The returned message's header fields: from its message/rfc822 or
 * text/rfc822-headers part, else as a text bounce quotes them after its
 * "copy of the message" line.
 */
function returnedHeaders(parts: Parts): Field[] {
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
