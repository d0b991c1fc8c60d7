/**
 * The sweepers (scheduled, every 5 minutes): work stored as due whose queue
 * message was lost (a send that could not be queued, a retry whose queue
 * message never came, a consumer that died past its lease) is queued
 * again. Overdue means due more than 10 minutes ago and not held; at most
 * 100 of each kind per run, the oldest first come back next run.
 */
import { and, eq, inArray, isNull, lt, or } from "drizzle-orm";
import { type Db, inJson } from "../db/client";
import { deliveries, messages } from "../db/schema";
import type { Env } from "../env";
import { enqueue } from "./enqueue";
import type { Job } from "./jobs";

const OVERDUE_AFTER_MS = 10 * 60_000;
const PER_RUN = 100;

interface Sweep {
  kind: Job["kind"];
  overdue(db: Db, now: number): Promise<{ id: string }[]>;
  /** Marks what was queued as due now, so the next run does not queue it again. */
  requeued(db: Db, ids: string[], now: number): Promise<unknown>;
}

const SWEEPS: Sweep[] = [
  {
    kind: "send",
    overdue: (db, now) =>
      db
        .select({ id: messages.id })
        .from(messages)
        .where(
          and(
            eq(messages.direction, "out"),
            eq(messages.status, "queued"),
            lt(messages.nextAttemptAt, new Date(now - OVERDUE_AFTER_MS)),
            or(isNull(messages.leaseUntil), lt(messages.leaseUntil, new Date(now))),
          ),
        )
        .limit(PER_RUN),
    requeued: (db, ids, now) =>
      db
        .update(messages)
        .set({ nextAttemptAt: new Date(now) })
        .where(inJson(messages.id, ids)),
  },
  {
    kind: "deliver",
    overdue: (db, now) =>
      db
        .select({ id: deliveries.id })
        .from(deliveries)
        .where(
          and(
            eq(deliveries.status, "pending"),
            inArray(deliveries.type, ["webhook", "notify", "event_hook", "odoo"]),
            lt(deliveries.nextAttemptAt, new Date(now - OVERDUE_AFTER_MS)),
          ),
        )
        .limit(PER_RUN),
    requeued: (db, ids, now) =>
      db
        .update(deliveries)
        .set({ nextAttemptAt: new Date(now) })
        .where(inJson(deliveries.id, ids)),
  },
];

/** Queues overdue work of every kind; answers how many of each were queued. */
export async function sweepQueues(env: Env, db: Db, now: number): Promise<Record<Job["kind"], number>> {
  // Fetch jobs are not swept: the cron queues every enabled server anyway (src/incoming/fetch.ts).
  const counts = { send: 0, deliver: 0, fetch: 0 };
  await Promise.all(
    SWEEPS.map(async (sweep) => {
      const ids = (await sweep.overdue(db, now)).map((r) => r.id);
      if (
        !ids.length ||
        !(await enqueue(
          env,
          ids.map((id) => ({ kind: sweep.kind, id })),
        ))
      )
        return;
      await sweep.requeued(db, ids, now);
      counts[sweep.kind] = ids.length;
    }),
  );
  return counts;
}
