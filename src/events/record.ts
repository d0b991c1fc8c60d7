/**
 * Applying tied events: the ones already recorded are left out (their
 * dedupe key), the rest carried out in one batch with the standing of
 * their addresses read first. Two copies of one event racing both pass
 * the first check; the unique dedupe key fails the second batch whole, and
 * it is read again, so each event changes things once.
 */
import { inArray } from "drizzle-orm";
import { type Db, isUniqueViolation } from "../db/client";
import { eventHooks, outboundEvents } from "../db/schema";
import type { Env } from "../env";
import { eventStatements, type StandingRows, standingOf, standingQueries, type TiedEvent } from "./apply";
import { enqueueEventHooks } from "./hooks";

export interface Applied {
  applied: TiedEvent[];
  /** Events recorded before (a provider's retry, a replay): nothing changed. */
  replayed: number;
}

/** Applies tied events once each; answers which were applied (for event hooks) and how many were seen before. */
export async function recordEvents(env: Pick<Env, "JOBS">, db: Db, events: TiedEvent[], now: number, attempt = 1): Promise<Applied> {
  if (!events.length) return { applied: [], replayed: 0 };
  const keys = [...new Set(events.map((e) => e.dedupeKey))];
  const [seen, hooks, ...standing] = await db.batch([
    db.select({ key: outboundEvents.dedupeKey }).from(outboundEvents).where(inArray(outboundEvents.dedupeKey, keys)),
    db.select({ id: eventHooks.id }).from(eventHooks).limit(1),
    ...standingQueries(
      db,
      events.map((e) => e.recipient),
      now,
    ),
  ]);
  const done = new Set(seen.map((s) => s.key));
  // Once each, even when a request carries the same event twice.
  const fresh = events.filter((e) => !done.has(e.dedupeKey) && done.add(e.dedupeKey));
  if (!fresh.length) return { applied: [], replayed: events.length };
  const anyHooks = hooks.length > 0;
  const statements = fresh.flatMap((event) => eventStatements(db, event, standingOf(event.recipient, standing as unknown as StandingRows), now, { anyHooks }).statements);
  try {
    await db.batch(statements as unknown as Parameters<Db["batch"]>[0]);
  } catch (error) {
    // A concurrent copy recorded some of them first: read again and apply what is still new.
    if (attempt === 1 && isUniqueViolation(error, "outbound_events")) return recordEvents(env, db, events, now, 2);
    throw error;
  }
  // Without any event hook there is nothing to queue (and no round trip to find out).
  if (hooks.length) {
    await enqueueEventHooks(
      env,
      db,
      fresh.map((e) => e.dedupeKey),
    );
  }
  return { applied: fresh, replayed: events.length - fresh.length };
}
