/**
 * Accepting a send request: check it against what D1 knows, choose the
 * relay, compose the MIME, store it (R2, then one D1 batch), and queue its
 * id. Nothing is stored or queued for a request that is refused.
 */
import { and, asc, eq, gte, lt } from "drizzle-orm";
import { ApiError } from "../api/errors";
import { type Db, inJson, isUniqueViolation } from "../db/client";
import {
  aliases,
  contacts,
  domains,
  followers,
  idempotencyKeys,
  type Mailbox,
  messages,
  messageThreads,
  outboundRecipients,
  type RecipientKind,
  relays,
  type Stream,
  threads,
} from "../db/schema";
import type { Env } from "../env";
import { newId } from "../ids";
import { domainOf } from "../mail/address";
import { asciiDomain, formatMailbox } from "../mail/mime-header";
import { verpAddress } from "../mail/verp";
import { compose, type OutboundAttachment } from "./compose";
import { domainFor, planMessage, type PlanRelay, type PlanThread } from "./plan";
import { fixedSenderOf, maxSizeOf } from "./relays";

export interface SendRequest {
  from: Mailbox;
  to: Mailbox[];
  cc: Mailbox[];
  bcc: Mailbox[];
  replyTo: Mailbox | null;
  subject: string;
  text: string | null;
  html: string | null;
  attachments: OutboundAttachment[];
  headers: Record<string, string>;
  threadId: string | null;
  stream: Stream;
}

/** Who asks: an API key (maybe limited to some From domains) or the admin token. */
export interface Requester {
  apiKeyId: string | null;
  fromDomains: string[] | null;
}

export interface SendAnswer {
  id: string;
  message_id: string;
  status: "queued";
  thread_id: string;
  relay: { id: string; name: string; type: string };
  from: string;
  envelope_from: string;
}

export type SendJob = { kind: "send"; id: string };

const IDEMPOTENCY_HOURS = 24;

/** Rows per multi-row insert: D1 binds at most 100 parameters per statement. */
function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Recipients once each, in the header they first appear in (To, then Cc, then Bcc). */
function recipientsOf(request: SendRequest): { address: string; name: string; kind: RecipientKind }[] {
  const seen = new Set<string>();
  const out: { address: string; name: string; kind: RecipientKind }[] = [];
  for (const [kind, list] of [
    ["to", request.to],
    ["cc", request.cc],
    ["bcc", request.bcc],
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

async function storedAnswer(db: Db, scope: string, key: string, hash: string, since: Date): Promise<SendAnswer | null> {
  const row = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key), gte(idempotencyKeys.createdAt, since)))
    .get();
  if (!row) return null;
  if (row.requestHash !== hash) throw new ApiError("conflict", `Idempotency-Key "${key}" was used within 24 hours for a different request`);
  return row.response as unknown as SendAnswer;
}

export async function acceptSend(
  env: Env,
  db: Db,
  requester: Requester,
  request: SendRequest,
  idempotency: { key: string; hash: string } | null,
  now = Date.now(),
): Promise<{ answer: SendAnswer; replayed: boolean }> {
  const scope = requester.apiKeyId ?? "admin";
  const since = new Date(now - IDEMPOTENCY_HOURS * 3_600_000);
  if (idempotency) {
    const stored = await storedAnswer(db, scope, idempotency.key, idempotency.hash, since);
    if (stored) return { answer: stored, replayed: true };
  }

  const fromDomain = domainOf(request.from.address);
  if (requester.fromDomains && !requester.fromDomains.includes(fromDomain)) {
    throw new ApiError("forbidden", `this API key may not send from ${fromDomain} (allowed: ${requester.fromDomains.join(", ")})`);
  }
  const recipients = recipientsOf(request);

  const threadQueries = request.threadId
    ? ([
        db
          .select({ id: threads.id, subject: threads.subject, aliasAddress: aliases.address, aliasDomain: aliases.domain })
          .from(threads)
          .leftJoin(aliases, eq(aliases.id, threads.aliasId))
          .where(eq(threads.id, request.threadId)),
        db
          .select({ key: messageThreads.messageKey })
          .from(messageThreads)
          .where(eq(messageThreads.threadId, request.threadId))
          .orderBy(asc(messageThreads.createdAt), asc(messageThreads.messageId)),
      ] as const)
    : ([] as const);
  const [relayRows, domainRows, suppressed, threadRows = [], threadIds = []] = await db.batch([
    db
      .select({ id: relays.id, name: relays.name, type: relays.type, config: relays.config, fromFilter: relays.fromFilter, sequence: relays.sequence, stream: relays.stream })
      .from(relays)
      .where(eq(relays.enabled, true))
      .orderBy(asc(relays.sequence), asc(relays.id)),
    db
      .select({ name: domains.name, companyName: domains.companyName, catchall: domains.catchall, bounce: domains.bounce, defaultFrom: domains.defaultFrom })
      .from(domains)
      .orderBy(asc(domains.sequence), asc(domains.name)),
    db
      .select({ email: contacts.email })
      .from(contacts)
      .where(and(eq(contacts.suppressed, true), inJson(contacts.email, recipients.map((r) => r.address)))),
    ...threadQueries,
  ]);

  if (suppressed.length) {
    throw new ApiError("unprocessable", `suppressed recipients (they bounced or complained; remove the suppression first): ${suppressed.map((s) => s.email).join(", ")}`);
  }
  const threadRow = threadRows[0];
  if (request.threadId && !threadRow) throw new ApiError("unprocessable", `thread ${request.threadId} does not exist`);
  const thread: PlanThread | null = threadRow
    ? {
        id: threadRow.id,
        subject: threadRow.subject,
        aliasAddress: threadRow.aliasDomain ? threadRow.aliasAddress : null,
        aliasDomain: threadRow.aliasDomain,
        messageIds: [...new Set(threadIds.map((t) => t.key))],
      }
    : null;

  const rowId = newId("msg", now);
  const candidates: PlanRelay[] = relayRows.map((r) => ({
    id: r.id,
    name: r.name,
    type: r.type,
    config: r.config,
    fromFilter: r.fromFilter,
    sequence: r.sequence,
    stream: r.stream,
    fixedSender: fixedSenderOf(r),
  }));
  const domain = domainFor(domainRows, request.from, thread);
  const bounceAddress = domain ? await verpAddress(env.SECRETS_KEY, domain.bounce, domain.name, rowId) : null;
  const plan = planMessage({
    rowId,
    author: request.from,
    replyTo: request.replyTo,
    stream: request.stream,
    relays: candidates,
    domain,
    thread,
    subject: request.subject,
    bounceAddress,
  });
  if (!plan) throw new ApiError("unprocessable", "no relay is enabled: create one with POST /v1/relays");

  const raw = new TextEncoder().encode(
    compose({
      from: plan.sender.from,
      to: request.to,
      cc: request.cc,
      replyTo: plan.sender.replyTo,
      subject: request.subject,
      text: request.text,
      html: request.html,
      attachments: request.attachments,
      headers: request.headers,
      messageId: plan.messageId,
      inReplyTo: plan.inReplyTo,
      references: plan.references,
      returnPath: bounceAddress,
      date: new Date(now),
    }),
  );
  const limit = maxSizeOf(plan.relay);
  if (raw.byteLength > limit) {
    throw new ApiError("payload_too_large", `the message is ${raw.byteLength} bytes once composed; relay "${plan.relay.name}" takes at most ${limit}`);
  }

  const threadId = thread?.id ?? newId("thr", now);
  const at = new Date(now);
  const answer: SendAnswer = {
    id: rowId,
    message_id: plan.messageId,
    status: "queued",
    thread_id: threadId,
    relay: { id: plan.relay.id, name: plan.relay.name, type: plan.relay.type },
    from: formatMailbox(plan.sender.from),
    envelope_from: plan.sender.envelopeFrom,
  };
  const rawKey = `out/${rowId}.eml`;
  await env.RAW.put(rawKey, raw, { httpMetadata: { contentType: "message/rfc822" } });

  // Recipients (and the author) follow the thread: replies will reach them (Odoo's partners on the record).
  const followerList = [request.from, ...request.to, ...request.cc];
  try {
    await db.batch([
      ...(idempotency
        ? [db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, idempotency.key), lt(idempotencyKeys.createdAt, since)))]
        : []),
      ...(thread ? [db.update(threads).set({ updatedAt: at }).where(eq(threads.id, threadId))] : [db.insert(threads).values({ id: threadId, subject: request.subject, createdAt: at, updatedAt: at })]),
      ...chunks(followerList, 20).map((list) =>
        db
          .insert(followers)
          .values(list.map((f) => ({ threadId, email: f.address, name: f.name || null, createdAt: at })))
          .onConflictDoNothing(),
      ),
      db.insert(messages).values({
        id: rowId,
        direction: "out",
        status: "queued",
        messageId: plan.messageId,
        mailFrom: plan.sender.envelopeFrom,
        rcptTo: recipients[0]!.address,
        fromAddress: plan.sender.from.address,
        fromName: plan.sender.from.name || null,
        to: request.to,
        cc: request.cc,
        subject: request.subject,
        size: raw.byteLength,
        rawKey,
        decision: {
          outcome: "accepted",
          reason: "send",
          relay_id: plan.relay.id,
          selection: plan.step,
          from_rewrite: plan.sender.rewrite,
          author: request.from,
          bounce_address: bounceAddress,
        },
        relayId: plan.relay.id,
        apiKeyId: requester.apiKeyId,
        stream: request.stream,
        nextAttemptAt: at,
        createdAt: at,
        updatedAt: at,
      }),
      ...chunks(recipients, 12).map((list) =>
        db.insert(outboundRecipients).values(list.map((r) => ({ messageId: rowId, address: r.address, name: r.name || null, kind: r.kind, status: "pending" as const, updatedAt: at }))),
      ),
      db.insert(messageThreads).values({ messageId: rowId, threadId, aliasId: null, messageKey: plan.messageId, routeKey: `out:${threadId}`, createdAt: at }),
      ...(idempotency
        ? [db.insert(idempotencyKeys).values({ scope, key: idempotency.key, requestHash: idempotency.hash, response: answer as unknown as Record<string, unknown>, createdAt: at })]
        : []),
    ] as unknown as Parameters<Db["batch"]>[0]);
  } catch (error) {
    await env.RAW.delete(rawKey);
    // A concurrent request with the same Idempotency-Key won: answer as it did.
    if (idempotency && isUniqueViolation(error, "idempotency_keys")) {
      const stored = await storedAnswer(db, scope, idempotency.key, idempotency.hash, since);
      if (stored) return { answer: stored, replayed: true };
    }
    throw error;
  }

  try {
    await env.JOBS.send({ kind: "send", id: rowId } satisfies SendJob);
  } catch (error) {
    // Stored as queued and due now: the sweeper (scheduled) queues it again.
    console.error("mailgate: could not queue a send job; the sweeper will", { id: rowId, error: String(error) });
  }
  return { answer, replayed: false };
}
