/**
 * Who a message says it is from, and which envelope sender carries it:
 * Odoo's `_prepare_email_message` (shared/reference/odoo-gateway.md 4.5),
 * plus relays that only accept one fixed sender. Pure.
 */

import { localPartText, normalizeAddress } from "../mail/address";
import { asciiDomain, formatMailbox } from "../mail/mime-header";
import type { Mailbox } from "../model";
import { matchFromFilter } from "./select-relay";

export interface SenderPlan {
  /** The From header. */
  from: Mailbox;
  /** The Reply-To header. */
  replyTo: Mailbox | null;
  /** SMTP MAIL FROM (ASCII; IDN domains in punycode). */
  envelopeFrom: string;
  /** Why the From is what it is. */
  rewrite: "none" | "notifications" | "fixed_sender";
}

export interface SenderInput {
  author: Mailbox;
  /** The address the chosen relay sends as (`_find_mail_server`'s `smtp_from`). */
  smtpFrom: string;
  relay: { fromFilter: string | null; fixedSender: string | null; envelopeIsFrom: boolean };
  /** The domain's notifications address (Odoo's `default_from_email`), if any. */
  notificationsEmail: string | null;
  /** The VERP bounce address for this message, if the domain has one. */
  bounceAddress: string | null;
  /** Reply-To the caller asked for. */
  replyTo: Mailbox | null;
  /** Where replies go by default: the thread's alias, or the domain's catchall. */
  threadReplyTo: Mailbox | null;
}

/** Odoo's `encapsulate_email` (17+): the old display name, else its local part (as text, unquoted), on the new address. */
export function encapsulate(author: Mailbox, address: string): Mailbox {
  return { name: author.name || localPartText(author.address), address };
}

/**
 * Odoo's rule: the From is rewritten only when the relay was chosen for
 * the notifications address and the author is someone else. The envelope
 * is the VERP address whenever the relay may send as it, so bounces name
 * the message.
 */
export function planSender(input: SenderInput): SenderPlan {
  const { author, relay } = input;
  if (relay.fixedSender) {
    // The relay sends as one account only: that account in From and on the envelope, the
    // author's name kept as display name, the author reachable through Reply-To.
    const fixed = normalizeAddress(relay.fixedSender) ?? relay.fixedSender;
    return {
      from: encapsulate(author, fixed),
      replyTo: input.replyTo ?? { name: author.name, address: author.address },
      envelopeFrom: asciiDomain(fixed),
      rewrite: "fixed_sender",
    };
  }

  // The From changes only when the relay was chosen for the notifications address and the
  // author is someone else; an address or domain match never changes it.
  const notifications = input.notificationsEmail ? normalizeAddress(input.notificationsEmail) : null;
  const rewritten = notifications !== null && normalizeAddress(input.smtpFrom) === notifications && normalizeAddress(author.address) !== notifications;
  const from = rewritten ? encapsulate(author, notifications) : author;
  // Envelope: the bounce address when the relay may send as it (no filter allows everything).
  const envelope = input.bounceAddress && !relay.envelopeIsFrom && matchFromFilter(input.bounceAddress, relay.fromFilter) ? input.bounceAddress : from.address;
  return {
    from,
    replyTo: input.replyTo ?? input.threadReplyTo,
    envelopeFrom: asciiDomain(envelope),
    rewrite: rewritten ? "notifications" : "none",
  };
}

/**
 * Odoo's `_notify_get_reply_to` formatting: at most 68 characters
 * (78 - "Reply-To: "): "{company} {record}", else "{record or company}",
 * else the bare address.
 */
export function formatReplyTo(address: string, company: string | null, recordName: string | null): Mailbox {
  const LIMIT = 68;
  const fits = (name: string) => formatMailbox({ name, address }).length <= LIMIT;
  if (address.length >= LIMIT) return { name: "", address };
  const both = [company, recordName].filter(Boolean).join(" ");
  if (both && fits(both)) return { name: both, address };
  const single = recordName || company;
  if (single && fits(single)) return { name: single, address };
  return { name: "", address };
}
