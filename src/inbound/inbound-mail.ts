/**
 * The facts routing reads from a message: its envelope and header block,
 * never its body. Built once per message, then handed to the pure decision.
 */
import type { Header } from "postal-mime";
import { decodeWords } from "postal-mime";
import { normalizeAddress, parseMailboxes } from "../mail/address";
import { LOOP_BOUNCE_TAG, messageIdOf, OWN_MESSAGE_ID_HEADER, replyCandidates, unfoldReferences } from "../mail/message-id";
import type { Mailbox } from "../model";

export interface Envelope {
  /** SMTP MAIL FROM (may be empty for bounces). */
  from: string;
  /** SMTP RCPT TO: the one recipient this delivery is for. */
  to: string;
}

export interface InboundMail {
  envelope: { from: string; to: string };
  /** The Message-ID (or a stable synthetic one when missing). */
  messageId: string;
  /** Our own message-id header, present when the mail is one of ours coming back. */
  ownMessageId: string | null;
  from: Mailbox | null;
  /** Who the sender loop guard counts: the From address, else MAIL FROM; null when neither has one. */
  sender: string | null;
  toHeader: Mailbox[];
  ccHeader: Mailbox[];
  subject: string | null;
  /**
   * Odoo's `to`: Delivered-To and To. The envelope recipient counts as a
   * Delivered-To, which is what an MTA in front of Odoo would have added.
   */
  to: string[];
  /** Odoo's `recipients`: `to` plus Cc, Resent-To and Resent-Cc. */
  recipients: string[];
  /** Ids reply detection looks up (see `replyCandidates`). */
  replyIds: string[];
  /** References or In-Reply-To names one of Odoo's loop-detection bounces. */
  repliesToLoopBounce: boolean;
  /** Lowercased Content-Type value. */
  contentType: string;
  receivedCount: number;
  /** Why the mail looks machine-generated (RFC 3834 and kin), or null. */
  automatic: string | null;
  size: number;
}

function values(headers: Header[], key: string): string[] {
  const out: string[] = [];
  for (const header of headers) if (header.key === key) out.push(header.value);
  return out;
}

function first(headers: Header[], key: string): string | undefined {
  return headers.find((h) => h.key === key)?.value;
}

function mailboxes(headers: Header[], ...keys: string[]): Mailbox[] {
  const out: Mailbox[] = [];
  for (const key of keys) for (const value of values(headers, key)) out.push(...parseMailboxes(value));
  return out;
}

function uniqueAddresses(...lists: (Mailbox[] | string[])[]): string[] {
  const out = new Set<string>();
  for (const list of lists) for (const item of list) out.add(typeof item === "string" ? item : item.address);
  return [...out];
}

/**
 * Why a message counts as automatic: RFC 3834 `Auto-Submitted` other than
 * `no`, the auto-responder markers `X-Autoreply`/`X-Autorespond`, Exchange's
 * `X-Auto-Response-Suppress`, `Precedence: bulk|junk|list`, or a mailing
 * list's `List-Id` (RFC 2919).
 */
export function automaticMarker(headers: Header[]): string | null {
  const autoSubmitted = first(headers, "auto-submitted");
  const token = autoSubmitted?.split(/[;(\s]/)[0]?.toLowerCase();
  if (token && token !== "no") return `auto-submitted: ${token}`;
  for (const key of ["x-autoreply", "x-autorespond"]) if (first(headers, key) !== undefined) return key;
  const suppress = first(headers, "x-auto-response-suppress")?.trim().toLowerCase();
  if (suppress && suppress !== "none") return "x-auto-response-suppress";
  const precedence = first(headers, "precedence")?.trim().toLowerCase();
  if (precedence === "bulk" || precedence === "junk" || precedence === "list") return `precedence: ${precedence}`;
  if (first(headers, "list-id") !== undefined) return "list-id";
  return null;
}

/**
 * Pure, from the parsed header block: receive.ts builds it for each
 * message, the route table tests directly. Addresses come out canonical,
 * so routing compares them as strings.
 */
export function toInboundMail(headers: Header[], envelope: Envelope, messageId: string, size: number): InboundMail {
  const rcpt = normalizeAddress(envelope.to) ?? envelope.to.trim().toLowerCase();
  const toHeader = mailboxes(headers, "to");
  const ccHeader = mailboxes(headers, "cc");
  const toList = uniqueAddresses(mailboxes(headers, "delivered-to", "to"), [rcpt]);
  const references = first(headers, "references");
  const inReplyTo = first(headers, "in-reply-to");
  const subject = first(headers, "subject");
  const ownId = first(headers, OWN_MESSAGE_ID_HEADER.toLowerCase());
  const from = mailboxes(headers, "from")[0] ?? null;
  return {
    envelope: { from: envelope.from.trim(), to: rcpt },
    messageId,
    ownMessageId: ownId ? messageIdOf(ownId) : null,
    from,
    sender: from?.address ?? normalizeAddress(envelope.from),
    toHeader,
    ccHeader,
    subject: subject === undefined ? null : decodeWords(subject),
    to: toList,
    recipients: uniqueAddresses(toList, mailboxes(headers, "cc", "resent-to", "resent-cc")),
    replyIds: replyCandidates(references, inReplyTo),
    repliesToLoopBounce: [...unfoldReferences(references), inReplyTo ?? ""].some((id) => id.includes(LOOP_BOUNCE_TAG)),
    contentType: (first(headers, "content-type") ?? "").toLowerCase(),
    receivedCount: values(headers, "received").length,
    automatic: automaticMarker(headers),
    size,
  };
}
