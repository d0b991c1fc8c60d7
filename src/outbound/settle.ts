/**
 * Where an outbound message stands after a dispatch run: pure, from what
 * the relays answered. Recipients the relay took or refused for good are
 * settled; the others stay pending and the message is retried, after an
 * exponential backoff, or at the next UTC day when only daily limits stood
 * in the way. Once no recipient is pending the message is sent (anyone got
 * it, now or in an earlier run) or failed.
 */

import { backoffSeconds, MAX_QUEUE_DELAY_SECONDS } from "../queue/backoff";
import type { RecipientResult, SendOutcome } from "./relays/types";

/** 1 min, 2, 4, ... capped at 6 h. */
export const SEND_BACKOFF = { firstSeconds: 60, maxSeconds: 6 * 3600 };

export type Sent = Extract<SendOutcome, { kind: "sent" }>;

export interface DispatchRun {
  /** The recipients still pending when the run began. */
  recipients: string[];
  /** The relay's answer per recipient, when a relay took the message. */
  outcome: Sent | null;
  /** Relays tried (each one an attempt row), and the last one's error. */
  attempts: { relayId: string; error: string | null }[];
  /** Every candidate relay had reached its daily limit. */
  onlyDailyLimits: boolean;
  /** Some enabled relay may send as the From. */
  hasCandidates: boolean;
  /** The message's runs so far, this one included. */
  attemptCount: number;
  fromAddress: string | null;
  /** An earlier run delivered to some recipient. */
  sentBefore: boolean;
  now: number;
}

export interface SendSettlement {
  /** Recipients whose row changes: settled ones, and deferred ones (their last answer). */
  recipients: RecipientResult[];
  /** Refusals that say the mailbox does not take mail: they count like the same status in a DSN. */
  refused: { address: string; status: string | null; hard: boolean; diagnostic: string | null }[];
  status: "queued" | "sent" | "failed";
  retryAfterSeconds: number | null;
  event: { type: "retry" | "daily_limit" | "sent" | "failed"; detail: Record<string, unknown> };
}

/**
 * Pure, for the dispatcher and the table tests. When every candidate relay
 * was at its daily limit and none was tried, the message waits for the
 * next UTC day instead of backing off.
 */
export function settleSend(run: DispatchRun): SendSettlement {
  const results = new Map((run.outcome?.recipients ?? []).map((r) => [r.address, r]));
  const answered = run.recipients.flatMap((address) => results.get(address) ?? []);
  const refused = answered.flatMap((r) => (r.status === "failed" && r.bounce ? [{ address: r.address, ...r.bounce, diagnostic: r.message }] : []));
  const stillPending = run.recipients.filter((address) => (results.get(address)?.status ?? "deferred") === "deferred");
  const last = run.attempts.at(-1);

  if (stillPending.length) {
    const waitForDay = run.onlyDailyLimits && !run.attempts.length;
    const retryAfterSeconds = waitForDay ? secondsUntilNextUtcDay(run.now) : backoffSeconds(run.attemptCount, SEND_BACKOFF);
    const detail: Record<string, unknown> = {
      pending: stillPending,
      retry_in_seconds: retryAfterSeconds,
      last_error: last?.error ?? run.outcome?.recipients.find((r) => r.status === "deferred")?.message ?? null,
    };
    if (!run.hasCandidates) detail.reason = `no enabled relay may send as ${run.fromAddress}`;
    return { recipients: answered, refused, status: "queued", retryAfterSeconds, event: { type: waitForDay ? "daily_limit" : "retry", detail } };
  }
  const status = answered.some((r) => r.status === "sent") || run.sentBefore ? "sent" : "failed";
  return {
    recipients: answered,
    refused,
    status,
    retryAfterSeconds: null,
    event: { type: status, detail: { relay_id: last?.relayId ?? null, provider_message_id: run.outcome?.providerMessageId ?? null } },
  };
}

/** A minute past the next UTC midnight, when daily limits start again (within the queue's longest delay). */
function secondsUntilNextUtcDay(now: number): number {
  const next = new Date(now);
  next.setUTCHours(24, 0, 0, 0);
  return Math.min(Math.ceil((next.getTime() - now) / 1000) + 60, MAX_QUEUE_DELAY_SECONDS);
}
