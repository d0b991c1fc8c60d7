/**
 * From a validated send request and what D1 knows (relays, domains, the
 * thread), everything about the message before it is composed: the relay,
 * the From and Reply-To, the envelope sender, the Message-ID and threading
 * headers. Pure.
 */

import { domainOf } from "../mail/address";
import type { Mailbox, RelayType, Stream } from "../model";
import { envelopeIsFrom } from "./relays/settings";
import { formatReplyTo, planSender, type SenderPlan } from "./rewrite-from";
import { findRelay, type RelayCandidate, relaysForStream, type SelectionStep } from "./select-relay";

export interface PlanDomain {
  name: string;
  companyName: string | null;
  catchall: string;
  bounce: string;
  defaultFrom: string;
}

export interface PlanRelay extends RelayCandidate {
  name: string;
  type: RelayType;
  config: Record<string, unknown>;
}

export interface PlanThread {
  id: string;
  subject: string | null;
  /** The address of the thread's alias (or the alias pinned to it), when it has one on a domain. */
  aliasAddress: string | null;
  aliasDomain: string | null;
  /** The domain the thread lives on (threads.domain). */
  domain: string | null;
  /** Message-IDs of the thread's messages, oldest first. */
  messageIds: string[];
}

export interface SendPlan {
  relay: PlanRelay;
  step: SelectionStep;
  sender: SenderPlan;
  /** The domain the message belongs to (Odoo's alias domain): Message-ID, bounce address, catchall. */
  domain: PlanDomain | null;
  messageId: string;
  inReplyTo: string | null;
  references: string[];
}

/** Odoo's `default_from_email`: a full address as is, else `<local part>@<domain>`. */
export function notificationsAddress(domain: Pick<PlanDomain, "name" | "defaultFrom">): string {
  return domain.defaultFrom.includes("@") ? domain.defaultFrom : `${domain.defaultFrom}@${domain.name}`;
}

/**
 * The domain a message belongs to, wherever it can be known: the thread's
 * alias domain, else the thread's own domain, else the From's domain when
 * we serve it; only when none of them says (an outside author starting a
 * conversation) the first domain (Odoo: the company's alias domain).
 */
export function domainFor(domains: PlanDomain[], author: Mailbox, thread: PlanThread | null): PlanDomain | null {
  const byName = (name: string | null | undefined) => (name ? domains.find((d) => d.name === name) : undefined);
  return byName(thread?.aliasDomain) ?? byName(thread?.domain) ?? byName(domainOf(author.address)) ?? domains[0] ?? null;
}

/** Keep the thread's last references (the first id too, per RFC 5322 3.6.4) to a sane count. */
const MAX_REFERENCES = 20;

/** Null when no enabled relay may send this stream as this From. Pure: the caller computes the VERP address, which needs the secret. */
export function planMessage(input: {
  rowId: string;
  author: Mailbox;
  replyTo: Mailbox | null;
  stream: Stream;
  relays: PlanRelay[];
  /** The domain the message belongs to (see `domainFor`). */
  domain: PlanDomain | null;
  thread: PlanThread | null;
  /** The subject, which names a thread this message opens. */
  subject: string;
  /** The message's VERP address on that domain (the caller computes it: it needs the secret). */
  bounceAddress: string | null;
}): SendPlan | null {
  const { domain } = input;
  const notifications = domain ? notificationsAddress(domain) : null;
  const choice = findRelay(relaysForStream(input.relays, input.stream), input.author.address, notifications);
  if (!choice) return null;

  const threadReplyTo = input.thread?.aliasAddress ?? (domain ? `${domain.catchall}@${domain.name}` : null);
  const sender = planSender({
    author: input.author,
    smtpFrom: choice.smtpFrom,
    relay: { ...choice.relay, envelopeIsFrom: envelopeIsFrom(choice.relay) },
    notificationsEmail: notifications,
    bounceAddress: input.bounceAddress,
    replyTo: input.replyTo,
    threadReplyTo: threadReplyTo ? formatReplyTo(threadReplyTo, domain?.companyName ?? null, input.thread?.subject ?? input.subject) : null,
  });
  const ids = input.thread?.messageIds ?? [];
  const references = ids.length > MAX_REFERENCES ? [ids[0]!, ...ids.slice(-(MAX_REFERENCES - 1))] : ids;
  return {
    relay: choice.relay,
    step: choice.step,
    sender,
    domain,
    messageId: `<${input.rowId.toLowerCase()}@${domain?.name ?? domainOf(input.author.address)}>`,
    inReplyTo: references.at(-1) ?? null,
    references,
  };
}
