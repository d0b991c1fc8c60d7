/**
 * Read-only views the console's pages need and no other endpoint gives
 * (admin token): `GET /v1/overview` (the last 7 days in and out by outcome
 * and reason, delivery events, relays' use of their daily limits today,
 * queue backlog, what is failing now) and `GET /v1/search/messages` (the
 * message list with the address and date filters as well).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { and, asc, count, eq, gt, gte, isNull, lt, type SQL, sql } from "drizzle-orm";
import { attempts, deliveries, messages, outboundEvents, relayUsage } from "../db/schema";
import { newId } from "../ids";
import { backlogQueries, startOfUtcDay, utcDate } from "../usage";
import { router } from "./context";
import { inThread, listMessages, MessageSchema } from "./messages";
import { ListQuery, listOf } from "./pagination";
import { errorResponses, iso, json, security, Timestamp } from "./schemas";

const DAY_MS = 24 * 3600_000;
/** Days the overview covers, today included (today last). */
export const OVERVIEW_DAYS = 7;
/** Relays whose attempts failed in this window count as erroring. */
const RELAY_WINDOW_MS = DAY_MS;
/** The retrying deliveries listed (the count covers them all). */
const RETRYING_SHOWN = 20;

const Count = z.number().int().min(0);
const Counts = z.record(z.string(), Count);

const OverviewSchema = z
  .object({
    days: z
      .array(
        z.object({
          date: z.string().openapi({ example: "2026-11-21", description: "A UTC day" }),
          in: z.object({ total: Count, by_status: Counts, by_reason: Counts.openapi({ description: "`decision.reason`: routed, bounce, no_route, sender_loop, duplicate, …" }) }),
          out: z.object({ total: Count, by_status: Counts }),
          events: Counts.openapi({ description: "Outbound delivery events that day, by type: delivered, deferred, bounced, complained, failed, unsubscribed" }),
        }),
      )
      .openapi({ description: `The last ${OVERVIEW_DAYS} UTC days, today last (zeros included)` }),
    relays_today: z.array(z.object({ relay_id: z.string(), count: Count })).openapi({ description: "Messages each relay took today (UTC), as counted against its daily limit" }),
    backlog: z.object({
      queued: Count.openapi({ description: "Outbound messages queued and due" }),
      deliveries: Count.openapi({ description: "Pending deliveries (webhooks, notifications, Odoo, event hooks) due" }),
      overdue: Count.openapi({ description: "Of both, the ones due more than 10 minutes ago" }),
    }),
    retrying: z.object({
      count: Count,
      items: z.array(
        z.object({
          id: z.string(),
          message_id: z.string(),
          type: z.string(),
          target: z.string().nullable(),
          attempts: Count,
          last_error: z.string().nullable(),
          next_attempt_at: Timestamp.nullable(),
        }),
      ),
    }),
    relay_errors: z
      .array(z.object({ relay_id: z.string(), failures: Count, last_result: z.string(), last_error: z.string().nullable(), last_at: Timestamp }))
      .openapi({ description: "Relays with failed attempts (relay_error or failed) in the last 24 hours; `last_*` is the relay's latest attempt, failed or not" }),
  })
  .openapi("Overview");

/** The smallest id of a row made at `time` or later: ids start with their time (src/ids.ts), so a range of ids is a range of times on the primary key. */
function firstIdAt(time: number): string {
  return newId("msg", time).slice(0, "msg_".length + 10);
}

export const overviewApi = router();

overviewApi.openapi(
  createRoute({
    method: "get",
    path: "/overview",
    tags: ["usage"],
    summary: "The last 7 days in and out by outcome and reason, relays' daily use, backlog, and what is failing now",
    security,
    responses: { 200: json(OverviewSchema, "The overview"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const now = c.get("clock")();
    const today = startOfUtcDay(now);
    const from = today - (OVERVIEW_DAYS - 1) * DAY_MS;
    const day = sql<string>`strftime('%Y-%m-%d', ${messages.createdAt} / 1000, 'unixepoch')`;
    const eventDay = sql<string>`strftime('%Y-%m-%d', ${outboundEvents.occurredAt} / 1000, 'unixepoch')`;
    const reason = sql<string>`json_extract(${messages.decision}, '$.reason')`;
    const retryingWhere = and(eq(deliveries.status, "pending"), gt(deliveries.attempts, 0));
    const [messageRows, eventRows, usageRows, queued, pending, retryingCount, retryingRows, relayRows] = await db.batch([
      db
        .select({ day: day.as("day"), direction: messages.direction, status: messages.status, reason: reason.as("reason"), n: count() })
        .from(messages)
        .where(and(gte(messages.id, firstIdAt(from)), gte(messages.createdAt, new Date(from)), isNull(messages.erasedAt)))
        .groupBy(sql`day`, messages.direction, messages.status, sql`reason`),
      db
        .select({ day: eventDay.as("day"), type: outboundEvents.type, n: count() })
        .from(outboundEvents)
        .where(gte(outboundEvents.occurredAt, new Date(from)))
        .groupBy(sql`day`, outboundEvents.type),
      db
        .select({ relayId: relayUsage.relayId, count: relayUsage.count })
        .from(relayUsage)
        .where(eq(relayUsage.day, utcDate(now))),
      ...backlogQueries(db, now),
      db.select({ n: count() }).from(deliveries).where(retryingWhere),
      db.select().from(deliveries).where(retryingWhere).orderBy(asc(deliveries.nextAttemptAt)).limit(RETRYING_SHOWN),
      // SQLite takes the bare columns of an aggregate query from the row max() picked: each relay's latest attempt.
      db
        .select({
          relayId: attempts.relayId,
          failures: sql<number>`sum(${attempts.result} in ('relay_error', 'failed'))`,
          lastId: sql<number>`max(${attempts.id})`,
          lastResult: attempts.result,
          lastError: attempts.error,
          lastAt: attempts.startedAt,
        })
        .from(attempts)
        .where(gte(attempts.startedAt, new Date(now - RELAY_WINDOW_MS)))
        .groupBy(attempts.relayId),
    ]);

    const days = Array.from({ length: OVERVIEW_DAYS }, (_, i) => ({
      date: utcDate(from + i * DAY_MS),
      in: { total: 0, by_status: {} as Record<string, number>, by_reason: {} as Record<string, number> },
      out: { total: 0, by_status: {} as Record<string, number> },
      events: {} as Record<string, number>,
    }));
    const byDate = new Map(days.map((d) => [d.date, d]));
    const add = (counts: Record<string, number>, key: string | null, n: number) => {
      const name = key ?? "unknown";
      counts[name] = (counts[name] ?? 0) + n;
    };
    for (const row of messageRows) {
      const entry = byDate.get(row.day);
      if (!entry) continue;
      const n = Number(row.n);
      const side = row.direction === "in" ? entry.in : entry.out;
      side.total += n;
      add(side.by_status, row.status, n);
      if (row.direction === "in") add(entry.in.by_reason, row.reason, n);
    }
    for (const row of eventRows) {
      const entry = byDate.get(row.day);
      if (entry) add(entry.events, row.type, Number(row.n));
    }
    const q = queued[0];
    const p = pending[0];
    return c.json(
      {
        days,
        relays_today: usageRows.map((r) => ({ relay_id: r.relayId, count: Number(r.count) })),
        backlog: { queued: Number(q?.due ?? 0), deliveries: Number(p?.due ?? 0), overdue: Number(q?.overdue ?? 0) + Number(p?.overdue ?? 0) },
        retrying: {
          count: Number(retryingCount[0]?.n ?? 0),
          items: retryingRows.map((d) => ({
            id: d.id,
            message_id: d.messageId,
            type: d.type,
            target: d.target,
            attempts: d.attempts,
            last_error: d.lastError,
            next_attempt_at: d.nextAttemptAt ? iso(d.nextAttemptAt) : null,
          })),
        },
        relay_errors: relayRows
          .filter((r) => Number(r.failures) > 0)
          .map((r) => ({ relay_id: r.relayId, failures: Number(r.failures), last_result: r.lastResult, last_error: r.lastError, last_at: iso(r.lastAt) })),
      },
      200,
    );
  },
);

const SearchQuery = ListQuery.extend({
  direction: z.enum(["in", "out"]).optional(),
  status: z.string().max(20).optional(),
  thread_id: z.string().max(64).optional(),
  alias_id: z.string().max(64).optional(),
  address: z.string().trim().max(320).optional().openapi({ description: "Part of an address: the envelope sender or recipient, From, To or Cc (case-insensitive)" }),
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date, YYYY-MM-DD")
    .optional()
    .openapi({ description: "A UTC day: messages recorded that day" }),
});

/** Messages where some address contains `part` (lowercased). */
function mentions(part: string): SQL {
  const needle = part.toLowerCase();
  const inList = (column: typeof messages.to | typeof messages.cc) =>
    sql`exists (select 1 from json_each(${column}) where instr(lower(json_extract(value, '$.address')), ${needle}) > 0)`;
  return sql`(instr(lower(${messages.mailFrom}), ${needle}) > 0 or instr(lower(${messages.rcptTo}), ${needle}) > 0 or instr(lower(coalesce(${messages.fromAddress}, '')), ${needle}) > 0 or ${inList(messages.to)} or ${inList(messages.cc)})`;
}

overviewApi.openapi(
  createRoute({
    method: "get",
    path: "/search/messages",
    tags: ["messages"],
    summary: "List messages, newest first, with the address and date filters too",
    security,
    request: { query: SearchQuery },
    responses: { 200: json(listOf(MessageSchema, "MessageSearch"), "Messages"), ...errorResponses },
  }),
  async (c) => {
    const q = c.req.valid("query");
    let day: SQL | undefined;
    if (q.date) {
      const start = Date.parse(`${q.date}T00:00:00Z`);
      if (Number.isNaN(start)) return c.json({ error: { code: "invalid_request", message: "invalid query: date: not a date" } }, 400);
      day = and(
        gte(messages.id, firstIdAt(start)),
        lt(messages.id, firstIdAt(start + DAY_MS)),
        gte(messages.createdAt, new Date(start)),
        lt(messages.createdAt, new Date(start + DAY_MS)),
      );
    }
    const where = [
      q.direction ? eq(messages.direction, q.direction) : undefined,
      q.status ? eq(messages.status, q.status) : undefined,
      q.thread_id ? inThread(q.thread_id) : undefined,
      q.alias_id ? sql`exists (select 1 from message_threads mt where mt.message_id = "messages"."id" and mt.alias_id = ${q.alias_id})` : undefined,
      q.address ? mentions(q.address) : undefined,
      day,
    ];
    return c.json(await listMessages(c.get("db"), where, q), 200);
  },
);
