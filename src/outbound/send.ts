/**
 * Accepting a send request: check it against what D1 knows, draft the
 * message (relay, From, MIME; src/outbound/draft.ts), store it (R2, then
 * one D1 batch), and queue its id. Nothing is stored or queued for a
 * request that is refused.
 */
import { and, asc, eq, gte, lt } from "drizzle-orm";
import { ApiError } from "../api/errors";
import { chunks, type Db, inJson, isUniqueViolation } from "../db/client";
import { aliases, contacts, followers, idempotencyKeys, type Mailbox, messageThreads, threads } from "../db/schema";
import type { Env } from "../env";
import { newId } from "../ids";
import { enqueue } from "../queue";
import { domainOf } from "../mail/address";
import { formatMailbox } from "../mail/mime-header";
import { type DraftContent, draftMessage, draftStatements, type PlanningRows, planningQueries, recipientsOf, storeDraftRaw } from "./draft";
import type { PlanThread } from "./plan";

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
}

const IDEMPOTENCY_HOURS = 24;

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

  const fromDomain = domainOf(request.author.address);
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
    ...planningQueries(db),
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

  const drafted = await draftMessage(env, [relayRows, domainRows] as PlanningRows, { rowId: newId("msg", now), now, content: request, thread });
  if (!drafted.ok) {
    if (drafted.reason === "no_relay") throw new ApiError("unprocessable", "no relay is enabled: create one with POST /v1/relays");
    throw new ApiError("payload_too_large", `the message is ${drafted.size} bytes once composed; relay "${drafted.relay}" takes at most ${drafted.limit}`);
  }
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
  };
  const rawKey = await storeDraftRaw(env, draft);

  // Recipients (and the author) follow the thread: replies will reach them (Odoo's partners on the record).
  const followerList: Mailbox[] = [request.author, ...request.to, ...request.cc];
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
      if (stored) return { answer: stored, replayed: true };
    }
    throw error;
  }
  await enqueue(env, [{ kind: "send", id: draft.rowId }]);
  return { answer, replayed: false };
}
