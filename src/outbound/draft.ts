/**
 * One outbound message from content to queue, shared by the send API and
 * follower notifications: plan it (relay, From, envelope, threading
 * headers), compose its MIME, then store it (R2, then rows for one D1
 * batch) and queue its id.
 */
import { asc, eq, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { chunks, type Db } from "../db/client";
import { aliases, domains, messages, messageThreads, outboundRecipients, relays, threads } from "../db/schema";
import type { Env } from "../env";
import { domainOf, normalizeAddress } from "../mail/address";
import { verpAddress } from "../mail/verp";
import type { Mailbox, RecipientKind, Stream } from "../model";
import { rawExpiryStatement } from "../retention";
import { listUnsubscribeHeaders, unsubscribeToken } from "../unsubscribe";
import { compose, type WrittenContent } from "./compose";
import { domainFor, type PlanDomain, type PlanRelay, type PlanThread, planMessage, type SendPlan } from "./plan";
import type { DraftRefusal } from "./refusals";
import { fixedSenderOf, maxSizeOf } from "./relays/settings";

export interface DraftContent extends WrittenContent {
  author: Mailbox;
  bcc: Mailbox[];
  /** Reply-To the caller asked for; null = the thread's alias or the catchall. */
  replyTo: Mailbox | null;
  stream: Stream;
  /**
   * Offer one-click unsubscribe (List-Unsubscribe, src/unsubscribe.ts) on
   * transactional mail too; mass mail always offers it. The message must
   * have one recipient, whom the link names (the send API refuses others).
   */
  listUnsubscribe?: boolean;
}

export interface DraftRecipient {
  address: string;
  name: string;
  kind: RecipientKind;
}

export interface Draft {
  rowId: string;
  plan: SendPlan;
  raw: Uint8Array;
  bounceAddress: string | null;
  recipients: DraftRecipient[];
}

export type DraftResult = { ok: true; draft: Draft } | { ok: false; refusal: DraftRefusal };

/** What planning needs from D1: the enabled relays and the domains, as two statements of the caller's batch. */
export function planningQueries(db: Db) {
  return [
    db
      .select({ id: relays.id, name: relays.name, type: relays.type, config: relays.config, fromFilter: relays.fromFilter, sequence: relays.sequence, stream: relays.stream })
      .from(relays)
      .where(eq(relays.enabled, true))
      .orderBy(asc(relays.sequence), asc(relays.id)),
    db
      .select({ name: domains.name, companyName: domains.companyName, catchall: domains.catchall, bounce: domains.bounce, defaultFrom: domains.defaultFrom })
      .from(domains)
      .orderBy(asc(domains.sequence), asc(domains.name)),
  ] as const;
}

export type PlanningRows = [Omit<PlanRelay, "fixedSender">[], PlanDomain[]];

/**
 * What planning needs to know of a thread: the thread with each alias that
 * may speak for it (its own alias, or one pinned to it), and its messages'
 * ids, oldest first: two statements of the caller's batch.
 */
export function threadQueries(db: Db, threadId: string) {
  return [
    db
      // Named apart: D1 answers a batch's rows as objects, where same-named columns (id, domain) would collapse.
      .select({
        id: threads.id,
        subject: threads.subject,
        domain: threads.domain,
        ownAliasId: threads.aliasId,
        aliasId: sql<string | null>`${aliases.id}`.as("speaker_alias_id"),
        aliasAddress: aliases.address,
        aliasDomain: sql<string | null>`${aliases.domain}`.as("speaker_alias_domain"),
      })
      .from(threads)
      .leftJoin(aliases, or(eq(aliases.id, threads.aliasId), eq(aliases.threadId, threads.id)))
      .where(eq(threads.id, threadId)),
    db
      .select({ key: messageThreads.messageKey })
      .from(messageThreads)
      .where(eq(messageThreads.threadId, threadId))
      .orderBy(asc(messageThreads.createdAt), asc(messageThreads.messageId)),
  ] as const;
}

type ThreadRow = {
  id: string;
  subject: string | null;
  domain: string | null;
  ownAliasId: string | null;
  aliasId: string | null;
  aliasAddress: string | null;
  aliasDomain: string | null;
};

/**
 * The thread as planning sees it, or null when it does not exist. Its alias
 * is the one that routed the message being answered when given, else the
 * thread's own, else one pinned to it: its address is the Reply-To, its
 * domain the message's.
 */
export function planThreadOf(rows: ThreadRow[], keys: { key: string }[], preferredAliasId: string | null = null): PlanThread | null {
  const first = rows[0];
  if (!first) return null;
  const withDomain = rows.filter((r) => r.aliasDomain);
  const alias = withDomain.find((r) => r.aliasId === preferredAliasId) ?? withDomain.find((r) => r.aliasId === r.ownAliasId) ?? withDomain[0];
  return {
    id: first.id,
    subject: first.subject,
    aliasAddress: alias?.aliasAddress ?? null,
    aliasDomain: alias?.aliasDomain ?? null,
    domain: first.domain,
    messageIds: [...new Set(keys.map((k) => k.key))],
  };
}

/** Recipients once each, in the header they first appear in (To, then Cc, then Bcc), in canonical form. */
export function recipientsOf(content: Pick<DraftContent, "to" | "cc" | "bcc">): DraftRecipient[] {
  const seen = new Set<string>();
  const out: DraftRecipient[] = [];
  for (const [kind, list] of [
    ["to", content.to],
    ["cc", content.cc],
    ["bcc", content.bcc],
  ] as const) {
    for (const m of list) {
      // The envelope and every lookup (suppression, bounces) use the canonical form.
      const address = normalizeAddress(m.address) ?? m.address;
      if (seen.has(address)) continue;
      seen.add(address);
      out.push({ address, name: m.name, kind });
    }
  }
  return out;
}

/** Stores nothing, so a caller may draft again: notify.ts drafts a copy without its attachments when the first draft is too large for the relay. */
export async function draftMessage(
  env: Env,
  [relayRows, domainRows]: PlanningRows,
  input: { rowId: string; now: number; content: DraftContent; thread: PlanThread | null },
): Promise<DraftResult> {
  const { content, thread, rowId } = input;
  const domain = domainFor(domainRows, content.author, thread);
  const bounceAddress = domain ? await verpAddress(env.SECRETS_KEY, domain.bounce, domain.name, rowId) : null;
  const plan = planMessage({
    rowId,
    author: content.author,
    replyTo: content.replyTo,
    stream: content.stream,
    relays: relayRows.map((r) => ({ ...r, fixedSender: fixedSenderOf(r) })),
    domain,
    thread,
    subject: content.subject,
    bounceAddress,
  });
  if (!plan) return { ok: false, refusal: { reason: "no_relay" } };

  const recipients = recipientsOf(content);
  const unsubscribe = content.stream === "mass" || content.listUnsubscribe === true ? await unsubscribeHeaders(env, domainRows, plan, rowId, recipients) : {};
  const raw = new TextEncoder().encode(
    compose({
      from: plan.sender.from,
      to: content.to,
      cc: content.cc,
      replyTo: plan.sender.replyTo,
      subject: content.subject,
      text: content.text,
      html: content.html,
      attachments: content.attachments,
      headers: { ...content.headers, ...unsubscribe },
      messageId: plan.messageId,
      inReplyTo: plan.inReplyTo,
      references: plan.references,
      date: new Date(input.now),
    }),
  );
  const limit = maxSizeOf(plan.relay);
  if (raw.byteLength > limit) return { ok: false, refusal: { reason: "too_large", size: raw.byteLength, limit, relay: plan.relay.name } };
  return { ok: true, draft: { rowId, plan, raw, bounceAddress, recipients } };
}

/**
 * List-Unsubscribe and List-Unsubscribe-Post for a message to one
 * recipient: the link under PUBLIC_URL, and the mailto address on the
 * From's domain when we serve it (else the message's own domain), so that
 * mail comes back to `email()`. A message to several recipients gets none:
 * one copy of the MIME goes to all of them, and a link in it could only
 * name them all (the send API refuses such a message before it gets here).
 */
async function unsubscribeHeaders(env: Env, domainRows: PlanDomain[], plan: SendPlan, rowId: string, recipients: DraftRecipient[]): Promise<Record<string, string>> {
  const [recipient, ...others] = recipients;
  if (!recipient || others.length) return {};
  const fromDomain = domainOf(plan.sender.from.address).toLowerCase();
  const domain = domainRows.find((d) => d.name === fromDomain) ?? plan.domain;
  return listUnsubscribeHeaders({ publicUrl: env.PUBLIC_URL, domain, token: await unsubscribeToken(env.SECRETS_KEY, rowId, recipient.address) });
}

/**
 * Where an outbound message's MIME lives in R2, named by its row id: a
 * notification the queue runs again (same derived id) writes the same
 * object.
 */
export const rawKeyOf = (draft: Draft) => `out/${draft.rowId}.eml`;

/**
 * Stored before the D1 batch that points at it, so a committed row never
 * names a missing object; a failed batch leaves an orphan (send.ts deletes
 * it).
 */
export async function storeDraftRaw(env: Env, draft: Draft): Promise<string> {
  const key = rawKeyOf(draft);
  await env.RAW.put(key, draft.raw, { httpMetadata: { contentType: "message/rfc822" } });
  return key;
}

/**
 * The rows of a queued outbound message: the message (due now), its
 * recipients, and its place in the thread (so replies find it).
 * `onConflictDoNothing`: a notification run repeated by the queue writes
 * the same ids again and changes nothing.
 */
export function draftStatements(
  db: Db,
  draft: Draft,
  meta: {
    content: DraftContent;
    threadId: string;
    apiKeyId: string | null;
    at: Date;
    /** Why the message is sent: the decision's reason and what belongs to it. */
    decision: { reason: "send" } | { reason: "notification"; notification_of: string; delivery_id: string };
  },
): BatchItem<"sqlite">[] {
  const { plan, rowId } = draft;
  const { content, at } = meta;
  return [
    db
      .insert(messages)
      .values({
        id: rowId,
        direction: "out",
        status: "queued",
        messageId: plan.messageId,
        mailFrom: plan.sender.envelopeFrom,
        rcptTo: draft.recipients[0]!.address,
        fromAddress: plan.sender.from.address,
        fromName: plan.sender.from.name || null,
        to: content.to,
        cc: content.cc,
        subject: content.subject,
        size: draft.raw.byteLength,
        rawKey: rawKeyOf(draft),
        decision: {
          outcome: "accepted",
          relay_id: plan.relay.id,
          selection: plan.step,
          from_rewrite: plan.sender.rewrite,
          author: content.author,
          bounce_address: draft.bounceAddress,
          ...meta.decision,
        },
        relayId: plan.relay.id,
        bounceAddress: draft.bounceAddress,
        apiKeyId: meta.apiKeyId,
        stream: content.stream,
        nextAttemptAt: at,
        createdAt: at,
        updatedAt: at,
      })
      .onConflictDoNothing(),
    ...chunks(draft.recipients, 12).map((list) =>
      db
        .insert(outboundRecipients)
        .values(list.map((r) => ({ messageId: rowId, address: r.address, name: r.name || null, kind: r.kind, status: "pending" as const, updatedAt: at })))
        .onConflictDoNothing(),
    ),
    db
      .insert(messageThreads)
      .values({ messageId: rowId, threadId: meta.threadId, aliasId: null, messageKey: plan.messageId, routeKey: `out:${meta.threadId}`, createdAt: at })
      .onConflictDoNothing(),
    rawExpiryStatement(db, rowId),
  ];
}
