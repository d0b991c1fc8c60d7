/**
 * The dead-letter queue's consumer: a job whose runs kept failing on our
 * side (D1 or R2 down) ran out of the queue's retries. Its work is failed,
 * saying so, and the job is acknowledged: nothing retries it any more.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { deliveries, messageEvents, messages, outboundRecipients } from "../db/schema";
import type { DeliverJob, SendJob } from "./jobs";

const GAVE_UP = "gave up: the queue ran out of retries";

/** Outbound messages still queued are failed, with their pending recipients. */
export async function failExhaustedSends(db: Db, jobs: readonly Message<SendJob>[], now: number): Promise<void> {
  const at = new Date(now);
  for (const job of jobs) {
    const id = job.body.id;
    const updated = await db
      .update(messages)
      .set({ status: "failed", leaseUntil: null, nextAttemptAt: null, updatedAt: at })
      .where(and(eq(messages.id, id), eq(messages.status, "queued")))
      .returning({ id: messages.id });
    if (updated.length) {
      await db.batch([
        db
          .update(outboundRecipients)
          .set({ status: "failed", lastError: GAVE_UP, updatedAt: at })
          .where(and(eq(outboundRecipients.messageId, id), eq(outboundRecipients.status, "pending"))),
        db.insert(messageEvents).values({ messageId: id, type: "failed", detail: { reason: "retries exhausted", attempts: job.attempts }, createdAt: at }),
      ]);
    }
    job.ack();
  }
}

/** Webhook and notification deliveries still pending are failed. */
export async function failExhaustedDeliveries(db: Db, jobs: readonly Message<DeliverJob>[], now: number): Promise<void> {
  const at = new Date(now);
  const failed = await db
    .update(deliveries)
    .set({ status: "failed", lastError: GAVE_UP, nextAttemptAt: null, updatedAt: at })
    .where(
      and(
        inArray(
          deliveries.id,
          jobs.map((j) => j.body.id),
        ),
        eq(deliveries.status, "pending"),
      ),
    )
    .returning({ id: deliveries.id, messageId: deliveries.messageId, type: deliveries.type });
  if (failed.length) {
    await db
      .insert(messageEvents)
      .values(failed.map((d) => ({ messageId: d.messageId, type: `${d.type}_failed`, detail: { delivery_id: d.id, error: "retries exhausted" }, createdAt: at })));
  }
  for (const job of jobs) job.ack();
}
