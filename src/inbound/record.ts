/**
 * Writes a decision to D1 in one batch (one transaction): the message row,
 * the threads it opens, its routes, its deliveries and its trace. Nothing
 * is delivered before this commits, so a failure here leaves nothing done
 * and the sender's retry starts clean.
 */
import { and, eq, gt, inArray, ne } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { destinationTarget } from "../aliases/rules";
import type { Db } from "../db/client";
import { aliases, contacts, deliveries, followers, messageEvents, messages, messageThreads, threads } from "../db/schema";
import type { Decision, Route } from "../decision";
import { newId } from "../ids";
import { domainOf } from "../mail/address";
import { isOwnAddress } from "../mail/own-address";
import type { Destination } from "../model";
import { rawExpiryStatement } from "../retention";
import type { InboundMail } from "./inbound-mail";
import type { RoutingData } from "./route";

/** A forward the handler must attempt after the record commits. */
export interface PendingForward {
  deliveryId: string;
  messageRowId: string;
  to: string;
  aliasId: string | null;
  threadId: string | null;
  attempts: number;
}

export interface Recorded {
  /** The row the outcome was recorded on (an earlier one when the sender retried). */
  messageRowId: string;
  /** The decision as stored, with the ids of the threads it opened. */
  decision: Decision;
  forwards: PendingForward[];
  /** Deliveries the queue carries out (webhooks, Odoo, follower notifications), to queue once this commits. */
  queued: string[];
}

type Statement = BatchItem<"sqlite">;

function destinationsOf(route: Route, data: RoutingData): Destination[] {
  if (route.kind === "alias") return data.aliases.find((a) => a.id === route.alias_id)?.destinations ?? [];
  return data.replyTarget?.threadId === route.thread_id ? data.replyTarget.destinations : [];
}

/**
 * The sender's retry of a delivery we accepted adds only an event to the
 * original row; every other message gets a row of its own, so the trace
 * shows each copy received.
 */
export async function recordDecision(
  db: Db,
  input: {
    mail: InboundMail;
    decision: Decision;
    data: RoutingData;
    rawKey: string | null;
    now: number;
    /** The incoming server the message was fetched from (src/incoming); absent for Email Routing's. */
    fetchedFrom?: string | null;
    /** More rows to write in the same transaction, given the new message's id (a bounce's effects). */
    effects?: (messageRowId: string) => Statement[];
  },
): Promise<Recorded> {
  const { mail, data, rawKey } = input;
  const now = new Date(input.now);
  const forwards: PendingForward[] = [];
  const queued: string[] = [];
  let decision = input.decision;

  // The sender retrying a delivery we accepted: note it on the original row.
  if (decision.outcome === "dropped" && decision.reason === "duplicate" && decision.same_delivery && decision.duplicate_of) {
    const original = decision.duplicate_of;
    await db.insert(messageEvents).values({ messageId: original, type: "redelivered", detail: { rcpt_to: mail.envelope.to }, createdAt: now });
    return { messageRowId: original, decision, forwards, queued: [] };
  }

  const rowId = newId("msg", input.now);
  // D1 checks foreign keys statement by statement: threads, then the message, then what points at both.
  const threadStatements: Statement[] = [];
  const dependents: Statement[] = [];
  if (decision.outcome === "accepted" && decision.reason === "routed") {
    const routes = decision.routes.map((route) => (route.thread_id ? route : { ...route, thread_id: newId("thr", input.now) }));
    // The domain the mail came in on, when we serve it: the thread lives there (its notifications go out from it).
    const rcptDomain = data.domains.find((d) => d.name === domainOf(mail.envelope.to))?.name ?? null;
    for (const [i, route] of routes.entries()) {
      const threadId = route.thread_id!;
      const opensThread = decision.routes[i]!.thread_id === null;
      const alias = route.kind === "alias" ? data.aliases.find((a) => a.id === route.alias_id) : undefined;
      threadStatements.push(
        opensThread
          ? db.insert(threads).values({ id: threadId, subject: mail.subject, aliasId: route.alias_id, domain: alias?.domain ?? rcptDomain, createdAt: now, updatedAt: now })
          : db.update(threads).set({ updatedAt: now }).where(eq(threads.id, threadId)),
      );
      dependents.push(
        db
          .insert(messageThreads)
          .values({ messageId: rowId, threadId, aliasId: route.alias_id, messageKey: mail.messageId, sender: mail.sender ?? "", routeKey: route.route_key, createdAt: now }),
      );
      // Our own addresses (aliases, catchall, bounce, notifications) never follow a thread: they would be mailed its notifications.
      const newFollowers = [...(opensThread ? (alias?.followers ?? []) : []), ...(alias?.addSenderAsFollower && mail.from ? [mail.from] : [])].filter(
        (f) => !isOwnAddress(f.address, data.domains, data.aliases),
      );
      if (newFollowers.length) {
        dependents.push(
          db
            .insert(followers)
            .values(newFollowers.map((f) => ({ threadId, email: f.address, name: f.name || null, createdAt: now })))
            .onConflictDoNothing(),
        );
      }
      // Mail entering a thread with followers besides its author notifies them; automatic mail never
      // does (RFC 3834: no automatic answer to automatic mail), so auto-repliers cannot talk to each other.
      const notify = !mail.automatic && (opensThread ? (alias?.followers.length ?? 0) > 0 : othersFollow(data, threadId));
      // Whose destinations these are: the alias, or for a reply the thread's alias (whose webhook secret signs).
      const ownerAlias = route.kind === "alias" ? route.alias_id : (route.alias_id ?? (data.replyTarget?.threadId === threadId ? data.replyTarget.aliasId : null));
      for (const type of [...destinationsOf(route, data), ...(notify ? [{ type: "notify" } as const] : [])]) {
        const id = newId("dlv", input.now);
        const target = type.type === "notify" ? null : destinationTarget(type);
        // Storing is done by this very batch; forwards happen after it commits, webhooks, Odoo and notifications in the queue.
        const status = type.type === "store" ? "delivered" : "pending";
        const viaQueue = type.type === "webhook" || type.type === "odoo" || type.type === "notify";
        dependents.push(
          db
            .insert(deliveries)
            .values({ id, messageId: rowId, aliasId: ownerAlias, threadId, type: type.type, target, status, nextAttemptAt: viaQueue ? now : null, createdAt: now, updatedAt: now }),
        );
        if (type.type === "forward") forwards.push({ deliveryId: id, messageRowId: rowId, to: type.to, aliasId: ownerAlias, threadId, attempts: 0 });
        if (viaQueue) queued.push(id);
      }
    }
    // Normal mail from a contact resets its bounce counter (Odoo's `_routing_reset_bounce`, on the normalized address).
    if (mail.from && !mail.automatic) {
      dependents.push(
        db
          .update(contacts)
          .set({ bounceCount: 0, updatedAt: now })
          .where(and(eq(contacts.email, mail.from.address), gt(contacts.bounceCount, 0))),
      );
    }
    const routedAliases = routes.flatMap((r) => (r.kind === "alias" ? [r.alias_id] : []));
    if (routedAliases.length) {
      // Odoo marks an alias valid once it has routed mail.
      dependents.push(
        db
          .update(aliases)
          .set({ status: "valid" })
          .where(and(inArray(aliases.id, routedAliases), ne(aliases.status, "valid"))),
      );
    }
    decision = { ...decision, routes };
  }

  dependents.push(...(input.effects?.(rowId) ?? []));
  if (decision.outcome === "accepted" && decision.reason === "bounce") {
    for (const to of await odooBounceDestinations(db, mail, data)) {
      const id = newId("dlv", input.now);
      dependents.push(
        db.insert(deliveries).values({
          id,
          messageId: rowId,
          aliasId: to.aliasId,
          threadId: null,
          type: "odoo",
          target: to.target,
          status: "pending",
          nextAttemptAt: now,
          createdAt: now,
          updatedAt: now,
        }),
      );
      queued.push(id);
    }
  }
  const invalid = refusalsOf(decision).flatMap((r) => (r.reason === "alias_invalid" ? [r.alias_id] : []));
  if (invalid.length) dependents.push(db.update(aliases).set({ status: "invalid", updatedAt: now }).where(inArray(aliases.id, invalid)));

  const messageRow = db.insert(messages).values({
    id: rowId,
    direction: "in",
    status: decision.outcome,
    messageId: mail.messageId,
    mailFrom: mail.envelope.from,
    rcptTo: mail.envelope.to,
    fromAddress: mail.from?.address ?? null,
    fromName: mail.from?.name || null,
    to: mail.toHeader,
    cc: mail.ccHeader,
    subject: mail.subject,
    size: mail.size,
    rawKey,
    decision,
    fetchedFrom: input.fetchedFrom ?? null,
    createdAt: now,
    updatedAt: now,
  });
  const event = db.insert(messageEvents).values({ messageId: rowId, type: decision.outcome, detail: { reason: decision.reason }, createdAt: now });
  // Last: the raw copy's expiry reads the aliases its thread links name.
  await db.batch([...threadStatements, messageRow, event, ...dependents, ...(rawKey ? [rawExpiryStatement(db, rowId)] : [])] as [Statement, ...Statement[]]);
  return { messageRowId: rowId, decision, forwards, queued };
}

/**
 * Where a bounce report goes besides mailgate's own reading of it: every
 * Odoo database that an enabled alias of the domain it arrived at hands
 * its mail to with `bounces: true`, once per database. Odoo reads the
 * report itself (`_routing_handle_bounce`: its bounce alias, MAILER-DAEMON
 * or multipart/report; the original Message-ID in the attached headers)
 * and counts it on its own partners, whether Odoo sent the original
 * through mailgate or through its own mail server with the domain's bounce
 * address as Return-Path: the report comes to mailgate either way, as it
 * would have come to Odoo's bounce mailbox.
 */
async function odooBounceDestinations(db: Db, mail: InboundMail, data: RoutingData): Promise<{ aliasId: string; target: string }[]> {
  const domain = data.domains.find((d) => d.name === domainOf(mail.envelope.to))?.name;
  if (!domain) return [];
  const rows = await db
    .select({ id: aliases.id, destinations: aliases.destinations })
    .from(aliases)
    .where(and(eq(aliases.domain, domain), eq(aliases.enabled, true)))
    .orderBy(aliases.id);
  const found = new Map<string, string>();
  for (const alias of rows) {
    for (const destination of alias.destinations) {
      const target = destinationTarget(destination);
      if (destination.type === "odoo" && destination.bounces && target && !found.has(target)) found.set(target, alias.id);
    }
  }
  return [...found].map(([target, aliasId]) => ({ aliasId, target }));
}

/** Whether someone other than the sender follows an existing thread (the lookup counted its followers). */
function othersFollow(data: RoutingData, threadId: string): boolean {
  const known = data.followers.find((f) => f.threadId === threadId);
  return known !== undefined && known.count > (known.senderFollows ? 1 : 0);
}

function refusalsOf(decision: Decision) {
  if (decision.outcome === "refused") return [decision];
  if (decision.outcome === "accepted" && decision.reason === "routed") return decision.refused;
  return [];
}
