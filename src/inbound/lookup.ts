/**
 * Everything the routing decision needs, read in one D1 batch (one round
 * trip): settings, domains, aliases, earlier deliveries of the Message-ID,
 * the replied-to thread, followers, the sender's standing and its loop counts.
 */
import { and, desc, eq, or, sql } from "drizzle-orm";
import { type Db, inJson } from "../db/client";
import { aliases, allowedSenders, contacts, deliveries, domains, followers, messages, messageThreads, settings, threads } from "../db/schema";
import { erasedAs } from "../erasure";
import { localPartOf, normalizeAddress } from "../mail/address";
import type { InboundMail } from "./inbound-mail";
import { countsByRoute, loopCountsQuery, loopDelivery } from "./loop-guard";
import type { PendingForward } from "./record";
import type { AliasInfo, RoutingData, RoutingSettings } from "./route";

export const DEFAULT_SETTINGS: RoutingSettings = { loopMinutes: 120, loopThreshold: 20, allowedDomains: [] };

export interface Lookup {
  data: RoutingData;
  /** This delivery's key in the loop guard (src/inbound/loop-guard.ts). */
  loopDelivery: string;
  /** Forwards earlier deliveries of this Message-ID from this sender left pending (forward() only exists during an email event). */
  undone: PendingForward[];
}

/** Who sent a stored inbound message, as `InboundMail.sender` says it (From, else MAIL FROM). */
function senderOf(row: { fromAddress: string | null; mailFrom: string }): string | null {
  return row.fromAddress ?? normalizeAddress(row.mailFrom);
}

const aliasColumns = {
  id: aliases.id,
  name: aliases.name,
  domain: aliases.domain,
  address: aliases.address,
  contact: aliases.contact,
  localPartOnly: aliases.localPartOnly,
  threadId: aliases.threadId,
  refusalText: aliases.refusalText,
  enabled: aliases.enabled,
  addSenderAsFollower: aliases.addSenderAsFollower,
  followers: aliases.followers,
  destinations: aliases.destinations,
};

/**
 * One D1 batch, so routing costs one round trip whatever the message. The
 * loop counts read the stored window and threshold inside their own
 * statement, as the settings row is not known yet.
 */
/**
 * `secretsKey` recognises an erased earlier copy of this Message-ID: it
 * keeps keyed digests (src/erasure.ts) in place of its sender and envelope
 * recipient. They are computed only when such a copy is found, so the
 * common path costs nothing more.
 */
export async function lookup(db: Db, mail: InboundMail, now: number, secretsKey?: string): Promise<Lookup> {
  const sender = mail.sender;
  const senderAddress = mail.from?.address ?? "";
  // The sender too: an alias writing to us is not a follower (src/mail/own-address.ts).
  const addresses = senderAddress ? [...mail.recipients, senderAddress] : mail.recipients;
  const aliasMatch = or(inJson(aliases.address, addresses), and(eq(aliases.localPartOnly, true), inJson(aliases.name, addresses.map(localPartOf))))!;
  const messageKeys = [mail.messageId, ...(mail.ownMessageId ? [mail.ownMessageId] : [])];
  const delivery = await loopDelivery(mail.messageId, mail.envelope.to);

  // The loop window and threshold are the stored settings', read in the same statement.
  const setting = (column: typeof settings.loopMinutes | typeof settings.loopThreshold, fallback: number) =>
    sql<number>`coalesce((select ${column} from ${settings} where ${settings.id} = 1), ${fallback})`;
  const loopWindow = { minutes: setting(settings.loopMinutes, DEFAULT_SETTINGS.loopMinutes), threshold: setting(settings.loopThreshold, DEFAULT_SETTINGS.loopThreshold) };
  const results = await db.batch([
    db.select().from(settings).where(eq(settings.id, 1)),
    db
      .select({
        name: domains.name,
        companyName: domains.companyName,
        catchall: domains.catchall,
        bounce: domains.bounce,
        defaultFrom: domains.defaultFrom,
        contactEmail: domains.contactEmail,
      })
      .from(domains)
      .orderBy(domains.sequence, domains.name),
    db.select(aliasColumns).from(aliases).where(aliasMatch),
    db
      .select({
        id: messages.id,
        direction: messages.direction,
        status: messages.status,
        rcptTo: messages.rcptTo,
        fromAddress: messages.fromAddress,
        mailFrom: messages.mailFrom,
        erasedAt: messages.erasedAt,
      })
      .from(messages)
      .where(inJson(messages.messageId, messageKeys)),
    db
      .select({ routeKey: messageThreads.routeKey })
      .from(messageThreads)
      .where(and(eq(messageThreads.messageKey, mail.messageId), eq(messageThreads.sender, sender ?? ""))),
    db
      .select({ threadId: messageThreads.threadId, aliasId: threads.aliasId, destinations: aliases.destinations })
      .from(messageThreads)
      .innerJoin(threads, eq(threads.id, messageThreads.threadId))
      .leftJoin(aliases, eq(aliases.id, threads.aliasId))
      .where(inJson(messageThreads.messageKey, mail.replyIds))
      .orderBy(desc(messageThreads.messageId), desc(messageThreads.threadId))
      .limit(1),
    // Followers of the threads a contact policy may look at and notifications go to: pinned
    // threads of the candidate aliases, and the threads the reply ids belong to.
    db
      .select({
        threadId: followers.threadId,
        count: sql<number>`count(*)`,
        senderFollows: sql<number>`max(${followers.email} = ${senderAddress})`,
      })
      .from(followers)
      .where(
        or(
          sql`${followers.threadId} in (select ${aliases.threadId} from ${aliases} where ${aliasMatch} and ${aliases.threadId} is not null)`,
          sql`${followers.threadId} in (select ${messageThreads.threadId} from ${messageThreads} where ${inJson(messageThreads.messageKey, mail.replyIds)})`,
        ),
      )
      .groupBy(followers.threadId),
    db
      .select({ email: allowedSenders.email })
      .from(allowedSenders)
      .where(eq(allowedSenders.email, sender ?? "")),
    db.select({ email: contacts.email }).from(contacts).where(eq(contacts.email, senderAddress)),
    db
      .select({
        deliveryId: deliveries.id,
        messageRowId: deliveries.messageId,
        to: sql<string>`${deliveries.target}`,
        aliasId: deliveries.aliasId,
        threadId: deliveries.threadId,
        attempts: deliveries.attempts,
        fromAddress: messages.fromAddress,
        mailFrom: messages.mailFrom,
      })
      .from(deliveries)
      .innerJoin(messages, eq(messages.id, deliveries.messageId))
      .where(and(eq(messages.messageId, mail.messageId), eq(messages.direction, "in"), eq(deliveries.type, "forward"), eq(deliveries.status, "pending"))),
    loopCountsQuery(db, sender ?? "", delivery, loopWindow, now),
  ]);
  const [settingsRows, domainRows, aliasRows, priorRows, claimedRows, replyRows, followerRows, allowedRows, contactRows, undoneRows, loopRows] = results;

  const row = settingsRows[0];
  const routingSettings: RoutingSettings = row ? { loopMinutes: row.loopMinutes, loopThreshold: row.loopThreshold, allowedDomains: row.allowedDomains } : DEFAULT_SETTINGS;
  // An erased earlier copy: its digests, and the routes it took under its sender's digest.
  const erased = priorRows.some((m) => m.erasedAt) ? await erasedDigests(db, mail, secretsKey) : { sender: null, rcptTo: null, routes: [] };
  const reply = replyRows[0];
  const data: RoutingData = {
    settings: routingSettings,
    domains: domainRows,
    aliases: aliasRows satisfies AliasInfo[],
    priorMessages: priorRows.map((m) =>
      // An erased copy kept only digests: one that matches this mail's is the same sender, or the same recipient.
      m.erasedAt
        ? {
            id: m.id,
            direction: m.direction,
            status: m.status,
            rcptTo: m.rcptTo === erased.rcptTo ? mail.envelope.to : m.rcptTo,
            sender: m.direction === "in" && m.fromAddress === erased.sender ? sender : null,
          }
        : { id: m.id, direction: m.direction, status: m.status, rcptTo: m.rcptTo, sender: m.direction === "in" ? senderOf(m) : null },
    ),
    claimedRoutes: [...claimedRows.map((r) => r.routeKey), ...erased.routes],
    replyTarget: reply ? { threadId: reply.threadId, aliasId: reply.aliasId, destinations: reply.destinations ?? [] } : null,
    followers: followerRows.map((f) => ({ threadId: f.threadId, count: Number(f.count), senderFollows: Number(f.senderFollows) === 1 })),
    senderAllowed: allowedRows.length > 0,
    senderKnown: contactRows.length > 0,
    loopCounts: countsByRoute(loopRows),
  };
  // A forward left undone by another sender's message with this Message-ID is that message's business.
  const undone = undoneRows.filter((u) => senderOf(u) === sender).map(({ fromAddress: _, mailFrom: __, ...forward }) => forward);
  return { data, loopDelivery: delivery, undone };
}

/** This mail's sender and recipient as an erased copy keeps them, and the routes taken under that sender digest (one more query, only when an erased copy exists). */
async function erasedDigests(db: Db, mail: InboundMail, secretsKey: string | undefined): Promise<{ sender: string | null; rcptTo: string | null; routes: string[] }> {
  if (!secretsKey) return { sender: null, rcptTo: null, routes: [] };
  const [sender, rcptTo] = await Promise.all([erasedAs(secretsKey, mail.sender), erasedAs(secretsKey, mail.envelope.to)]);
  const routes = sender
    ? await db
        .select({ routeKey: messageThreads.routeKey })
        .from(messageThreads)
        .where(and(eq(messageThreads.messageKey, mail.messageId), eq(messageThreads.sender, sender)))
    : [];
  return { sender, rcptTo, routes: routes.map((r) => r.routeKey) };
}
