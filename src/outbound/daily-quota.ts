/**
 * Relays' daily limits: one row per relay and UTC day, counted up by one
 * conditional upsert (so concurrent consumers cannot pass the limit), and
 * down again when the relay failed and the message goes elsewhere.
 */
import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { relayUsage } from "../db/schema";

/** The key of a day's usage row, `YYYY-MM-DD` in UTC, so every consumer agrees on when the day, and its limit, starts again. */
export const utcDay = (now: number) => new Date(now).toISOString().slice(0, 10);

/** Takes one of the relay's daily slots; false when the day's limit is reached. */
export async function reserveSlot(db: Db, relayId: string, limit: number, now: number): Promise<boolean> {
  const rows = await db
    .insert(relayUsage)
    .values({ relayId, day: utcDay(now), count: 1 })
    .onConflictDoUpdate({ target: [relayUsage.relayId, relayUsage.day], set: { count: sql`${relayUsage.count} + 1` }, setWhere: sql`${relayUsage.count} < ${limit}` })
    .returning({ count: relayUsage.count });
  return rows.length > 0;
}

/** Gives a slot back (the relay failed; the message was not sent through it). */
export async function releaseSlot(db: Db, relayId: string, now: number): Promise<void> {
  await db
    .update(relayUsage)
    .set({ count: sql`max(${relayUsage.count} - 1, 0)` })
    .where(and(eq(relayUsage.relayId, relayId), eq(relayUsage.day, utcDay(now))));
}
