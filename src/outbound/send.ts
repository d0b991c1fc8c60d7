/**
 * Accepting a send request: check it against what D1 knows, draft the
 * message (relay, From, MIME; src/outbound/draft.ts), store it (R2, then
 * one D1 batch), and queue its id. Nothing is stored or queued for a
 * request that is refused.
 */
import { and, eq, gte, lt } from "drizzle-orm";
import { ApiError } from "../api/errors";
import { chunks, type Db, inJson, isUniqueViolation } from "../db/client";
import { contacts, followers, idempotencyKeys, messages, messageThreads, threads } from "../db/schema";
import { ownAliasesQuery } from "../db/own-aliases";
import { isOwnAddress } from "../mail/own-address";
import type { Env } from "../env";
import { newId } from "../ids";
import { enqueue } from "../queue/enqueue";
import { domainOf, normalizeAddress } from "../mail/address";
import { formatMailbox } from "../mail/mime-header";
import { type DraftContent, draftMessage, draftStatements, type PlanningRows, planningQueries, planThreadOf, recipientsOf, storeDraftRaw, threadQueries } from "./draft";

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
  now: number,
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
    db
      .select({ email: contacts.email })
      .from(contacts)
      .where(and(eq(contacts.suppressed, true), inJson(contacts.email, recipients.map((r) => r.address)))),
    ownAliasesQuery(db, followerCandidates.map((f) => f.email)),
    ...threadStatements,
  ]);

  if (suppressed.length) {
    throw new ApiError("unprocessable", `suppressed recipients (they bounced or complained; remove the suppression first): ${suppressed.map((s) => s.email).join(", ")}`);
  }
  // A key is told the same whether the thread does not exist or is someone else's.
  if (request.threadId && requester.apiKeyId && !ownMessages.length) throw new ApiError("not_found", `thread ${request.threadId} not found`);
  const thread = planThreadOf(threadRows, threadIds);
  if (request.threadId && !thread) throw new ApiError("unprocessable", `thread ${request.threadId} does not exist`);

  const drafted = await draftMessage(env, [relayRows, domainRows] as PlanningRows, { rowId: newId("msg", now), now, content: request, thread });
  if (!drafted.ok) {
    switch (drafted.reason) {
      case "no_relay":
        throw new ApiError("unprocessable", "no relay is enabled: create one with POST /v1/relays");
      case "too_large":
        throw new ApiError("payload_too_large", `the message is ${drafted.size} bytes once composed; relay "${drafted.relay}" takes at most ${drafted.limit}`);
      case "uncomposable":
        throw new ApiError("unprocessable", drafted.error);
    }
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
      if (stored) return { answer: stored, replayed: true };
    }
    throw error;
  }
  await enqueue(env, [{ kind: "send", id: draft.rowId }]);
  return { answer, replayed: false };
}
