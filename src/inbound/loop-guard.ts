/**
 * The sender loop guard (Odoo's `_detect_loop_sender`): a sender may put at
 * most `loop_threshold` messages into one target (a route key: an alias
 * opening threads, a thread, or `bounce` for reports that tie to nothing we
 * sent) within `loop_minutes`.
 *
 * The count lives in D1 (`loop_entries`), because the count must be exact
 * under concurrency: of N messages racing from one sender into one target,
 * exactly the threshold get in, in tests and in production. D1 runs every
 * statement on its one primary, one at a time, so a single INSERT … SELECT
 * that counts and inserts is atomic: two deliveries can never both count
 * from the same value. (KV cannot do this: a write made more than a second
 * after a stale read overwrites the other, and nothing tells the writer.)
 *
 * - The routing lookup reads this sender's counts in its own D1 batch, so a
 *   sender already over the threshold is refused without a further query.
 * - An accepted delivery claims its targets all or none in one statement;
 *   when another delivery won the last slot, the claim inserts nothing and
 *   the delivery is decided again with the counts the same batch read.
 * - Entries are keyed by the delivery (Message-ID, recipient): a sender
 *   retrying a delivery we failed finds its own entries, is not counted
 *   twice, and is not refused because of itself.
 * - Allowed senders are counted (as Odoo counts their records), never refused.
 * - The scheduled sweeper deletes entries older than the longest window.
 */
import { and, count, eq, gte, lt, ne, type SQL, sql } from "drizzle-orm";
import type { Db } from "../db/client";
import { loopEntries } from "../db/schema";
import { sha256Hex } from "../hash";

/** `loop_minutes` is at most a week (src/api/settings.ts): older entries can never count. */
export const MAX_LOOP_WINDOW_MS = 10_080 * 60_000;
/** Entries deleted per statement by the sweeper (D1 statements should stay short). */
const SWEEP_BATCH = 5_000;

/** The delivery an entry belongs to: a short digest of the Message-ID and the envelope recipient. */
export async function loopDelivery(messageId: string, rcptTo: string): Promise<string> {
  return sha256Hex(`${messageId}\n${rcptTo}`, 12);
}

/**
 * This sender's targets that already hold `threshold` of its entries within
 * the window, other deliveries' only (a retry is never held back by its own
 * first attempt), with their counts: all the refusal needs, however many
 * targets the sender writes to. One statement of the routing lookup's batch.
 */
export function loopCountsQuery(db: Db, sender: string, delivery: string, window: { minutes: number | SQL<number>; threshold: number | SQL<number> }, now: number) {
  return db
    .select({ routeKey: loopEntries.routeKey, count: count() })
    .from(loopEntries)
    .where(and(eq(loopEntries.sender, sender), gte(loopEntries.at, sql`${now} - ${window.minutes} * 60000`), ne(loopEntries.delivery, delivery)))
    .groupBy(loopEntries.routeKey)
    .having(sql`count(*) >= ${window.threshold}`);
}

/** The rows of `loopCountsQuery` as `RoutingData.loopCounts` holds them: the lookup and a claim that lost a race read the same shape. */
export function countsByRoute(rows: { routeKey: string; count: number }[]): Record<string, number> {
  return Object.fromEntries(rows.map((r) => [r.routeKey, Number(r.count)]));
}

export interface LoopClaim {
  sender: string;
  routeKeys: string[];
  delivery: string;
  threshold: number;
  windowMinutes: number;
  /** An allowed sender (`/v1/allowed-senders`): counted, never held back. */
  allowed: boolean;
  now: number;
}

export type ClaimResult = { counted: true } | { counted: false; counts: Record<string, number> };

/**
 * Counts the delivery into its targets, all or none, in one atomic
 * statement; says whether it was counted (now or by an earlier attempt of
 * the same delivery), and otherwise the counts that held it back.
 */
export async function claimLoopSlots(db: Db, claim: LoopClaim): Promise<ClaimResult> {
  const since = claim.now - claim.windowMinutes * 60_000;
  const routes = JSON.stringify(claim.routeKeys);
  // insert into loop_entries select <sender>, value, <delivery>, <now> from json_each(<routes>)
  // where <allowed> or not exists (a target of these holding `threshold` entries of other deliveries)
  const full = sql`exists (
    select 1 from ${loopEntries}
    where ${loopEntries.sender} = ${claim.sender} and ${loopEntries.at} >= ${since} and ${loopEntries.delivery} <> ${claim.delivery}
      and ${loopEntries.routeKey} in (select value from json_each(${routes}))
    group by ${loopEntries.routeKey} having count(*) >= ${claim.threshold})`;
  const rows = db
    .select({
      sender: sql<string>`${claim.sender}`.as("sender"),
      routeKey: sql<string>`value`.as("route_key"),
      delivery: sql<string>`${claim.delivery}`.as("delivery"),
      at: sql<number>`${claim.now}`.as("at"),
    })
    .from(sql`json_each(${routes})`)
    // Always a WHERE: SQLite reads `ON CONFLICT` after a bare `FROM` as a join constraint.
    .where(claim.allowed ? sql`1` : sql`not ${full}`);
  const [, own, counts] = await db.batch([
    db.insert(loopEntries).select(rows).onConflictDoNothing(),
    db
      .select({ n: count() })
      .from(loopEntries)
      .where(and(eq(loopEntries.sender, claim.sender), eq(loopEntries.delivery, claim.delivery))),
    loopCountsQuery(db, claim.sender, claim.delivery, { minutes: claim.windowMinutes, threshold: claim.threshold }, claim.now),
  ]);
  return Number(own[0]?.n ?? 0) > 0 ? { counted: true } : { counted: false, counts: countsByRoute(counts) };
}

/** Deletes entries no window can count any more, a bounded batch per run; returns how many. */
export async function sweepLoopEntries(db: Db, now: number): Promise<number> {
  const old = db
    .select({ rowid: sql`rowid` })
    .from(loopEntries)
    .where(lt(loopEntries.at, new Date(now - MAX_LOOP_WINDOW_MS)))
    .limit(SWEEP_BATCH);
  const result = await db.delete(loopEntries).where(sql`rowid in ${old}`).run();
  return result.meta.changes ?? 0;
}
