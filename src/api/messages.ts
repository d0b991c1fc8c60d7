/** `/v1/messages`: every message in or out, with the decision taken and its trace. */
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, eq, isNull, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { attempts, deliveries, deliveryAttempts, eventHooks, messageEvents, messages, outboundRecipients } from "../db/schema";
import { StoredDecisionSchema } from "../decision";
import { redeliver } from "../deliveries/redeliver";
import { eraseMessage } from "../erasure";
import { type Principal, router } from "./context";
import { ApiError, notFound } from "./errors";
import { downloadHeaders } from "./files";
import { keyset, ListQuery, listOf } from "./pagination";
import { errorResponses, iso, json, jsonBody, MailboxSchema, security, Timestamp, unprocessableResponse } from "./schemas";

// Written out with table names: drizzle leaves columns unqualified inside a correlated subquery.
const threadIdsColumn = sql<string>`(select json_group_array(mt.thread_id) from message_threads mt where mt.message_id = "messages"."id")`;

const messageColumns = {
  id: messages.id,
  direction: messages.direction,
  status: messages.status,
  messageId: messages.messageId,
  mailFrom: messages.mailFrom,
  rcptTo: messages.rcptTo,
  fromAddress: messages.fromAddress,
  fromName: messages.fromName,
  to: messages.to,
  cc: messages.cc,
  subject: messages.subject,
  size: messages.size,
  rawKey: messages.rawKey,
  decision: messages.decision,
  relayId: messages.relayId,
  fetchedFrom: messages.fetchedFrom,
  apiKeyId: messages.apiKeyId,
  createdAt: messages.createdAt,
  erasedAt: messages.erasedAt,
  threadIds: threadIdsColumn,
};

type MessageSummaryRow = {
  [K in keyof typeof messageColumns]: K extends "threadIds" ? string : (typeof messages.$inferSelect)[Exclude<K, "threadIds"> & keyof typeof messages.$inferSelect];
};

const DecisionSchema = StoredDecisionSchema.openapi("Decision", {
  description: "Why the message went where it went: the outcome, a stable reason code, and what was found (routes, refusals, bounce) or chosen (relay, From rewrite)",
});

export const MessageSchema = z
  .object({
    id: z.string(),
    direction: z.enum(["in", "out"]),
    status: z.string(),
    message_id: z.string(),
    thread_id: z.string().nullable(),
    thread_ids: z.array(z.string()),
    from: MailboxSchema.nullable(),
    mail_from: z.string(),
    rcpt_to: z.string(),
    to: z.array(MailboxSchema),
    cc: z.array(MailboxSchema),
    subject: z.string().nullable(),
    size: z.number().int(),
    has_raw: z.boolean(),
    decision: DecisionSchema,
    relay_id: z.string().nullable().openapi({ description: "Outbound: the relay that sent it (or was chosen)" }),
    fetched_from: z.string().nullable().openapi({ description: "Inbound: the incoming server it was fetched from; null for mail Email Routing handed over" }),
    created_at: Timestamp,
  })
  .openapi("Message");

const DeliveryAttemptSchema = z
  .object({
    result: z.enum(["delivered", "retry", "gone", "failed"]),
    status_code: z.number().int().nullable().openapi({ description: "Webhooks: the receiver's HTTP status" }),
    error: z.string().nullable(),
    started_at: Timestamp,
    finished_at: Timestamp,
  })
  .openapi("DeliveryAttempt");

const DeliverySchema = z
  .object({
    id: z.string().openapi({ description: "Webhooks: the payload's id, the same on every retry" }),
    type: z.enum(["store", "forward", "webhook", "odoo", "notify", "event_hook"]),
    target: z.string().nullable(),
    status: z.enum(["pending", "delivered", "failed"]),
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    alias_id: z.string().nullable(),
    thread_id: z.string().nullable(),
    next_attempt_at: Timestamp.nullable(),
    redelivery_of: z.string().nullable(),
    record_id: z.number().int().nullable().openapi({ description: "Odoo: the id of the record message_process answered (null: none yet, or Odoo kept no record)" }),
    history: z.array(DeliveryAttemptSchema).openapi({ description: "Webhooks and notifications: every try" }),
    updated_at: Timestamp,
  })
  .openapi("Delivery");

const EventSchema = z.object({ type: z.string(), at: Timestamp, detail: z.record(z.string(), z.unknown()).nullable() }).openapi("MessageEvent");

const RecipientSchema = z
  .object({
    address: z.string(),
    name: z.string().nullable(),
    kind: z.enum(["to", "cc", "bcc"]),
    status: z.enum(["pending", "sent", "deferred", "delivered", "failed", "bounced", "complained", "unsubscribed"]),
    source: z
      .enum(["smtp", "dsn", "provider_event", "list_unsubscribe"])
      .nullable()
      .openapi({ description: "Where the status was learned: the relay's answer at send time, a DSN, or the provider's event; null while pending" }),
    last_code: z.string().nullable(),
    last_error: z.string().nullable(),
  })
  .openapi("Recipient");

const AttemptSchema = z
  .object({
    relay_id: z.string(),
    result: z.string().openapi({ description: "sent, deferred, failed, partial, or relay_error (the relay itself failed)" }),
    envelope_from: z.string().nullable(),
    provider_message_id: z.string().nullable(),
    error: z.string().nullable(),
    recipients: z.array(z.object({ address: z.string(), status: z.string(), code: z.string().nullable(), message: z.string().nullable() })),
    started_at: Timestamp,
    finished_at: Timestamp,
  })
  .openapi("Attempt");

const MessageDetailSchema = MessageSchema.extend({
  deliveries: z.array(DeliverySchema).openapi({ description: "Inbound: each destination" }),
  recipients: z.array(RecipientSchema).openapi({ description: "Outbound: each recipient" }),
  attempts: z.array(AttemptSchema).openapi({ description: "Outbound: every delivery attempt" }),
  events: z.array(EventSchema),
}).openapi("MessageDetail");

/**
 * The list view of a message (the detail view adds to it). `thread_id` is
 * the first of `thread_ids`: mail routed to several aliases joins several
 * threads.
 */
export function messageOut(row: MessageSummaryRow): z.infer<typeof MessageSchema> {
  const threadIds = JSON.parse(row.threadIds) as string[];
  return {
    id: row.id,
    direction: row.direction,
    status: row.status,
    message_id: row.messageId,
    thread_id: threadIds[0] ?? null,
    thread_ids: threadIds,
    from: row.fromAddress ? { name: row.fromName ?? "", address: row.fromAddress } : null,
    mail_from: row.mailFrom,
    rcpt_to: row.rcptTo,
    to: row.to,
    cc: row.cc,
    subject: row.subject,
    size: row.size,
    has_raw: row.rawKey !== null,
    // Read through the schema: a stored decision the contract does not describe is our bug, and fails loudly.
    decision: StoredDecisionSchema.parse(row.decision),
    relay_id: row.relayId,
    fetched_from: row.fetchedFrom,
    created_at: iso(row.createdAt),
  };
}

/** API keys see only the messages they sent. */
function ownedBy(principal: Principal): SQL | undefined {
  return principal.kind === "key" ? eq(messages.apiKeyId, principal.id) : undefined;
}

function visibleTo(principal: Principal, row: { apiKeyId: string | null }): boolean {
  return principal.kind === "admin" || row.apiKeyId === principal.id;
}

/** A page of messages, newest first, matching `where`. */
export async function listMessages(db: Db, where: (SQL | undefined)[], query: z.infer<typeof ListQuery>) {
  const list = keyset(messages.id, "desc", query);
  const rows = await db
    .select(messageColumns)
    .from(messages)
    // Erased messages are tombstones for the duplicate check, not records anyone reads.
    .where(and(list.after, isNull(messages.erasedAt), ...where))
    .orderBy(list.orderBy)
    .limit(list.limit);
  return list.page(rows, (r) => r.id, messageOut);
}

/** Messages routed into `column` = `value` of message_threads (a thread, an alias). */
function routedThrough(column: "thread_id" | "alias_id", value: string): SQL {
  return sql`exists (select 1 from message_threads mt where mt.message_id = "messages"."id" and ${sql.identifier(`mt`)}.${sql.identifier(column)} = ${value})`;
}

/** Messages routed into a thread (through message_threads): the `thread_id` filter of the message list and GET /v1/threads/{id}/messages share it. */
export function inThread(threadId: string): SQL {
  return routedThrough("thread_id", threadId);
}

const ListMessagesQuery = ListQuery.extend({
  direction: z.enum(["in", "out"]).optional(),
  status: z.string().max(20).optional().openapi({ description: "accepted, refused, dropped (in); queued, sent, failed, bounced (out)" }),
  thread_id: z.string().max(64).optional(),
  alias_id: z.string().max(64).optional(),
  message_id: z.string().max(1000).optional().openapi({ description: "The RFC Message-ID, with its angle brackets" }),
});

const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" } }) });

export const messagesApi = router();

messagesApi.openapi(
  createRoute({
    method: "get",
    path: "/messages",
    tags: ["messages"],
    summary: "List messages, newest first",
    security,
    request: { query: ListMessagesQuery },
    responses: { 200: json(listOf(MessageSchema, "MessageList"), "Messages"), ...errorResponses },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const where = [
      ownedBy(c.get("principal")),
      q.direction ? eq(messages.direction, q.direction) : undefined,
      q.status ? eq(messages.status, q.status) : undefined,
      q.message_id ? eq(messages.messageId, q.message_id) : undefined,
      q.thread_id ? inThread(q.thread_id) : undefined,
      q.alias_id ? routedThrough("alias_id", q.alias_id) : undefined,
    ];
    return c.json(await listMessages(c.get("db"), where, q), 200);
  },
);

messagesApi.openapi(
  createRoute({
    method: "get",
    path: "/messages/{id}",
    tags: ["messages"],
    summary: "Get a message with its decision, deliveries and events",
    security,
    request: { params: IdParam },
    responses: { 200: json(MessageDetailSchema, "The message"), ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const db = c.get("db");
    const principal = c.get("principal");
    const [rows, allDeliveries, historyRows, recipientRows, attemptRows, eventRows, ownHooks] = await db.batch([
      db.select(messageColumns).from(messages).where(eq(messages.id, id)),
      db.select().from(deliveries).where(eq(deliveries.messageId, id)).orderBy(asc(deliveries.id)),
      db
        .select({
          deliveryId: deliveryAttempts.deliveryId,
          result: deliveryAttempts.result,
          statusCode: deliveryAttempts.statusCode,
          error: deliveryAttempts.error,
          startedAt: deliveryAttempts.startedAt,
          finishedAt: deliveryAttempts.finishedAt,
        })
        .from(deliveryAttempts)
        .innerJoin(deliveries, eq(deliveries.id, deliveryAttempts.deliveryId))
        .where(eq(deliveries.messageId, id))
        .orderBy(asc(deliveryAttempts.id)),
      db.select().from(outboundRecipients).where(eq(outboundRecipients.messageId, id)).orderBy(sql`rowid`),
      db.select().from(attempts).where(eq(attempts.messageId, id)).orderBy(asc(attempts.id)),
      db.select().from(messageEvents).where(eq(messageEvents.messageId, id)).orderBy(asc(messageEvents.id)),
      db
        .select({ id: eventHooks.id })
        .from(eventHooks)
        .where(eq(eventHooks.apiKeyId, principal.kind === "key" ? principal.id : "")),
    ]);
    const row = rows[0];
    if (!row || row.erasedAt || !visibleTo(principal, row)) throw notFound(`message ${id}`);
    // An API key sees the deliveries to its own event hooks, never the admin's (their URLs are the operator's).
    const deliveryRows = principal.kind === "admin" ? allDeliveries : allDeliveries.filter((d) => d.type !== "event_hook" || ownHooks.some((h) => d.id.endsWith(`_${h.id}`)));
    return c.json(
      {
        ...messageOut(row),
        deliveries: deliveryRows.map((d) => ({
          id: d.id,
          type: d.type,
          target: d.target,
          status: d.status,
          attempts: d.attempts,
          last_error: d.lastError,
          alias_id: d.aliasId,
          thread_id: d.threadId,
          next_attempt_at: d.status === "pending" && d.nextAttemptAt ? iso(d.nextAttemptAt) : null,
          redelivery_of: d.redeliveryOf,
          record_id: d.recordId,
          history: historyRows
            .filter((h) => h.deliveryId === d.id)
            .map((h) => ({
              result: h.result as "delivered" | "retry" | "gone" | "failed",
              status_code: h.statusCode,
              error: h.error,
              started_at: iso(h.startedAt),
              finished_at: iso(h.finishedAt),
            })),
          updated_at: iso(d.updatedAt),
        })),
        recipients: recipientRows.map((r) => ({
          address: r.address,
          name: r.name,
          kind: r.kind,
          status: r.status,
          source: r.source,
          last_code: r.lastCode,
          last_error: r.lastError,
        })),
        attempts: attemptRows.map((a) => ({
          relay_id: a.relayId,
          result: a.result,
          envelope_from: a.envelopeFrom,
          provider_message_id: a.providerMessageId,
          error: a.error,
          recipients: a.recipients,
          started_at: iso(a.startedAt),
          finished_at: iso(a.finishedAt),
        })),
        events: eventRows.map((e) => ({ type: e.type, at: iso(e.createdAt), detail: e.detail ?? null })),
      },
      200,
    );
  },
);

messagesApi.openapi(
  createRoute({
    method: "get",
    path: "/messages/{id}/raw",
    tags: ["messages"],
    summary: "Download the stored MIME",
    security,
    request: { params: IdParam },
    responses: { 200: { content: { "message/rfc822": { schema: z.string() } }, description: "The raw message" }, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const row = await c.get("db").select({ rawKey: messages.rawKey, apiKeyId: messages.apiKeyId }).from(messages).where(eq(messages.id, id)).get();
    if (!row || !visibleTo(c.get("principal"), row)) throw notFound(`message ${id}`);
    const object = row.rawKey ? await c.env.RAW.get(row.rawKey) : null;
    if (!object) throw notFound(`raw MIME of message ${id}`);
    return new Response(object.body, { headers: downloadHeaders(`${id}.eml`, "message/rfc822", object.size) });
  },
);

const RedeliverBody = z.strictObject({
  types: z
    .array(z.enum(["webhook", "odoo", "notify"]))
    .min(1)
    .default(["webhook"])
    .openapi({ description: "What to do again: post to the webhooks (default), hand to the Odoo databases, and/or notify the followers again" }),
});

const RedeliverAnswer = z
  .object({
    deliveries: z.array(z.object({ id: z.string(), type: z.string(), target: z.string().nullable(), redelivery_of: z.string() })),
    skipped: z.array(z.object({ id: z.string(), type: z.string(), reason: z.string() })),
  })
  .openapi("Redelivery");

messagesApi.openapi(
  createRoute({
    method: "post",
    path: "/messages/{id}/redeliver",
    tags: ["messages"],
    summary: "Send a stored inbound message to its destinations again (new deliveries, each naming the one it repeats)",
    security,
    request: { params: IdParam, body: jsonBody(RedeliverBody) },
    responses: { 202: json(RedeliverAnswer, "Queued"), ...unprocessableResponse, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const result = await redeliver(c.env, c.get("db"), id, c.req.valid("json").types, c.get("clock")());
    if (!result.ok) {
      switch (result.reason) {
        case "unknown_message":
          throw notFound(`message ${id}`);
        case "not_stored_inbound":
          throw new ApiError("unprocessable", "only stored inbound mail can be redelivered (send outbound mail again with POST /v1/messages)");
      }
    }
    return c.json({ deliveries: result.deliveries, skipped: result.skipped }, 202);
  },
);

messagesApi.openapi(
  createRoute({
    method: "delete",
    path: "/messages/{id}",
    tags: ["messages"],
    summary: "Erase a message: its content, addresses and raw copy go; a tombstone keeps the duplicate check and thread links working",
    security,
    request: { params: IdParam },
    responses: { 204: { description: "Erased" }, ...unprocessableResponse, ...errorResponses },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const result = await eraseMessage(c.env, c.get("db"), id, c.get("clock")());
    if (!result.ok) {
      switch (result.reason) {
        case "unknown_message":
          throw notFound(`message ${id}`);
        case "in_use":
          throw new ApiError("unprocessable", "the message is still queued for sending: erase it once it is sent or failed");
      }
    }
    return c.body(null, 204);
  },
);
