/**
 * The contract between the delivery runner (src/deliveries/run.ts) and the
 * handlers it runs (webhook.ts, notify.ts): a handler gets the delivery's
 * row and answers what happened, with rows to write in the same
 * transaction as the settlement. A leaf, so neither side imports the other.
 */
import type { BatchItem } from "drizzle-orm/batch";
import type { deliveries } from "../db/schema";

export type DeliveryRow = typeof deliveries.$inferSelect;

export type DeliveryOutcome = {
  result: "delivered" | "retry" | "gone" | "failed";
  statusCode: number | null;
  error: string | null;
  detail?: Record<string, unknown>;
};

/** A run that can never succeed: failed at once, saying why. */
export const failed = (error: string): Handled => ({ outcome: { result: "failed", statusCode: null, error } });

/** What a delivery run did: its outcome, rows to write with it (one transaction), and what to do once they are. */
export interface Handled {
  outcome: DeliveryOutcome;
  statements?: BatchItem<"sqlite">[];
  afterCommit?: () => Promise<unknown>;
}
