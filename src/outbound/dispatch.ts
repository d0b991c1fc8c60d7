/**
 * The queue consumer for outbound mail. Queue messages carry ids; the MIME
 * is in R2. For each message: claim it (a lease, so a queue redelivery of a
 * message another run holds or already sent does nothing), send it through
 * its relay or, when the relay itself fails, the next relay that may send
 * as its From (within the relays' daily limits), record every attempt, and
 * settle (src/outbound/settle.ts): sent, failed, or retried later.
 * Messages going to the same relay share one session (src/outbound/sessions.ts).
 */
import { and, asc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { type Db, database } from "../db/client";
import { attempts, messageEvents, messages, outboundRecipients, providerIds, relays } from "../db/schema";
import type { Env } from "../env";
import { settledEventStatements } from "../events/apply";
import { enqueueEventHooks } from "../events/hooks";
import { providerIdRows } from "../events/tie";
import { refusalEffects } from "../inbound/bounce";
import { domainOf, normalizeAddress } from "../mail/address";
import { type Parsed, parseMessage } from "../mail/parse";
import type { SendJob } from "../queue/jobs";
import { releaseSlot, reserveSlot } from "./daily-quota";
import { envelopeIsFrom, fixedSenderOf, type RelayRow } from "./relays/settings";
import { type OutgoingMessage, RelayError, type SendOutcome } from "./relays/types";
import { failoverRelays, matchFromFilter, relaysForStream } from "./select-relay";
import { openSessions, type SessionPool } from "./sessions";
import { type SendSettlement, type Sent, settleSend } from "./settle";

/** How long a consumer holds a message it is sending. */
const LEASE_MS = 10 * 60_000;

const claimColumns = {
  id: messages.id,
  relayId: messages.relayId,
  rawKey: messages.rawKey,
  fromAddress: messages.fromAddress,
  bounceAddress: messages.bounceAddress,
  stream: messages.stream,
  attemptCount: messages.attemptCount,
};
type Claimed = Pick<typeof messages.$inferSelect, keyof typeof claimColumns>;

/** The envelope sender a relay uses for this message (see rewrite-from: fixed sender, else VERP when allowed, else From). */
function envelopeFor(relay: RelayRow, message: Claimed): string {
  const fixed = fixedSenderOf(relay);
  if (fixed) return normalizeAddress(fixed) ?? fixed;
  const bounce = message.bounceAddress;
  return bounce && !envelopeIsFrom(relay) && matchFromFilter(bounce, relay.fromFilter) ? bounce : (message.fromAddress ?? "");
}

/**
 * The queue consumer for `send` jobs. A job whose message another run
 * holds is retried when that lease ends, not dropped: the holder may still
 * fail.
 */
export async function dispatchSends(env: Env, batch: readonly Message<SendJob>[], now: number): Promise<void> {
  const db = database(env.DB);
  const leaseUntil = new Date(now + LEASE_MS);

  // Claim every message of the batch in one round trip.
  const claims = await db.batch(
    batch.map((job) =>
      db
        .update(messages)
        .set({ leaseUntil, attemptCount: sql`${messages.attemptCount} + 1`, updatedAt: new Date(now) })
        .where(
          and(eq(messages.id, job.body.id), eq(messages.direction, "out"), eq(messages.status, "queued"), or(isNull(messages.leaseUntil), lt(messages.leaseUntil, new Date(now)))),
        )
        .returning(claimColumns),
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
  const sessions = openSessions(env, { db, now });
  const exhausted = new Set<string>();
  try {
    // Messages of one relay one after the other, so they share its session.
    const ordered = [...claimed.values()].sort((a, b) => (a.relayId ?? "").localeCompare(b.relayId ?? ""));
    for (const message of ordered) {
      const job = batch.find((m) => m.body.id === message.id)!;
      const recipients = pendingRows.filter((r) => r.messageId === message.id).map((r) => r.address);
      const helo = message.fromAddress ? domainOf(message.fromAddress) : "localhost";
      const { retryAfterSeconds } = await sendOne(db, env, message, recipients, relayRows, exhausted, sessions.forHelo(helo), now);
      if (retryAfterSeconds === null) job.ack();
      else job.retry({ delaySeconds: retryAfterSeconds });
    }
  } finally {
    await sessions.closeAll();
  }
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
): Promise<SendSettlement> {
  const streamRelays = relaysForStream(
    relayRows.map((r) => ({ ...r, fixedSender: fixedSenderOf(r) })),
    message.stream ?? "transactional",
  );
  const chosen = streamRelays.find((r) => r.id === message.relayId);
  const candidates = [...(chosen ? [chosen] : []), ...failoverRelays(streamRelays, message.relayId ?? "", message.fromAddress ?? "")];

  const object = message.rawKey ? await env.RAW.get(message.rawKey) : null;
  if (!object) throw new Error(`outbound message ${message.id}: raw MIME missing in R2`);
  const raw = new Uint8Array(await object.arrayBuffer());
  let parsed: Promise<Parsed> | null = null;

  const log: (typeof attempts.$inferInsert)[] = [];
  let outcome: Sent | null = null;
  let dailyLimited = 0;

  for (const relay of candidates) {
    if (!recipients.length) break;
    if (exhausted.has(relay.id)) {
      dailyLimited++;
      continue;
    }
    if (relay.dailyLimit !== null && !(await reserveSlot(db, relay.id, relay.dailyLimit, now))) {
      exhausted.add(relay.id);
      dailyLimited++;
      continue;
    }
    const outgoing: OutgoingMessage = {
      id: message.id,
      envelopeFrom: envelopeFor(relay, message),
      bounceAddress: message.bounceAddress,
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
    if (relay.dailyLimit !== null) await releaseSlot(db, relay.id, now);
  }

  const sentNow = outcome?.recipients.some((r) => r.status === "sent") ?? false;
  const settlement = settleSend({
    recipients,
    outcome,
    attempts: log.map((entry) => ({ relayId: entry.relayId, error: entry.error ?? null })),
    onlyDailyLimits: dailyLimited === candidates.length && candidates.length > 0,
    hasCandidates: candidates.length > 0,
    attemptCount: message.attemptCount,
    fromAddress: message.fromAddress,
    sentBefore: !sentNow && (await alreadySent(db, message.id)),
    now,
  });
  await record(env, db, message, settlement, log, outcome, now);
  return settlement;
}

function summarize(outcome: Sent): string {
  const statuses = new Set(outcome.recipients.map((r) => r.status));
  return statuses.size === 1 ? [...statuses][0]! : "partial";
}

/** Writes the attempts and the settlement in one batch. */
async function record(env: Env, db: Db, message: Claimed, settlement: SendSettlement, log: (typeof attempts.$inferInsert)[], sent: Sent | null, now: number): Promise<void> {
  const relayTookIt = sent !== null;
  const at = new Date(now);
  const recipientRow = (address: string) => and(eq(outboundRecipients.messageId, message.id), eq(outboundRecipients.address, address));
  const statements: unknown[] = [
    ...log.map((entry) => db.insert(attempts).values(entry)),
    ...settlement.recipients.map((r) =>
      r.status === "deferred"
        ? db.update(outboundRecipients).set({ lastCode: r.code, lastError: r.message, updatedAt: at }).where(recipientRow(r.address))
        : db
            .update(outboundRecipients)
            .set({ status: r.status, source: "smtp", lastCode: r.code, lastError: r.status === "failed" ? r.message : null, updatedAt: at })
            .where(recipientRow(r.address)),
    ),
    // Each recipient the relay settled is an event (message.sent, message.failed) for event hooks; a refusal with a bounce status is recorded below as a bounce.
    ...settlement.recipients.flatMap((r) =>
      r.status === "deferred" || r.bounce
        ? []
        : settledEventStatements(db, { messageId: message.id, recipient: r.address, sent: r.status === "sent", code: r.code, diagnostic: r.message, relayId: relayOf(log) }, now),
    ),
    // The ids the provider answered, so its events find this message (src/events/tie.ts).
    ...providerIdRows(message.id, relayOf(log), sent).map((row) => db.insert(providerIds).values(row).onConflictDoNothing()),
  ];
  if (settlement.refused.length) statements.push(...(await refusalEffects(db, message.id, settlement.refused, now)));
  statements.push(
    db
      .update(messages)
      .set({
        status: settlement.status,
        leaseUntil: null,
        nextAttemptAt: settlement.retryAfterSeconds === null ? null : new Date(now + settlement.retryAfterSeconds * 1000),
        ...(relayTookIt && log.length && { relayId: log.at(-1)!.relayId }),
        updatedAt: at,
      })
      .where(eq(messages.id, message.id)),
    db.insert(messageEvents).values({ messageId: message.id, type: settlement.event.type, detail: settlement.event.detail, createdAt: at }),
  );
  await db.batch(statements as unknown as Parameters<Db["batch"]>[0]);
  await enqueueEventHooks(env, db, [
    ...settlement.recipients.map((r) => `${r.status === "sent" ? "sent" : "failed"}:${message.id}:${r.address}`),
    ...settlement.refused.map((r) => `smtp:${message.id}:${r.address}`),
  ]);
}

/** The relay that took the message: the last one tried. */
const relayOf = (log: (typeof attempts.$inferInsert)[]) => log.at(-1)?.relayId ?? null;

/** Whether an earlier attempt already delivered to some recipient of the message. */
async function alreadySent(db: Db, messageId: string): Promise<boolean> {
  const row = await db
    .select({ address: outboundRecipients.address })
    .from(outboundRecipients)
    .where(and(eq(outboundRecipients.messageId, messageId), eq(outboundRecipients.status, "sent")))
    .get();
  return row !== undefined;
}
