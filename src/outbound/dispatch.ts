/**
 * The queue consumer for outbound mail. Queue messages carry ids; the MIME
 * is in R2. For each message: claim it (a lease, so a queue redelivery of a
 * message another run holds or already sent does nothing), send it through
 * its relay or, when the relay itself fails, the next relay that may send
 * as its From, record every attempt, and settle: sent, failed, or retried
 * later with exponential backoff. Messages going to the same relay share
 * one session (one SMTP connection per batch).
 */
import { and, asc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { type Parsed, parseMessage } from "../mail/parse";
import { type Db, database, inJson } from "../db/client";
import { attempts, messageEvents, messages, outboundRecipients, relays, relayUsage } from "../db/schema";
import type { Env } from "../env";
import { domainOf, normalizeAddress } from "../mail/address";
import { failoverRelays, matchFromFilter, relaysForStream } from "./select-relay";
import { envelopeIsFrom, fixedSenderOf, instantiate, type RelayRow } from "./relays";
import { type OutgoingMessage, RelayError, type RelaySession, type SendOutcome } from "./relays/types";
import type { SendJob } from "./draft";
import { refusalEffects } from "../inbound/bounce";

/** How long a consumer holds a message it is sending. */
const LEASE_MS = 10 * 60_000;
const MAX_BACKOFF_SECONDS = 6 * 3600;

/** Exponential backoff: 1 min, 2, 4, ... capped at 6 h. */
export function backoffSeconds(attempt: number): number {
  return Math.min(60 * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_SECONDS);
}

function secondsUntilNextUtcDay(now: number): number {
  const next = new Date(now);
  next.setUTCHours(24, 0, 0, 0);
  return Math.ceil((next.getTime() - now) / 1000) + 60;
}

const utcDay = (now: number) => new Date(now).toISOString().slice(0, 10);

type Claimed = {
  id: string;
  relayId: string | null;
  rawKey: string | null;
  fromAddress: string | null;
  stream: "transactional" | "mass" | null;
  attemptCount: number;
  decision: Record<string, unknown>;
};

interface Settlement {
  retryAfterSeconds: number | null;
}

/** The envelope sender a relay uses for this message (see rewrite-from: fixed sender, else VERP when allowed, else From). */
function envelopeFor(relay: RelayRow, message: Claimed): string {
  const fixed = fixedSenderOf(relay);
  if (fixed) return normalizeAddress(fixed) ?? fixed;
  const bounce = typeof message.decision.bounce_address === "string" ? message.decision.bounce_address : null;
  return bounce && !envelopeIsFrom(relay) && matchFromFilter(bounce, relay.fromFilter) ? bounce : (message.fromAddress ?? "");
}

export async function dispatchSends(env: Env, batch: readonly Message<SendJob>[], now = Date.now()): Promise<void> {
  const db = database(env.DB);
  const leaseUntil = new Date(now + LEASE_MS);
  const ids = batch.map((m) => m.body.id);

  // Claim every message of the batch in one round trip.
  const claims = await db.batch(
    ids.map((id) =>
      db
        .update(messages)
        .set({ leaseUntil, attemptCount: sql`${messages.attemptCount} + 1`, updatedAt: new Date(now) })
        .where(
          and(eq(messages.id, id), eq(messages.direction, "out"), eq(messages.status, "queued"), or(isNull(messages.leaseUntil), lt(messages.leaseUntil, new Date(now)))),
        )
        .returning({
          id: messages.id,
          relayId: messages.relayId,
          rawKey: messages.rawKey,
          fromAddress: messages.fromAddress,
          stream: messages.stream,
          attemptCount: messages.attemptCount,
          decision: messages.decision,
        }),
    ) as unknown as Parameters<Db["batch"]>[0],
  );
  const claimed = new Map<string, Claimed>();
  for (const rows of claims as unknown as Claimed[][]) for (const row of rows) claimed.set(row.id, row);

  // Not claimed: already sent or failed (a redelivery: nothing to do), or held by another run.
  for (const job of batch) {
    if (claimed.has(job.body.id)) continue;
    const row = await db.select({ status: messages.status, leaseUntil: messages.leaseUntil }).from(messages).where(eq(messages.id, job.body.id)).get();
    if (row?.status === "queued" && row.leaseUntil) job.retry({ delaySeconds: Math.max(1, Math.ceil((row.leaseUntil.getTime() - now) / 1000)) });
    else job.ack();
  }
  if (!claimed.size) return;

  const [relayRows, pendingRows] = await db.batch([
    db.select().from(relays).where(eq(relays.enabled, true)).orderBy(asc(relays.sequence), asc(relays.id)),
    db
      .select({ messageId: outboundRecipients.messageId, address: outboundRecipients.address })
      .from(outboundRecipients)
      .where(and(inArray(outboundRecipients.messageId, [...claimed.keys()]), eq(outboundRecipients.status, "pending"))),
  ]);
  // One session per relay and EHLO name: the relay's configured name, else the message's From domain.
  const sessions = new Map<string, Promise<RelaySession>>();
  const exhausted = new Set<string>();
  const sessionKey = (relay: RelayRow, helo: string) => `${relay.id} ${helo}`;
  const sessionsFor = (helo: string): SessionPool => ({
    open(relay) {
      let session = sessions.get(sessionKey(relay, helo));
      if (!session) {
        session = instantiate(relay, env, helo).then((r) => r.open());
        sessions.set(sessionKey(relay, helo), session);
      }
      return session;
    },
    drop: (relay) => sessions.delete(sessionKey(relay, helo)),
  });

  try {
    // Messages of one relay one after the other, so they share its session.
    const ordered = [...claimed.values()].sort((a, b) => (a.relayId ?? "").localeCompare(b.relayId ?? ""));
    for (const message of ordered) {
      const job = batch.find((m) => m.body.id === message.id)!;
      const recipients = pendingRows.filter((r) => r.messageId === message.id).map((r) => r.address);
      const helo = message.fromAddress ? domainOf(message.fromAddress) : "localhost";
      const settlement = await sendOne(db, env, message, recipients, relayRows, exhausted, sessionsFor(helo), now);
      if (settlement.retryAfterSeconds === null) job.ack();
      else job.retry({ delaySeconds: settlement.retryAfterSeconds });
    }
  } finally {
    for (const session of sessions.values()) await session.then((s) => s.close()).catch(() => {});
  }
}

/** Open relay sessions, shared by the messages of a batch. */
interface SessionPool {
  open(relay: RelayRow): Promise<RelaySession>;
  /** Forgets a session that failed, so the next message opens a new one. */
  drop(relay: RelayRow): void;
}

async function sendOne(
  db: Db,
  env: Env,
  message: Claimed,
  recipients: string[],
  relayRows: RelayRow[],
  exhausted: Set<string>,
  sessions: SessionPool,
  now: number,
): Promise<Settlement> {
  const stream = message.stream ?? "transactional";
  const streamRelays = relaysForStream(
    relayRows.map((r) => ({ ...r, fixedSender: fixedSenderOf(r) })),
    stream,
  );
  const chosen = streamRelays.find((r) => r.id === message.relayId);
  const candidates = [...(chosen ? [chosen] : []), ...failoverRelays(streamRelays, message.relayId ?? "", message.fromAddress ?? "")];

  const object = message.rawKey ? await env.RAW.get(message.rawKey) : null;
  if (!object) throw new Error(`outbound message ${message.id}: raw MIME missing in R2`);
  const raw = new Uint8Array(await object.arrayBuffer());
  let parsed: Promise<Parsed> | null = null;

  const log: (typeof attempts.$inferInsert)[] = [];
  let outcome: Extract<SendOutcome, { kind: "sent" }> | null = null;
  let dailyLimited = 0;

  for (const relay of candidates) {
    if (!recipients.length) break;
    if (exhausted.has(relay.id)) {
      dailyLimited++;
      continue;
    }
    if (relay.dailyLimit !== null && !(await reserve(db, relay.id, relay.dailyLimit, now))) {
      exhausted.add(relay.id);
      dailyLimited++;
      continue;
    }
    const outgoing: OutgoingMessage = {
      id: message.id,
      envelopeFrom: envelopeFor(relay, message),
      bounceAddress: typeof message.decision.bounce_address === "string" ? message.decision.bounce_address : null,
      recipients,
      raw,
      parsed: () => (parsed ??= parseMessage(raw)),
    };
    const startedAt = new Date();
    let result: SendOutcome;
    try {
      result = await (await sessions.open(relay)).send(outgoing);
    } catch (error) {
      sessions.drop(relay);
      if (!(error instanceof RelayError)) throw error;
      result = { kind: "relay_error", code: error.code, message: error.message };
    }
    log.push({
      messageId: message.id,
      relayId: relay.id,
      result: result.kind === "relay_error" ? "relay_error" : summarize(result),
      envelopeFrom: outgoing.envelopeFrom,
      providerMessageId: result.kind === "sent" ? result.providerMessageId : null,
      error: result.kind === "relay_error" ? result.message : null,
      recipients: result.kind === "sent" ? result.recipients : [],
      startedAt,
      finishedAt: new Date(),
    });
    if (result.kind === "sent") {
      outcome = result;
      break;
    }
    // The relay itself failed: its session is no use any more; the slot goes back.
    sessions.drop(relay);
    if (relay.dailyLimit !== null) await release(db, relay.id, now);
  }

  return settle(db, message, recipients, outcome, log, dailyLimited === candidates.length && candidates.length > 0, candidates.length, now);
}

function summarize(outcome: Extract<SendOutcome, { kind: "sent" }>): string {
  const statuses = new Set(outcome.recipients.map((r) => r.status));
  return statuses.size === 1 ? [...statuses][0]! : "partial";
}

/** Takes one of the relay's daily slots; false when the day's limit is reached. */
async function reserve(db: Db, relayId: string, limit: number, now: number): Promise<boolean> {
  const rows = await db
    .insert(relayUsage)
    .values({ relayId, day: utcDay(now), count: 1 })
    .onConflictDoUpdate({ target: [relayUsage.relayId, relayUsage.day], set: { count: sql`${relayUsage.count} + 1` }, setWhere: sql`${relayUsage.count} < ${limit}` })
    .returning({ count: relayUsage.count });
  return rows.length > 0;
}

async function release(db: Db, relayId: string, now: number): Promise<void> {
  await db
    .update(relayUsage)
    .set({ count: sql`max(${relayUsage.count} - 1, 0)` })
    .where(and(eq(relayUsage.relayId, relayId), eq(relayUsage.day, utcDay(now))));
}

/** Records the attempts and where each recipient stands, in one batch; says whether and when to retry. */
async function settle(
  db: Db,
  message: Claimed,
  recipients: string[],
  outcome: Extract<SendOutcome, { kind: "sent" }> | null,
  log: (typeof attempts.$inferInsert)[],
  onlyDailyLimits: boolean,
  candidates: number,
  now: number,
): Promise<Settlement> {
  const at = new Date(now);
  const results = new Map((outcome?.recipients ?? []).map((r) => [r.address, r]));
  const statements: unknown[] = log.map((entry) => db.insert(attempts).values(entry));
  for (const address of recipients) {
    const result = results.get(address);
    if (!result || result.status === "deferred") {
      if (result) statements.push(db.update(outboundRecipients).set({ lastCode: result.code, lastError: result.message, updatedAt: at }).where(and(eq(outboundRecipients.messageId, message.id), eq(outboundRecipients.address, address))));
      continue;
    }
    statements.push(
      db
        .update(outboundRecipients)
        .set({ status: result.status, lastCode: result.code, lastError: result.status === "failed" ? result.message : null, updatedAt: at })
        .where(and(eq(outboundRecipients.messageId, message.id), eq(outboundRecipients.address, address))),
    );
  }
  // A refusal that says the mailbox does not take mail counts like the same status in a DSN.
  const refused = recipients.flatMap((address) => {
    const r = results.get(address);
    return r?.status === "failed" && r.bounce ? [{ address, ...r.bounce, diagnostic: r.message }] : [];
  });
  if (refused.length) statements.push(...(await refusalEffects(db, message.id, refused, now)));
  const stillPending = recipients.filter((a) => {
    const r = results.get(a);
    return !r || r.status === "deferred";
  });

  let retryAfterSeconds: number | null = null;
  let status: "queued" | "sent" | "failed" = "queued";
  let event: { type: string; detail: Record<string, unknown> };
  if (stillPending.length) {
    retryAfterSeconds = onlyDailyLimits && !log.length ? secondsUntilNextUtcDay(now) : backoffSeconds(message.attemptCount);
    event = {
      type: onlyDailyLimits && !log.length ? "daily_limit" : "retry",
      detail: { pending: stillPending, retry_in_seconds: retryAfterSeconds, last_error: log.at(-1)?.error ?? outcome?.recipients.find((r) => r.status === "deferred")?.message ?? null },
    };
    if (!candidates) event.detail.reason = `no enabled relay may send as ${message.fromAddress}`;
  } else {
    // Every recipient is settled: sent if anyone got it, else failed.
    const anySent = (outcome?.recipients ?? []).some((r) => r.status === "sent") || (await alreadySent(db, message.id));
    status = anySent ? "sent" : "failed";
    event = { type: status, detail: { relay_id: log.at(-1)?.relayId ?? null, provider_message_id: outcome?.providerMessageId ?? null } };
  }
  statements.push(
    db
      .update(messages)
      .set({
        status,
        leaseUntil: null,
        nextAttemptAt: retryAfterSeconds === null ? null : new Date(now + retryAfterSeconds * 1000),
        ...(outcome && log.length && { relayId: log.at(-1)!.relayId }),
        updatedAt: at,
      })
      .where(eq(messages.id, message.id)),
    db.insert(messageEvents).values({ messageId: message.id, type: event.type, detail: event.detail, createdAt: at }),
  );
  await db.batch(statements as unknown as Parameters<Db["batch"]>[0]);
  return { retryAfterSeconds };
}

/** Whether an earlier attempt already delivered to some recipient of the message. */
async function alreadySent(db: Db, messageId: string): Promise<boolean> {
  const row = await db
    .select({ address: outboundRecipients.address })
    .from(outboundRecipients)
    .where(and(eq(outboundRecipients.messageId, messageId), eq(outboundRecipients.status, "sent")))
    .get();
  return row !== undefined;
}

/** Dead-letter queue: a message that ran out of retries is failed, with its pending recipients. */
export async function failExhausted(env: Env, batch: readonly Message<SendJob>[], now = Date.now()): Promise<void> {
  const db = database(env.DB);
  const at = new Date(now);
  for (const job of batch) {
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
          .set({ status: "failed", lastError: "gave up: the queue ran out of retries", updatedAt: at })
          .where(and(eq(outboundRecipients.messageId, id), eq(outboundRecipients.status, "pending"))),
        db.insert(messageEvents).values({ messageId: id, type: "failed", detail: { reason: "retries exhausted", attempts: job.attempts }, createdAt: at }),
      ]);
    }
    job.ack();
  }
}

/**
 * Re-queues outbound messages whose queue message was lost (a send that
 * could not be queued, or a consumer that died past its lease): queued,
 * due more than 10 minutes ago, not held.
 */
export async function sweepOverdue(env: Env, now = Date.now()): Promise<number> {
  const db = database(env.DB);
  const overdue = await db
    .select({ id: messages.id })
    .from(messages)
    .where(
      and(
        eq(messages.direction, "out"),
        eq(messages.status, "queued"),
        lt(messages.nextAttemptAt, new Date(now - 10 * 60_000)),
        or(isNull(messages.leaseUntil), lt(messages.leaseUntil, new Date(now))),
      ),
    )
    .limit(100);
  if (!overdue.length) return 0;
  await env.JOBS.sendBatch(overdue.map((m) => ({ body: { kind: "send", id: m.id } satisfies SendJob })));
  await db
    .update(messages)
    .set({ nextAttemptAt: new Date(now) })
    .where(inJson(messages.id, overdue.map((m) => m.id)));
  return overdue.length;
}
