/**
 * The shapes the readers share: the report they return (the public types,
 * re-exported by index.ts), the parsed message they read (Parts), and the
 * field blocks of DSNs and returned headers.
 */
import type { Attachment, Header } from "postal-mime";

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

/** The message as parsed by postal-mime (parse.ts): what every reader reads. */
export interface Parts {
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

export interface Field {
  name: string;
  value: string;
}

/** A DSN's per-recipient block; the recipient is null when it is no address (a file, a pipe). */
export interface DsnBlock {
  recipient: string | null;
  action: ReportedAction | null;
  status: string | null;
  diagnostic: string | null;
  remoteMta: string | null;
}

/**
 * A reader: the report it recognises in a parsed message, or null when the
 * message is not of its kind (the next reader is tried). Pure and bounded.
 */
export type Reader = (parts: Parts) => BounceReport | null;
