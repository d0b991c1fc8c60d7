/**
 * Where a delivery stands after a run: pure, from the handler's outcome,
 * the delivery's age and its attempt count. A retry is due after an
 * exponential backoff, never past the retry window (24 hours after the
 * mail arrived): then the delivery fails, saying why.
 */
import type { DeliveryStatus } from "../model";
import { backoffSeconds } from "../queue/backoff";
import type { DeliveryOutcome } from "./types";

/** Retries stop this long after the mail arrived. */
export const RETRY_WINDOW_MS = 24 * 3600_000;
/** 30 s, 1 min, 2 min, ... capped at 6 h. */
export const DELIVERY_BACKOFF = { firstSeconds: 30, maxSeconds: 6 * 3600 };

export interface DeliverySettlement {
  /** The outcome as recorded: a retry past the window becomes a failure. */
  outcome: DeliveryOutcome;
  status: DeliveryStatus;
  attempts: number;
  /** When to run again; null when the delivery is settled. */
  retryInSeconds: number | null;
}

/**
 * Pure, for the runner and the table tests. `gone` settles as failed (the
 * event keeps the word), and the last wait is cut to end at the window,
 * never past it.
 */
export function settleDelivery(delivery: { createdAt: Date; attempts: number }, outcome: DeliveryOutcome, now: number): DeliverySettlement {
  const attempts = delivery.attempts + 1;
  if (outcome.result !== "retry") return { outcome, status: outcome.result === "delivered" ? "delivered" : "failed", attempts, retryInSeconds: null };
  const deadline = delivery.createdAt.getTime() + RETRY_WINDOW_MS;
  if (now >= deadline) return { outcome: { ...outcome, result: "failed", error: `gave up after 24 hours: ${outcome.error}` }, status: "failed", attempts, retryInSeconds: null };
  const retryInSeconds = Math.max(1, Math.min(backoffSeconds(attempts, DELIVERY_BACKOFF), Math.ceil((deadline - now) / 1000)));
  return { outcome, status: "pending", attempts, retryInSeconds };
}
