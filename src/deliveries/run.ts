/**
 * Queued deliveries of inbound mail: webhooks and follower notifications.
 * The queue carries delivery ids; each run records an attempt and settles
 * the delivery: delivered, failed, gone (a webhook answered 410), or
 * retried with exponential backoff until 24 hours after the mail arrived.
 * Retries are new queue messages (not `retry()`), so the queue's own retry
 * limit only counts our faults (D1 or R2 failing), and a delivery keeps its
 * id, which webhook receivers use to deduplicate.
 */
import { and, eq, inArray, lt } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type Db, database, inJson } from "../db/client";
import { deliveries, deliveryAttempts, messageEvents } from "../db/schema";
import type { Env } from "../env";
import { notifyFollowers } from "./notify";
import { postWebhook } from "./webhook";

export type DeliverJob = { kind: "deliver"; id: string };

export type DeliveryRow = typeof deliveries.$inferSelect;

export type DeliveryOutcome = {
  result: "delivered" | "retry" | "gone" | "failed";
  statusCode: number | null;
  error: string | null;
  detail?: Record<string, unknown>;
};

/** What a delivery run did: its outcome, rows to write with it (one transaction), and what to do once they are. */
export interface Handled {
  outcome: DeliveryOutcome;
  statements?: BatchItem<"sqlite">[];
  afterCommit?: () => Promise<void>;
}

/** Retries stop this long after the mail arrived. */
export const RETRY_WINDOW_MS = 24 * 3600_000;
const MAX_BACKOFF_SECONDS = 6 * 3600;
/** A job that comes this much before its delivery is due belongs to another run's chain of retries. */
const EARLY_SLACK_MS = 5_000;

/** 30 s, 1 min, 2 min, ... capped at 6 h. */
export function deliveryBackoffSeconds(attempt: number): number {
  return Math.min(30 * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_SECONDS);
}

export async function runDeliveries(env: Env, jobs: readonly Message<DeliverJob>[], now = Date.now()): Promise<void> {
  const db = database(env.DB);
  const rows = await db.select().from(deliveries).where(inArray(deliveries.id, jobs.map((j) => j.body.id)));
  const seen = new Set<string>();
  await Promise.all(
    jobs.map(async (job) => {
      const row = rows.find((r) => r.id === job.body.id);
      const duplicate = seen.has(job.body.id);
      seen.add(job.body.id);
      // Settled already (a queue redelivery, or a replay raced us), twice in this batch, or not due
      // yet (a late job the sweeper replaced, while this delivery's own retry is scheduled): nothing to do.
      if (!row || row.status !== "pending" || duplicate || (row.nextAttemptAt && row.nextAttemptAt.getTime() > now + EARLY_SLACK_MS)) return job.ack();
      try {
        await runOne(env, db, row, now);
        job.ack();
      } catch (error) {
        // Our fault (D1, R2): the queue tries again, backing off; its dead-letter queue ends it.
        console.error("mailgate: delivery run failed; the queue retries it", { delivery: row.id, error: String(error) });
        job.retry({ delaySeconds: deliveryBackoffSeconds(job.attempts) });
      }
    }),
  );
}

async function runOne(env: Env, db: Db, row: DeliveryRow, now: number): Promise<void> {
  const startedAt = new Date();
  const handled: Handled =
    row.type === "webhook"
      ? await postWebhook(env, db, row, now)
      : row.type === "notify"
        ? await notifyFollowers(env, db, row)
        : { outcome: { result: "failed", statusCode: null, error: `${row.type} is not a queued destination` } };
  let { outcome } = handled;
  const attempt = row.attempts + 1;
  let retryInSeconds: number | null = null;
  if (outcome.result === "retry") {
    const deadline = row.createdAt.getTime() + RETRY_WINDOW_MS;
    if (now >= deadline) outcome = { ...outcome, result: "failed", error: `gave up after 24 hours: ${outcome.error}` };
    else retryInSeconds = Math.max(1, Math.min(deliveryBackoffSeconds(attempt), Math.ceil((deadline - now) / 1000)));
  }
  const at = new Date(now);
  const status = outcome.result === "delivered" ? "delivered" : outcome.result === "retry" ? "pending" : "failed";
  const [, settled] = await db.batch([
    db.insert(deliveryAttempts).values({ deliveryId: row.id, result: outcome.result, statusCode: outcome.statusCode, error: outcome.error, startedAt, finishedAt: new Date() }),
    db
      .update(deliveries)
      .set({ status, attempts: attempt, lastError: outcome.error, nextAttemptAt: retryInSeconds === null ? null : new Date(now + retryInSeconds * 1000), updatedAt: at })
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
  if (retryInSeconds !== null) await env.JOBS.send({ kind: "deliver", id: row.id } satisfies DeliverJob, { delaySeconds: retryInSeconds });
}

/** Re-queues pending webhook and notification deliveries whose queue message was lost: due more than 10 minutes ago. */
export async function sweepDeliveries(env: Env, now = Date.now()): Promise<number> {
  const db = database(env.DB);
  const overdue = await db
    .select({ id: deliveries.id })
    .from(deliveries)
    .where(and(eq(deliveries.status, "pending"), inArray(deliveries.type, ["webhook", "notify"]), lt(deliveries.nextAttemptAt, new Date(now - 10 * 60_000))))
    .limit(100);
  if (!overdue.length) return 0;
  const ids = overdue.map((d) => d.id);
  await env.JOBS.sendBatch(ids.map((id) => ({ body: { kind: "deliver", id } satisfies DeliverJob })));
  await db.update(deliveries).set({ nextAttemptAt: new Date(now) }).where(inJson(deliveries.id, ids));
  return ids.length;
}

/** Dead-letter queue: a delivery whose runs kept failing on our side is failed, and says so. */
export async function failExhaustedDeliveries(env: Env, jobs: readonly Message<DeliverJob>[], now = Date.now()): Promise<void> {
  const db = database(env.DB);
  const at = new Date(now);
  const ids = jobs.map((j) => j.body.id);
  const failed = await db
    .update(deliveries)
    .set({ status: "failed", lastError: "gave up: the queue ran out of retries", nextAttemptAt: null, updatedAt: at })
    .where(and(inArray(deliveries.id, ids), eq(deliveries.status, "pending")))
    .returning({ id: deliveries.id, messageId: deliveries.messageId, type: deliveries.type });
  if (failed.length) {
    await db.insert(messageEvents).values(failed.map((d) => ({ messageId: d.messageId, type: `${d.type}_failed`, detail: { delivery_id: d.id, error: "retries exhausted" }, createdAt: at })));
  }
  for (const job of jobs) job.ack();
}

