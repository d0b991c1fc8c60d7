/**
 * One outbound message from content to queue, shared by the send API and
 * follower notifications: plan it (relay, From, envelope, threading
 * headers), compose its MIME, then store it (R2, then rows for one D1
 * batch) and queue its id.
 */
import { asc, eq } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { chunks, type Db } from "../db/client";
import { domains, type Mailbox, messages, messageThreads, outboundRecipients, type RecipientKind, relays, type Stream } from "../db/schema";
import type { Env } from "../env";
import { asciiDomain } from "../mail/mime-header";
import { verpAddress } from "../mail/verp";
import { compose, type WrittenContent } from "./compose";
import { domainFor, type PlanDomain, planMessage, type PlanRelay, type PlanThread, type SendPlan } from "./plan";
import { fixedSenderOf, maxSizeOf } from "./relays";

export type SendJob = { kind: "send"; id: string };

export interface DraftContent extends WrittenContent {
  author: Mailbox;
  bcc: Mailbox[];
  /** Reply-To the caller asked for; null = the thread's alias or the catchall. */
  replyTo: Mailbox | null;
  stream: Stream;
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

export type DraftResult = { ok: true; draft: Draft } | { ok: false; reason: "no_relay" } | { ok: false; reason: "too_large"; size: number; limit: number; relay: string };

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

/** Recipients once each, in the header they first appear in (To, then Cc, then Bcc); envelope form (IDN in punycode). */
export function recipientsOf(content: Pick<DraftContent, "to" | "cc" | "bcc">): DraftRecipient[] {
  const seen = new Set<string>();
  const out: DraftRecipient[] = [];
  for (const [kind, list] of [
    ["to", content.to],
    ["cc", content.cc],
    ["bcc", content.bcc],
  ] as const) {
    for (const m of list) {
      const address = asciiDomain(m.address);
      if (seen.has(address)) continue;
      seen.add(address);
      out.push({ address, name: m.name, kind });
    }
  }
  return out;
}

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
  if (!plan) return { ok: false, reason: "no_relay" };

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
      headers: content.headers,
      messageId: plan.messageId,
      inReplyTo: plan.inReplyTo,
      references: plan.references,
      returnPath: bounceAddress,
      date: new Date(input.now),
    }),
  );
  const limit = maxSizeOf(plan.relay);
  if (raw.byteLength > limit) return { ok: false, reason: "too_large", size: raw.byteLength, limit, relay: plan.relay.name };
  return { ok: true, draft: { rowId, plan, raw, bounceAddress, recipients: recipientsOf(content) } };
}

export const rawKeyOf = (draft: Draft) => `out/${draft.rowId}.eml`;

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
  meta: { content: DraftContent; threadId: string; apiKeyId: string | null; at: Date; decision: Record<string, unknown> },
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
  ];
}
