/**
 * Retention: raw mail leaves R2 after `raw_retention_days` (an alias may
 * say otherwise), message records leave D1 after `record_retention_days`
 * (their events, deliveries, attempts, recipients and thread links go with
 * them), and a thread whose last message went is removed too; `0` keeps
 * forever. Never touched: anything still queued or retrying, contacts,
 * suppressions. The scheduled handler runs it in bounded batches (D1
 * binds at most 100 values, so ids go as one JSON list; R2 deletes take
 * up to 1,000 keys), oldest first by id (ids sort by creation time), and
 * idempotently: the raw copy is deleted before its key is forgotten, so an
 * interrupted run leaves nothing behind that the next one cannot finish.
 */
import { and, asc, eq, isNotNull, isNull, lt, lte, notExists, sql } from "drizzle-orm";
import { type Db, inJson } from "./db/client";
import { aliases, deliveries, idempotencyKeys, messages, messageThreads, purges, retentionRuns, settings, threads } from "./db/schema";
import type { Env } from "./env";
import { newId } from "./ids";

const DAY_MS = 24 * 3600_000;
/** How long an Idempotency-Key holds its answer (src/outbound/send.ts); older keys are deleted here. */
export const IDEMPOTENCY_HOURS = 24;
/** Per run: raw copies (two R2 calls of 1,000 keys) and records (ten statements of 100). */
const RAW_PER_BATCH = 1000;
const RAW_BATCHES = 2;
const RECORDS_PER_BATCH = 100;
const RECORD_BATCHES = 10;

export interface RetentionSettings {
  rawRetentionDays: number;
  recordRetentionDays: number;
}

export const DEFAULT_RETENTION: RetentionSettings = { rawRetentionDays: 90, recordRetentionDays: 400 };

export interface RetentionRun {
  raw: number;
  records: number;
  threads: number;
  /** Messages deleted by purges of deleted aliases and domains. */
  purged: number;
}

/** The smallest id a message made at `time` could have: every id below it is older (src/ids.ts). */
const idBefore = (prefix: "msg" | "thr", time: number) => newId(prefix, time).slice(0, 4 + 10);

/** Work that must keep its message: an outbound message still queued, or a delivery still pending. */
const inUse = sql`(${messages.direction} = 'out' and ${messages.status} = 'queued') or exists (select 1 from ${deliveries} where ${deliveries.messageId} = ${messages.id} and ${deliveries.status} = 'pending')`;

/** Runs one bounded sweep at `now` (the cron's scheduled time); answers what it deleted, also recorded in `retention_runs`. */
export async function sweepRetention(env: Pick<Env, "RAW">, db: Db, now: number): Promise<RetentionRun> {
  const row = await db.select({ raw: settings.rawRetentionDays, records: settings.recordRetentionDays }).from(settings).where(eq(settings.id, 1)).get();
  const policy: RetentionSettings = row ? { rawRetentionDays: row.raw, recordRetentionDays: row.records } : DEFAULT_RETENTION;
  const run: RetentionRun = { raw: 0, records: 0, threads: 0, purged: 0 };
  run.purged = await sweepPurges(env, db, now);
  await sweepIdempotencyKeys(db, now);
  run.raw = await sweepRaw(env, db, now);
  if (policy.recordRetentionDays > 0) {
    const cutoff = now - policy.recordRetentionDays * DAY_MS;
    run.records = await sweepRecords(env, db, cutoff);
    run.threads = await sweepThreads(db, cutoff);
  }
  if (run.raw || run.records || run.threads) {
    await db.insert(retentionRuns).values({ ranAt: new Date(now), rawDeleted: run.raw, recordsDeleted: run.records, threadsDeleted: run.threads });
  }
  return run;
}

/**
 * The days a message's raw copy is kept: the shortest raw retention among
 * the aliases that routed it and say one, else the setting (90 by default).
 */
const rawDays = sql`coalesce(
  (select min(a.raw_retention_days) from ${messageThreads} mt join ${aliases} a on a.id = mt.alias_id where mt.message_id = ${messages.id} and a.raw_retention_days is not null),
  (select s.raw_retention_days from ${settings} s where s.id = 1),
  ${DEFAULT_RETENTION.rawRetentionDays})`;

/** `raw_expires_at` from the retention that applies to the message now: null (kept) for 0 days. */
const rawExpiry = sql`case when ${rawDays} = 0 then null else ${messages.createdAt} + ${rawDays} * ${DAY_MS} end`;

/**
 * Sets when a message's raw copy expires, in the batch that stores it (after
 * its thread links, which name its aliases): the sweep then walks only what
 * expired, however many copies are kept.
 */
export function rawExpiryStatement(db: Db, messageId: string) {
  return db
    .update(messages)
    .set({ rawExpiresAt: rawExpiry as unknown as Date })
    .where(and(eq(messages.id, messageId), isNotNull(messages.rawKey)));
}

/**
 * Sets the expiry of every stored raw copy again, after a retention setting
 * changed (the global one, or an alias's). One statement over the rows that
 * still have a copy: a change of policy is rare, and its cost is one pass.
 */
export async function recomputeRawExpiry(db: Db, aliasId: string | null = null): Promise<void> {
  await db
    .update(messages)
    .set({ rawExpiresAt: rawExpiry as unknown as Date })
    .where(
      and(
        isNotNull(messages.rawKey),
        aliasId ? sql`${messages.id} in (select ${messageThreads.messageId} from ${messageThreads} where ${messageThreads.aliasId} = ${aliasId})` : undefined,
      ),
    );
}

/** Raw copies whose expiry has come (an index range on `raw_expires_at`), never while their message is still in use. */
async function sweepRaw(env: Pick<Env, "RAW">, db: Db, now: number): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < RAW_BATCHES; batch++) {
    const expired = await db
      .select({ id: messages.id, rawKey: messages.rawKey })
      .from(messages)
      .where(and(isNotNull(messages.rawKey), isNotNull(messages.rawExpiresAt), lte(messages.rawExpiresAt, new Date(now)), sql`not (${inUse})`))
      .orderBy(asc(messages.rawExpiresAt))
      .limit(RAW_PER_BATCH);
    if (!expired.length) break;
    await env.RAW.delete(expired.map((m) => m.rawKey!));
    await db
      .update(messages)
      .set({ rawKey: null, rawExpiresAt: null })
      .where(
        inJson(
          messages.id,
          expired.map((m) => m.id),
        ),
      );
    deleted += expired.length;
    if (expired.length < RAW_PER_BATCH) break;
  }
  return deleted;
}

/** Idempotency keys past their 24 hours answer nothing any more: a bounded batch of them goes each run. */
async function sweepIdempotencyKeys(db: Db, now: number): Promise<void> {
  const old = db
    .select({ rowid: sql`rowid` })
    .from(idempotencyKeys)
    .where(lt(idempotencyKeys.createdAt, new Date(now - IDEMPOTENCY_HOURS * 3_600_000)))
    .limit(RAW_PER_BATCH);
  await db.delete(idempotencyKeys).where(sql`rowid in ${old}`);
}

/** Deletes messages and their raw copies (first): one batch's worth of rows, as the sweeps find them. */
async function deleteMessages(env: Pick<Env, "RAW">, db: Db, rows: { id: string; rawKey: string | null }[]): Promise<void> {
  const keys = rows.flatMap((m) => (m.rawKey ? [m.rawKey] : []));
  if (keys.length) await env.RAW.delete(keys);
  await db.delete(messages).where(
    inJson(
      messages.id,
      rows.map((m) => m.id),
    ),
  );
}

/**
 * Purges asked for when an alias or a domain was deleted: its stored mail
 * (routed through the alias; to or from the domain), one batch per purge
 * and run, oldest purge first, until none is left; then the purge is done.
 */
async function sweepPurges(env: Pick<Env, "RAW">, db: Db, now: number): Promise<number> {
  const open = await db.select().from(purges).where(isNull(purges.doneAt)).orderBy(asc(purges.id)).limit(5);
  let deleted = 0;
  for (const purge of open) {
    const of =
      purge.kind === "alias"
        ? // Mail another alias took too stays: it is that alias's mail as well.
          sql`${messages.id} in (select ${messageThreads.messageId} from ${messageThreads} where ${messageThreads.aliasId} = ${purge.target})
            and not exists (select 1 from ${messageThreads} other where other.message_id = ${messages.id} and other.alias_id is not null and other.alias_id <> ${purge.target})`
        : sql`(${messages.rcptTo} like ${`%@${purge.target}`} or ${messages.fromAddress} like ${`%@${purge.target}`})`;
    const rows = await db
      .select({ id: messages.id, rawKey: messages.rawKey })
      .from(messages)
      .where(and(of, sql`not (${inUse})`))
      .limit(RECORDS_PER_BATCH);
    if (rows.length) await deleteMessages(env, db, rows);
    deleted += rows.length;
    await db
      .update(purges)
      .set({ deleted: sql`${purges.deleted} + ${rows.length}`, ...(rows.length < RECORDS_PER_BATCH && { doneAt: new Date(now) }) })
      .where(eq(purges.id, purge.id));
  }
  return deleted;
}

/** Message records older than the cutoff, with everything that hangs off them (foreign keys cascade), and their raw copies first. */
async function sweepRecords(env: Pick<Env, "RAW">, db: Db, cutoff: number): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < RECORD_BATCHES; batch++) {
    const expired = await db
      .select({ id: messages.id, rawKey: messages.rawKey })
      .from(messages)
      .where(and(lt(messages.id, idBefore("msg", cutoff)), lt(messages.createdAt, new Date(cutoff)), sql`not (${inUse})`))
      .orderBy(asc(messages.id))
      .limit(RECORDS_PER_BATCH);
    if (!expired.length) break;
    await deleteMessages(env, db, expired);
    deleted += expired.length;
    if (expired.length < RECORDS_PER_BATCH) break;
  }
  return deleted;
}

/** Threads left without messages and untouched since the cutoff, unless an alias is pinned to them. */
async function sweepThreads(db: Db, cutoff: number): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < RECORD_BATCHES; batch++) {
    const removed = await sweepThreadBatch(db, cutoff);
    deleted += removed;
    if (removed < RECORDS_PER_BATCH) break;
  }
  return deleted;
}

async function sweepThreadBatch(db: Db, cutoff: number): Promise<number> {
  const empty = db
    .select({ id: threads.id })
    .from(threads)
    .where(
      and(
        lt(threads.id, idBefore("thr", cutoff)),
        lt(threads.updatedAt, new Date(cutoff)),
        notExists(db.select({ one: sql`1` }).from(messageThreads).where(eq(messageThreads.threadId, threads.id))),
        notExists(db.select({ one: sql`1` }).from(aliases).where(eq(aliases.threadId, threads.id))),
      ),
    )
    .limit(RECORDS_PER_BATCH);
  const removed = await db.delete(threads).where(sql`${threads.id} in ${empty}`).returning({ id: threads.id });
  return removed.length;
}
