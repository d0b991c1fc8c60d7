/**
 * Usage in view (`GET /v1/usage`, the warnings of `GET /health`): how big
 * D1 is and how fast it grows, what R2 holds, how much mail went through
 * each day, and how much queue work is waiting. Everything is read from D1
 * in one batch; R2 is never listed (a listing is paged, 1,000 keys a call):
 * every raw copy we store is a `messages` row with `raw_key` and its
 * `size`, written with the object (src/inbound/raw-store.ts: a
 * `FixedLengthStream` of `rawSize` bytes; src/outbound/draft.ts: the
 * composed MIME's `byteLength`), and forgotten with it (retention sets
 * `raw_key` to null once the object is deleted).
 */
import { and, count, eq, getTableName, gte, is, isNotNull, lt, lte, sql } from "drizzle-orm";
// Drizzle's D1 type rather than db/client's `Db` (the same thing): the pure functions here are
// table-tested in plain Node (test/unit), whose type check knows no `D1Database`.
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import * as schema from "./db/schema";
import { deliveries, messages } from "./db/schema";

/**
 * D1's database size limit on the Workers Paid plan, which cannot be
 * raised (https://developers.cloudflare.com/d1/platform/limits/, as
 * recorded in shared/reference/cloudflare-platform.md, "D1": "10 GB (Paid,
 * cannot be raised) / 500 MB (Free)").
 */
export const D1_LIMIT_BYTES = 10_000_000_000;

const DAY_MS = 24 * 3600_000;
/** Days in `messages_per_day`, today included. */
export const USAGE_DAYS = 30;
/** Full days (today excluded) whose mean is the growth rate of the projection. */
const RATE_DAYS = 7;
/** As the sweepers (src/queue/sweep.ts): work due more than 10 minutes ago should have run. */
const OVERDUE_AFTER_MS = 10 * 60_000;
/** Warn past this share of the limit... */
const WARN_SHARE = 0.8;
/** ...or when the projection says the limit is this few days away. */
const WARN_DAYS = 30;

export interface DayCount {
  date: string;
  in: number;
  out: number;
}

/** What `GET /v1/usage` answers (its schema is in src/api/usage.ts). */
export interface Usage {
  d1: { bytes: number; limit_bytes: number; rows: Record<string, number> };
  r2: { objects: number; bytes: number };
  messages_per_day: DayCount[];
  backlog: { due: number; overdue: number };
  d1_full_at: string | null;
}

/** Midnight UTC of the day `ms` falls in: days are UTC days everywhere (relay limits count them so too). */
export const startOfUtcDay = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

/** `YYYY-MM-DD` in UTC, the form every date of the usage answer takes. */
export const utcDate = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The size D1 reports for the database: every D1 result carries it as
 * `meta.size_after` (workerd's local D1 too), so the query a caller runs
 * anyway tells it at no cost. Null if a result ever comes without it.
 */
export function sizeAfter(result: { meta?: { size_after?: unknown } } | undefined): number | null {
  const size = result?.meta?.size_after;
  return typeof size === "number" && Number.isFinite(size) ? size : null;
}

/**
 * The last `USAGE_DAYS` UTC days up to today's, oldest first, each present
 * (zeros where nothing went through), from the per day and direction
 * counts the query answered.
 */
export function dailySeries(now: number, counts: { day: string; direction: string; n: number }[]): DayCount[] {
  const today = startOfUtcDay(now);
  const days = Array.from({ length: USAGE_DAYS }, (_, i) => ({ date: utcDate(today - (USAGE_DAYS - 1 - i) * DAY_MS), in: 0, out: 0 }));
  const byDate = new Map(days.map((d) => [d.date, d]));
  for (const row of counts) {
    const day = byDate.get(row.day);
    if (day && (row.direction === "in" || row.direction === "out")) day[row.direction] += Number(row.n);
  }
  return days;
}

/** Mean messages (in and out) per day over the `RATE_DAYS` full days before today, from the daily series. */
export function messagesPerDay(series: DayCount[]): number {
  const full = series.slice(-1 - RATE_DAYS, -1);
  return full.reduce((sum, d) => sum + d.in + d.out, 0) / RATE_DAYS;
}

export interface Projection {
  /** D1's size now. */
  bytes: number;
  limitBytes: number;
  /** Rows in `messages`. */
  messages: number;
  /** Mean messages per day over the last full days (`messagesPerDay`). */
  perDay: number;
  /** `record_retention_days` (0: records are kept forever). */
  retentionDays: number;
  now: number;
}

/**
 * When D1 reaches its limit at the current rate, as a UTC date, or null
 * when it never does. Every byte of D1 is put down to the messages (they
 * and what hangs off them, events, deliveries, recipients, attempts, are
 * nearly all of it):
 *
 *   bytes_per_message = bytes / messages             (no messages: null)
 *   growth_per_day    = bytes_per_message × per_day  (0: null, no growth)
 *   full_at           = today + ⌈(limit − bytes) / growth_per_day⌉ days
 *                       (today when bytes ≥ limit already)
 *
 * Under retention (`retention_days` > 0) records older than that are
 * deleted, so D1 stops growing at the steady state
 * `bytes_per_message × per_day × retention_days`: below the limit, null.
 * A date past year 9999 (which `YYYY-MM-DD` cannot write) is null too.
 */
export function projectFullAt(p: Projection): string | null {
  if (p.messages <= 0 || p.perDay <= 0 || p.bytes <= 0) return null;
  const bytesPerMessage = p.bytes / p.messages;
  const growth = bytesPerMessage * p.perDay;
  if (p.retentionDays > 0 && growth * p.retentionDays < p.limitBytes) return null;
  const days = Math.max(0, Math.ceil((p.limitBytes - p.bytes) / growth));
  const at = startOfUtcDay(p.now) + days * DAY_MS;
  return at <= Date.UTC(9999, 11, 31) ? utcDate(at) : null;
}

/**
 * What an operator should hear about D1 before it fills (D1 refuses writes
 * at the limit, and mail would be refused with them): past 80 % of the
 * limit, or a projection (`projectFullAt`) fewer than 30 days away. Pure,
 * so it is table-tested; `/health` passes `fullAt` null (it does not
 * count messages), `GET /v1/usage` the projection. No secret is in them.
 */
export function usageWarnings(bytes: number, limit: number, fullAt: string | null, now: number): string[] {
  const warnings: string[] = [];
  if (bytes > WARN_SHARE * limit) {
    warnings.push(`D1 is at ${((bytes / limit) * 100).toFixed(1)}% of its limit (${bytes} of ${limit} bytes)`);
  }
  if (fullAt !== null) {
    const days = Math.round((Date.parse(fullAt) - startOfUtcDay(now)) / DAY_MS);
    const left = Math.max(0, days);
    if (days < WARN_DAYS) warnings.push(`D1 is projected to reach its limit of ${limit} bytes on ${fullAt} (in ${left} day${left === 1 ? "" : "s"})`);
  }
  return warnings;
}

/** Our tables, from the schema itself, so a table added there is counted without a change here. */
const TABLES = (Object.values(schema) as unknown[]).filter((value): value is SQLiteTable => is(value, SQLiteTable)).sort((a, b) => getTableName(a).localeCompare(getTableName(b)));

/** What the queries read, before the pure functions above turn it into the answer. */
export interface UsageReading {
  bytes: number;
  rows: Record<string, number>;
  r2: { objects: number; bytes: number };
  days: { day: string; direction: string; n: number }[];
  backlog: { due: number; overdue: number };
}

/**
 * The due work, as two queries for a batch: outbound messages still
 * `queued` and pending deliveries whose `next_attempt_at` ≤ now, each with
 * how many are overdue (due more than 10 minutes ago, as the sweepers
 * count). `GET /v1/usage` and `GET /v1/overview` both read it.
 */
export function backlogQueries(db: DrizzleD1Database, now: number) {
  const overdue = (column: typeof messages.nextAttemptAt | typeof deliveries.nextAttemptAt) => sql<number>`coalesce(sum(${column} < ${now - OVERDUE_AFTER_MS}), 0)`;
  return [
    db
      .select({ due: count(), overdue: overdue(messages.nextAttemptAt) })
      .from(messages)
      .where(and(eq(messages.direction, "out"), eq(messages.status, "queued"), lte(messages.nextAttemptAt, new Date(now)))),
    db
      .select({ due: count(), overdue: overdue(deliveries.nextAttemptAt) })
      .from(deliveries)
      .where(and(eq(deliveries.status, "pending"), lte(deliveries.nextAttemptAt, new Date(now)))),
  ] as const;
}

/**
 * Everything `GET /v1/usage` needs, in one D1 batch: `count(*)` of each
 * table, the raw copies (rows with `raw_key`: their number and the sum of
 * their `size`), messages per UTC day and direction since the first of the
 * `USAGE_DAYS` days, the due work (outbound messages still `queued` and
 * pending deliveries, each whose `next_attempt_at` ≤ now; overdue: that
 * time more than 10 minutes ago), and a `select 1` whose result carries
 * the database's size. The counts scan their tables (D1 bills the rows
 * read): an admin's look, not something to poll every second.
 */
export async function readUsage(db: DrizzleD1Database, now: number): Promise<UsageReading> {
  const from = startOfUtcDay(now) - (USAGE_DAYS - 1) * DAY_MS;
  const until = startOfUtcDay(now) + DAY_MS;
  const day = sql<string>`strftime('%Y-%m-%d', ${messages.createdAt} / 1000, 'unixepoch')`;
  const [raw, days, dueMessages, dueDeliveries, probe, ...counts] = await db.batch([
    db
      .select({ objects: count(), bytes: sql<number>`coalesce(sum(${messages.size}), 0)` })
      .from(messages)
      .where(isNotNull(messages.rawKey)),
    db
      .select({ day: day.as("day"), direction: messages.direction, n: count() })
      .from(messages)
      .where(and(gte(messages.createdAt, new Date(from)), lt(messages.createdAt, new Date(until))))
      .groupBy(sql`day`, messages.direction),
    ...backlogQueries(db, now),
    db.run(sql`select 1`),
    ...TABLES.map((table) => db.select({ n: count() }).from(table)),
  ]);
  const bytes = sizeAfter(probe);
  if (bytes === null) throw new Error("D1 answered without meta.size_after: the database size is unknown");
  const rows: Record<string, number> = {};
  TABLES.forEach((table, i) => {
    rows[getTableName(table)] = Number(counts[i]?.[0]?.n ?? 0);
  });
  const m = dueMessages[0];
  const d = dueDeliveries[0];
  return {
    bytes,
    rows,
    r2: { objects: Number(raw[0]?.objects ?? 0), bytes: Number(raw[0]?.bytes ?? 0) },
    days: days.map((r) => ({ day: r.day, direction: r.direction, n: Number(r.n) })),
    backlog: { due: Number(m?.due ?? 0) + Number(d?.due ?? 0), overdue: Number(m?.overdue ?? 0) + Number(d?.overdue ?? 0) },
  };
}

/** The answer of `GET /v1/usage` from what `readUsage` read, at `now`, under `retentionDays` of record retention (0: none). */
export function usageOf(reading: UsageReading, now: number, retentionDays: number): Usage {
  const series = dailySeries(now, reading.days);
  const messageRows = reading.rows[getTableName(messages)] ?? 0;
  return {
    d1: { bytes: reading.bytes, limit_bytes: D1_LIMIT_BYTES, rows: reading.rows },
    r2: reading.r2,
    messages_per_day: series,
    backlog: reading.backlog,
    d1_full_at: projectFullAt({ bytes: reading.bytes, limitBytes: D1_LIMIT_BYTES, messages: messageRows, perDay: messagesPerDay(series), retentionDays, now }),
  };
}
