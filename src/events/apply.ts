/**
 * The effects of a recipient event, the same whatever told us (a DSN, the
 * SMTP answer, a provider's event): the event recorded once (its dedupe
 * key is unique, so a replay fails the whole batch and changes nothing),
 * the recipient's status and where it was learned, the message bounced,
 * the contact's bounce counter, and Odoo's suppression rules
 * (shared/reference/odoo-gateway.md 3.2-3.4): a hard bounce suppresses at
 * once, five bounces within 13 weeks more than a week apart do too, a
 * complaint does, an unsubscribe does for its stream, and so does the
 * provider's own word that it suppresses the address.
 */
import { and, count, eq, gte, inArray, min, type SQLWrapper, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type Db, inJson } from "../db/client";
import { bounceEvents, contacts, messages, outboundEvents, outboundRecipients, suppressions } from "../db/schema";
import type { RecipientStatus, Stream, SuppressionReason } from "../model";
import { EVERY_STREAM, suppressStatement } from "../suppressions";
import { eventHookStatement } from "./hooks";
import type { EventSource, RecipientEventKind } from "./types";

export type Statement = BatchItem<"sqlite">;

/** Odoo's BLACKLIST_MAX_BOUNCED_LIMIT, its 13-week window and its one-week spread. */
export const SUPPRESS_AFTER_BOUNCES = 5;
const BOUNCE_WINDOW_MS = 13 * 7 * 24 * 3600_000;
const BOUNCE_SPREAD_MS = 7 * 24 * 3600_000;

/** What the suppression rules read of an address: whether it is suppressed everywhere, its counter, its bounces within 13 weeks. */
export interface Standing {
  suppressed: boolean;
  bounceCount: number;
  recentBounces: number;
  firstRecentBounce: Date | null;
}

/** The contacts, recent bounces and suppressions of some addresses (a list, or a subquery of them): three statements of the caller's batch. */
export function standingQueries(db: Db, addresses: string[] | SQLWrapper, now: number) {
  const among = (column: typeof contacts.email | typeof bounceEvents.email | typeof suppressions.email) =>
    Array.isArray(addresses) ? inJson(column, addresses) : inArray(column, addresses);
  return [
    db.select({ email: contacts.email, bounceCount: contacts.bounceCount }).from(contacts).where(among(contacts.email)),
    db
      .select({ email: bounceEvents.email, count: count(), first: min(bounceEvents.createdAt) })
      .from(bounceEvents)
      .where(and(among(bounceEvents.email), eq(bounceEvents.kind, "bounce"), gte(bounceEvents.createdAt, new Date(now - BOUNCE_WINDOW_MS))))
      .groupBy(bounceEvents.email),
    db
      .select({ email: suppressions.email })
      .from(suppressions)
      .where(and(among(suppressions.email), eq(suppressions.stream, EVERY_STREAM))),
  ] as const;
}

export type StandingRows = [{ email: string; bounceCount: number }[], { email: string; count: number; first: Date | null }[], { email: string }[]];

/** One address's standing from the rows `standingQueries` read: an address with no rows is in good standing. */
export function standingOf(email: string, [contactRows, history, suppressed]: StandingRows): Standing {
  const past = history.find((h) => h.email === email);
  return {
    suppressed: suppressed.some((s) => s.email === email),
    bounceCount: contactRows.find((c) => c.email === email)?.bounceCount ?? 0,
    recentBounces: past?.count ?? 0,
    firstRecentBounce: past?.first ?? null,
  };
}

/**
 * Whether one more failure suppresses the address (Odoo's rules): at once
 * when the mailbox or domain does not exist, else at the 5th bounce within
 * 13 weeks whose first and last are more than a week apart, while the
 * counter is at 5 or more. Null when it stays (or already is) deliverable.
 */
export function suppressionFor(hard: boolean, standing: Standing, now: number): SuppressionReason | null {
  if (standing.suppressed) return null;
  if (hard) return "hard_bounce";
  const total = standing.recentBounces + 1;
  const spread = now - (standing.firstRecentBounce?.getTime() ?? now);
  return total >= SUPPRESS_AFTER_BOUNCES && spread > BOUNCE_SPREAD_MS && standing.bounceCount + 1 >= SUPPRESS_AFTER_BOUNCES ? "soft_bounces" : null;
}

/** The rows that count a failure against an address: the contact's counter, and the bounce (once per report and address). */
export function countFailure(db: Db, failure: { email: string; reportId: string; originalId: string; status: string | null; at: Date }): Statement[] {
  const { email, at } = failure;
  return [
    db
      .insert(contacts)
      .values({ email, bounceCount: 1, lastBounceAt: at, createdAt: at, updatedAt: at })
      .onConflictDoUpdate({ target: contacts.email, set: { bounceCount: sql`${contacts.bounceCount} + 1`, lastBounceAt: at, updatedAt: at } }),
    db
      .insert(bounceEvents)
      .values({ email, reportId: failure.reportId, originalId: failure.originalId, kind: "bounce", status: failure.status, createdAt: at })
      .onConflictDoNothing(),
  ];
}

/** A recipient's status for each event, and the order statuses may follow: a later state never goes back (a late delivery report does not undo a bounce). */
const STATUS_OF: Record<RecipientEventKind, RecipientStatus> = {
  deferred: "deferred",
  delivered: "delivered",
  failed: "failed",
  bounced: "bounced",
  complained: "complained",
  unsubscribed: "unsubscribed",
};
const RANK: Record<RecipientStatus, number> = { pending: 0, sent: 1, deferred: 2, delivered: 3, failed: 4, bounced: 4, complained: 5, unsubscribed: 5 };
const below = (status: RecipientStatus) => (Object.keys(RANK) as RecipientStatus[]).filter((s) => RANK[s] < RANK[status]);

/** One recipient event tied to our message. */
export interface TiedEvent {
  messageId: string;
  recipient: string;
  kind: RecipientEventKind;
  status: string | null;
  diagnostic: string | null;
  hard: boolean;
  source: EventSource;
  relayId: string | null;
  /** Unique per event: `<relay>:<provider event id>`, `dsn:<report>:<recipient>`, `smtp:<message>:<recipient>`. */
  dedupeKey: string;
  occurredAt: number;
  providerSuppressed: boolean;
  /** The stream of the message, for an unsubscribe. */
  stream: Stream | null;
}

export interface EventEffects {
  statements: Statement[];
  /** The suppression the event made, if any. */
  suppressed: SuppressionReason | null;
}

/** The rows that carry one event out, given the address's standing (read in the caller's lookup). */
export function eventStatements(db: Db, event: TiedEvent, standing: Standing, now: number, options: { anyHooks?: boolean } = {}): EventEffects {
  const at = new Date(now);
  const status = STATUS_OF[event.kind];
  const statements: Statement[] = [
    // First: on a replay this insert fails, and with it the whole batch.
    db.insert(outboundEvents).values({
      messageId: event.messageId,
      recipient: event.recipient,
      type: event.kind,
      status: event.status,
      diagnostic: event.diagnostic,
      source: event.source,
      relayId: event.relayId,
      dedupeKey: event.dedupeKey,
      occurredAt: new Date(event.occurredAt),
      createdAt: at,
    }),
    // Skipped when the caller knows there is no event hook at all (nothing to write, a statement fewer).
    ...(options.anyHooks === false ? [] : [eventHookStatement(db, event.dedupeKey, now)]),
    db
      .update(outboundRecipients)
      .set({ status, source: event.source, lastCode: event.status, lastError: event.diagnostic, updatedAt: at })
      .where(and(eq(outboundRecipients.messageId, event.messageId), eq(outboundRecipients.address, event.recipient), inArray(outboundRecipients.status, below(status)))),
  ];
  let suppressed: SuppressionReason | null = null;
  switch (event.kind) {
    case "bounced":
      statements.push(
        db.update(messages).set({ status: "bounced", updatedAt: at }).where(eq(messages.id, event.messageId)),
        ...countFailure(db, { email: event.recipient, reportId: event.dedupeKey, originalId: event.messageId, status: event.status, at }),
      );
      suppressed = suppressionFor(event.hard, standing, now) ?? (event.providerSuppressed && !standing.suppressed ? "provider" : null);
      break;
    case "complained":
      suppressed = standing.suppressed ? null : "complaint";
      break;
    case "unsubscribed":
      statements.push(suppressStatement(db, event.recipient, "unsubscribed", at, { stream: event.stream, relayId: event.relayId }));
      break;
    case "failed":
      suppressed = event.providerSuppressed && !standing.suppressed ? "provider" : null;
      break;
    case "delivered":
    case "deferred":
      break;
  }
  if (suppressed) {
    statements.push(
      // The relay is named when its provider holds the address too: lifting ours does not lift theirs.
      suppressStatement(db, event.recipient, suppressed, at, { relayId: event.providerSuppressed ? event.relayId : null }),
    );
    // The address becomes a contact if it was not one, so the operator finds it with its suppression (a bounce's counter made it one already).
    if (event.kind !== "bounced") statements.push(db.insert(contacts).values({ email: event.recipient, createdAt: at, updatedAt: at }).onConflictDoNothing());
  }
  return { statements, suppressed };
}

/**
 * The relay took (or refused outright, without a bounce status) the
 * message for one recipient: recorded as an event, so event hooks hear of
 * `message.sent` and `message.failed` too. Keyed by message and recipient:
 * a recipient is settled once.
 */
export function settledEventStatements(
  db: Db,
  settled: { messageId: string; recipient: string; sent: boolean; code: string | null; diagnostic: string | null; relayId: string | null },
  now: number,
): Statement[] {
  const dedupeKey = `${settled.sent ? "sent" : "failed"}:${settled.messageId}:${settled.recipient}`;
  return [
    db
      .insert(outboundEvents)
      .values({
        messageId: settled.messageId,
        recipient: settled.recipient,
        type: settled.sent ? "sent" : "failed",
        status: settled.code,
        diagnostic: settled.diagnostic,
        source: "smtp",
        relayId: settled.relayId,
        dedupeKey,
        occurredAt: new Date(now),
        createdAt: new Date(now),
      })
      .onConflictDoNothing(),
    eventHookStatement(db, dedupeKey, now),
  ];
}
