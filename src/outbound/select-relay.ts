/**
 * Relay choice, exactly as Odoo chooses an outgoing mail server
 * (`ir.mail_server._find_mail_server` and `_match_from_filter`, 17+; see
 * shared/reference/odoo-gateway.md 4.3 and 4.4). Pure.
 */
import { domainOf, normalizeAddress } from "../mail/address";
import type { Stream } from "../model";

export interface RelayCandidate {
  id: string;
  fromFilter: string | null;
  /** Lower first; ties keep their order (by id). */
  sequence: number;
  stream: Stream;
  /** Relays that only accept one sender (`553 Mail from must equal authorized user`). */
  fixedSender: string | null;
}

/** A From filter's entries (Odoo's comma-separated domains and addresses). */
export function filterParts(fromFilter: string): string[] {
  return fromFilter
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
}

/** The canonical form of a filter part or an address (bare addresses: filters, From and envelope addresses carry no display name). */
function normalize(text: string): string | null {
  return text.includes("@") ? normalizeAddress(text) : null;
}

/**
 * Odoo's `_match_from_filter`: no filter allows everything; otherwise a part
 * with `@` must equal the normalized address, a part without must equal its
 * domain (exactly: a subdomain does not match its parent).
 */
export function matchFromFilter(emailFrom: string, fromFilter: string | null): boolean {
  if (!fromFilter) return true;
  const address = normalize(emailFrom);
  if (!address) return false;
  const domain = domainOf(address);
  return filterParts(fromFilter).some((part) => (part.includes("@") ? normalize(part) === address : part.toLowerCase() === domain));
}

export type SelectionStep = "address" | "domain" | "notifications_address" | "notifications_domain" | "no_filter" | "first";

export interface RelayChoice<R extends RelayCandidate> {
  relay: R;
  /** The address the relay sends as: the author's, or the notifications address. */
  smtpFrom: string;
  step: SelectionStep;
}

/**
 * The relays a message may use: enabled ones, by sequence, restricted to its
 * stream. Mass mail uses the mass relays when there are any (Odoo's
 * dedicated mass-mailing server); transactional mail never uses them unless
 * no transactional relay exists.
 */
export function relaysForStream<R extends RelayCandidate>(relays: R[], stream: Stream): R[] {
  const ordered = [...relays].sort((a, b) => a.sequence - b.sequence);
  const own = ordered.filter((r) => r.stream === stream);
  return own.length ? own : ordered;
}

/**
 * Odoo's `_find_mail_server`: the exact address across all relays first,
 * then the domain, then the domain's notifications address (address, then
 * domain), then a relay without filter, then the first relay. Null when
 * there is no relay at all.
 */
export function findRelay<R extends RelayCandidate>(relays: R[], emailFrom: string, notificationsEmail: string | null): RelayChoice<R> | null {
  const firstMatch = (target: string | null, norm: (part: string) => string | null): R | undefined =>
    target === null ? undefined : relays.find((r) => r.fromFilter && filterParts(r.fromFilter).some((part) => norm(part) === target));
  const byAddress = (part: string) => normalize(part);
  const byDomain = (part: string) => (part.includes("@") ? null : part.toLowerCase());

  const from = normalize(emailFrom);
  if (from) {
    const exact = firstMatch(from, byAddress);
    if (exact) return { relay: exact, smtpFrom: emailFrom, step: "address" };
    const sameDomain = firstMatch(domainOf(from), byDomain);
    if (sameDomain) return { relay: sameDomain, smtpFrom: emailFrom, step: "domain" };
  }
  const notifications = notificationsEmail ? normalize(notificationsEmail) : null;
  if (notifications) {
    const exact = firstMatch(notifications, byAddress);
    if (exact) return { relay: exact, smtpFrom: notifications, step: "notifications_address" };
    const sameDomain = firstMatch(domainOf(notifications), byDomain);
    if (sameDomain) return { relay: sameDomain, smtpFrom: notifications, step: "notifications_domain" };
  }
  const fallbackFrom = notifications ?? emailFrom;
  const unfiltered = relays.find((r) => !r.fromFilter);
  if (unfiltered) return { relay: unfiltered, smtpFrom: fallbackFrom, step: "no_filter" };
  const first = relays[0];
  return first ? { relay: first, smtpFrom: fallbackFrom, step: "first" } : null;
}

/**
 * Where to go when the chosen relay itself fails: the other relays of the
 * stream, in order, that may send as the message's (final) From, so the
 * message already composed goes out unchanged.
 */
export function failoverRelays<R extends RelayCandidate>(relays: R[], chosenId: string, fromAddress: string): R[] {
  return relays.filter((r) => r.id !== chosenId && matchFromFilter(fromAddress, r.fromFilter) && (r.fixedSender === null || normalize(r.fixedSender) === normalize(fromAddress)));
}
