/**
 * Accepting a send request: check it against what D1 knows, draft the
 * message (relay, From, MIME; src/outbound/draft.ts), store it (R2, then
 * one D1 batch), and queue its id. Nothing is stored or queued for a
 * request that is refused.
 */
import { and, eq, gte, lt } from "drizzle-orm";
import { chunks, type Db, isUniqueViolation } from "../db/client";
import { ownAliasesQuery } from "../db/own-aliases";
import { followers, idempotencyKeys, messages, messageThreads, threads } from "../db/schema";
import type { Env } from "../env";
import { newId } from "../ids";
import { domainOf, normalizeAddress } from "../mail/address";
import { formatMailbox } from "../mail/mime-header";
import { isOwnAddress } from "../mail/own-address";
import type { Mailbox } from "../model";
import { enqueue } from "../queue/enqueue";
import { IDEMPOTENCY_HOURS } from "../retention";
import { suppressedAmong } from "../suppressions";
import { type DraftContent, draftMessage, draftStatements, type PlanningRows, planningQueries, planThreadOf, recipientsOf, storeDraftRaw, threadQueries } from "./draft";
import type { SendRefusal } from "./refusals";

export interface SendRequest extends DraftContent {
  threadId: string | null;
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
  /** Recipients left out because they are suppressed for this stream (they bounced, complained or unsubscribed). */
  suppressed: string[];
}

export type SendResult = { ok: true; answer: SendAnswer; replayed: boolean } | { ok: false; refusal: SendRefusal };

/** The answer given to the same key within its window: the same answer again, or a conflict when the request differs. */
async function storedAnswer(db: Db, scope: string, key: string, hash: string, since: Date): Promise<SendResult | null> {
  const row = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key), gte(idempotencyKeys.createdAt, since)))
    .get();
  if (!row) return null;
  if (row.requestHash !== hash) return { ok: false, refusal: { reason: "idempotency_conflict", key } };
  return { ok: true, answer: row.response as unknown as SendAnswer, replayed: true };
}

/** The work of POST /v1/messages. The same Idempotency-Key within 24 hours gets the first answer again, or a conflict when the request differs. */
export async function acceptSend(
  env: Env,
  db: Db,
  requester: Requester,
  request: SendRequest,
  idempotency: { key: string; hash: string } | null,
  now: number,
): Promise<SendResult> {
  const scope = requester.apiKeyId ?? "admin";
  const since = new Date(now - IDEMPOTENCY_HOURS * 3_600_000);
  if (idempotency) {
    const stored = await storedAnswer(db, scope, idempotency.key, idempotency.hash, since);
    if (stored) return stored;
  }

  const fromDomain = domainOf(request.author.address);
  if (requester.fromDomains && !requester.fromDomains.includes(fromDomain)) {
    return { ok: false, refusal: { reason: "forbidden_domain", domain: fromDomain, allowed: requester.fromDomains } };
  }
  const recipients = recipientsOf(request);

  // Recipients (and the author) follow the thread, so replies reach them (Odoo's partners on the
  // record), except our own addresses: they would be mailed the thread's notifications.
  const followerCandidates = [request.author, ...request.to, ...request.cc].map((m) => ({ email: normalizeAddress(m.address) ?? m.address, name: m.name }));
  const threadStatements = request.threadId
    ? ([
        ...threadQueries(db, request.threadId),
        // An API key may only continue threads it has sent into (threads hold other people's mail).
        db
          .select({ id: messages.id })
          .from(messageThreads)
          .innerJoin(messages, eq(messages.id, messageThreads.messageId))
          .where(and(eq(messageThreads.threadId, request.threadId), eq(messages.apiKeyId, requester.apiKeyId ?? "")))
          .limit(1),
      ] as const)
    : ([] as const);
  const [relayRows, domainRows, suppressed, ownAliases, threadRows = [], threadIds = [], ownMessages = []] = await db.batch([
    ...planningQueries(db),
    suppressedAmong(
      db,
      recipients.map((r) => r.address),
      request.stream,
    ),
    ownAliasesQuery(
      db,
      followerCandidates.map((f) => f.email),
    ),
    ...threadStatements,
  ]);

  // Suppressed recipients are left out before any relay sees them; only a send to nobody else is refused.
  const left = new Set(suppressed.map((s) => s.email));
  if (left.size && recipients.every((r) => left.has(r.address))) return { ok: false, refusal: { reason: "suppressed", recipients: [...left] } };
  const keep = (list: Mailbox[]) => list.filter((m) => !left.has(normalizeAddress(m.address) ?? m.address));
  if (left.size) request = { ...request, to: keep(request.to), cc: keep(request.cc), bcc: keep(request.bcc) };
  // A key is told the same whether the thread does not exist or is someone else's.
  const thread = planThreadOf(threadRows, threadIds);
  const visible = !requester.apiKeyId || ownMessages.length > 0;
  if (request.threadId && (!thread || !visible)) return { ok: false, refusal: { reason: "unknown_thread", threadId: request.threadId } };

  const drafted = await draftMessage(env, [relayRows, domainRows] as PlanningRows, { rowId: newId("msg", now), now, content: request, thread });
  if (!drafted.ok) return drafted;
  const { draft } = drafted;
  const { plan } = draft;

  const threadId = thread?.id ?? newId("thr", now);
  const at = new Date(now);
  const answer: SendAnswer = {
    id: draft.rowId,
    message_id: plan.messageId,
    status: "queued",
    thread_id: threadId,
    relay: { id: plan.relay.id, name: plan.relay.name, type: plan.relay.type },
    from: formatMailbox(plan.sender.from),
    envelope_from: plan.sender.envelopeFrom,
    suppressed: [...left],
  };
  const rawKey = await storeDraftRaw(env, draft);

  const followerList = followerCandidates.filter((f) => !isOwnAddress(f.email, domainRows, ownAliases));
  try {
    await db.batch([
      ...(idempotency
        ? [db.delete(idempotencyKeys).where(and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, idempotency.key), lt(idempotencyKeys.createdAt, since)))]
        : []),
      ...(thread
        ? [db.update(threads).set({ updatedAt: at }).where(eq(threads.id, threadId))]
        : [db.insert(threads).values({ id: threadId, subject: request.subject, domain: plan.domain?.name ?? null, createdAt: at, updatedAt: at })]),
      ...chunks(followerList, 20).map((list) =>
        db
          .insert(followers)
          .values(list.map((f) => ({ threadId, email: f.email, name: f.name || null, createdAt: at })))
          .onConflictDoNothing(),
      ),
      ...draftStatements(db, draft, { content: request, threadId, apiKeyId: requester.apiKeyId, at, decision: { reason: "send" } }),
      ...(idempotency
        ? [db.insert(idempotencyKeys).values({ scope, key: idempotency.key, requestHash: idempotency.hash, response: answer as unknown as Record<string, unknown>, createdAt: at })]
        : []),
    ] as unknown as Parameters<Db["batch"]>[0]);
  } catch (error) {
    await env.RAW.delete(rawKey);
    // A concurrent request with the same Idempotency-Key won: answer as it did.
    if (idempotency && isUniqueViolation(error, "idempotency_keys")) {
      const stored = await storedAnswer(db, scope, idempotency.key, idempotency.hash, since);
      if (stored) return stored;
    }
    throw error;
  }
  await enqueue(env, [{ kind: "send", id: draft.rowId }]);
  return { ok: true, answer, replayed: false };
}
