/**
 * Queued deliveries of inbound mail: webhooks, Odoo databases and follower notifications.
 * The queue carries delivery ids; each run records an attempt and settles
 * the delivery (src/deliveries/settle.ts): delivered, failed, gone (a
 * webhook answered 410), or retried with exponential backoff until 24 hours
 * after the mail arrived. Retries are new queue messages (not `retry()`),
 * so the queue's own retry limit only counts our faults (D1 or R2 failing),
 * and a delivery keeps its id, which webhook receivers use to deduplicate.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type Db, database } from "../db/client";
import { deliveries, deliveryAttempts, messageEvents } from "../db/schema";
import type { Env } from "../env";
import { backoffSeconds } from "../queue/backoff";
import { enqueue } from "../queue/enqueue";
import type { DeliverJob } from "../queue/jobs";
import { postEventHook } from "./event-hook";
import { notifyFollowers } from "./notify";
import { deliverToOdoo } from "./odoo";
import { DELIVERY_BACKOFF, settleDelivery } from "./settle";
import type { DeliveryRow, Handled } from "./types";
import { postWebhook } from "./webhook";

/** A job that comes this much before its delivery is due belongs to another run's chain of retries. */
const EARLY_SLACK_MS = 5_000;

/**
 * The queue consumer for `deliver` jobs. The queue delivers at least once:
 * a job whose delivery is settled, repeated in the batch or not yet due is
 * acknowledged without work.
 */
export async function runDeliveries(env: Env, jobs: readonly Message<DeliverJob>[], now: number): Promise<void> {
  const db = database(env.DB);
  const rows = await db
    .select()
    .from(deliveries)
    .where(
      inArray(
        deliveries.id,
        jobs.map((j) => j.body.id),
      ),
    );
  const seen = new Set<string>();
  await Promise.all(
    jobs.map(async (job) => {
      const row = rows.find((r) => r.id === job.body.id);
      const duplicate = seen.has(job.body.id);
      seen.add(job.body.id);
      // Settled already (a queue redelivery, or a replay raced us), twice in this batch, or not due
      // yet (a late job the sweeper replaced, while this delivery's own retry is scheduled): nothing to do.
      if (row?.status !== "pending" || duplicate || (row.nextAttemptAt && row.nextAttemptAt.getTime() > now + EARLY_SLACK_MS)) return job.ack();
      try {
        await runOne(env, db, row, now);
        job.ack();
      } catch (error) {
        // Our fault (D1, R2): the queue tries again, backing off; its dead-letter queue ends it.
        console.error("mailgate: delivery run failed; the queue retries it", { delivery: row.id, error: String(error) });
        job.retry({ delaySeconds: backoffSeconds(job.attempts, DELIVERY_BACKOFF) });
      }
    }),
  );
}

function handle(env: Env, db: Db, row: DeliveryRow, now: number): Promise<Handled> {
  switch (row.type) {
    case "webhook":
      return postWebhook(env, db, row, now);
    case "odoo":
      return deliverToOdoo(env, db, row, now);
    case "notify":
      return notifyFollowers(env, db, row, now);
    case "event_hook":
      return postEventHook(env, db, row, now);
    case "store":
    case "forward":
      return Promise.resolve({ outcome: { result: "failed", statusCode: null, error: `${row.type} is not a queued destination` } });
  }
}

async function runOne(env: Env, db: Db, row: DeliveryRow, now: number): Promise<void> {
  const startedAt = new Date();
  const handled = await handle(env, db, row, now);
  const { outcome, status, attempts, retryInSeconds } = settleDelivery(row, handled.outcome, now);
  const at = new Date(now);
  const [, settled] = await db.batch([
    db.insert(deliveryAttempts).values({ deliveryId: row.id, result: outcome.result, statusCode: outcome.statusCode, error: outcome.error, startedAt, finishedAt: new Date() }),
    db
      .update(deliveries)
      .set({ status, attempts, lastError: outcome.error, nextAttemptAt: retryInSeconds === null ? null : new Date(now + retryInSeconds * 1000), updatedAt: at })
      // Only if no other run settled it meanwhile: then that run carries on, not this one.
      .where(and(eq(deliveries.id, row.id), eq(deliveries.status, "pending"), eq(deliveries.attempts, row.attempts)))
      .returning({ id: deliveries.id }),
    db.insert(messageEvents).values({
      messageId: row.messageId,
      type: `${row.type}_${outcome.result}`,
      detail: {
        delivery_id: row.id,
        ...(row.target && { target: row.target }),
        ...(outcome.statusCode !== null && { status_code: outcome.statusCode }),
        ...(outcome.error && { error: outcome.error }),
        ...(retryInSeconds !== null && { retry_in_seconds: retryInSeconds }),
        ...outcome.detail,
      },
      createdAt: at,
    }),
    ...(outcome.result === "delivered" ? (handled.statements ?? []) : []),
  ] as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
  if (!(settled as unknown[]).length) return;
  if (outcome.result === "delivered") await handled.afterCommit?.();
  // Not queued: the delivery stays due, and the sweeper queues it.
  if (retryInSeconds !== null) await enqueue(env, [{ kind: "deliver", id: row.id }], { delaySeconds: retryInSeconds });
}
