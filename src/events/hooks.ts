/**
 * Event hooks (`POST /v1/event-hooks`): each outbound event recorded
 * becomes one delivery per hook subscribed to its type, in the same
 * transaction as the event (so a hook never misses one, and a replayed
 * event, which fails that transaction, never notifies twice). The hook of
 * an API key hears only about the mail that key sent; the admin's hears
 * about all. The deliveries then run like inbound webhooks
 * (src/deliveries/event-hook.ts): signed, retried, replayable.
 */
import { and, eq, inArray, isNull, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { deliveries, eventHooks, messages, outboundEvents } from "../db/schema";
import type { Env } from "../env";
import { enqueue } from "../queue/enqueue";

type Statement = BatchItem<"sqlite">;

/** The deliveries of the event recorded under `dedupeKey`: one per subscribed hook, with an id made of both (the same if written twice). */
export function eventHookStatement(db: Db, dedupeKey: string, now: number): Statement {
  const rows = db
    // Every column of `deliveries`, in its order (an INSERT … SELECT writes them by position).
    .select({
      id: sql<string>`'dlv_ev' || ${outboundEvents.id} || '_' || ${eventHooks.id}`.as("id"),
      messageId: outboundEvents.messageId,
      aliasId: sql<null>`null`.as("alias_id"),
      threadId: sql<null>`null`.as("thread_id"),
      type: sql<string>`'event_hook'`.as("type"),
      target: eventHooks.url,
      status: sql<string>`'pending'`.as("status"),
      attempts: sql<number>`0`.as("attempts"),
      lastError: sql<null>`null`.as("last_error"),
      nextAttemptAt: sql<number>`${now}`.as("next_attempt_at"),
      redeliveryOf: sql<null>`null`.as("redelivery_of"),
      eventId: outboundEvents.id,
      recordId: sql<null>`null`.as("record_id"),
      createdAt: sql<number>`${now}`.as("created_at"),
      updatedAt: sql<number>`${now}`.as("updated_at"),
    })
    .from(outboundEvents)
    .innerJoin(messages, eq(messages.id, outboundEvents.messageId))
    .innerJoin(eventHooks, or(isNull(eventHooks.apiKeyId), eq(eventHooks.apiKeyId, messages.apiKeyId)))
    .where(and(eq(outboundEvents.dedupeKey, dedupeKey), sql`exists (select 1 from json_each(${eventHooks.events}) where value = 'message.' || ${outboundEvents.type})`));
  return db
    .insert(deliveries)
    .select(rows as never)
    .onConflictDoNothing() as unknown as Statement;
}

/** Queues the hook deliveries of events just recorded (a lost queue message is found by the sweeper). */
export async function enqueueEventHooks(env: Pick<Env, "JOBS">, db: Db, dedupeKeys: string[]): Promise<void> {
  if (!dedupeKeys.length) return;
  const rows = await db
    .select({ id: deliveries.id })
    .from(deliveries)
    .innerJoin(outboundEvents, eq(outboundEvents.id, deliveries.eventId))
    .where(and(inArray(outboundEvents.dedupeKey, dedupeKeys), eq(deliveries.status, "pending")));
  await enqueue(
    env,
    rows.map((r) => ({ kind: "deliver", id: r.id })),
  );
}
