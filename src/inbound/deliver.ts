/**
 * Forward destinations. `forward()` exists only inside the `email()` event,
 * so a forward that fails is retried by making the sender's server retry:
 * the handler throws (a temporary SMTP failure), and the retry, recognised
 * as the same delivery, attempts only the forwards still undone. Other
 * destinations are never repeated.
 */
import { eq, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "../db/client";
import { deliveries, messageEvents } from "../db/schema";
import type { PendingForward } from "./record";

/** After this many failed attempts a forward is given up (the message stays stored). */
export const MAX_FORWARD_ATTEMPTS = 5;

/** Header forwarded copies carry so the destination can trace them back. Only `X-` headers survive `forward()`. */
export const TRACE_HEADER = "X-Mailgate-Trace";

export interface ForwardResult {
  forward: PendingForward;
  ok: boolean;
  error: string | null;
  /** Failed, and worth the sender retrying. */
  retry: boolean;
}

/**
 * Runs inside the `email()` event, the only place `forward()` exists.
 * Every forward is attempted, and each result says whether the sender's
 * retry could help.
 */
export async function attemptForwards(message: Pick<ForwardableEmailMessage, "forward" | "canBeForwarded">, forwards: PendingForward[]): Promise<ForwardResult[]> {
  return Promise.all(
    forwards.map(async (forward): Promise<ForwardResult> => {
      // Cloudflare refuses to forward mail that passed neither SPF nor DKIM; retrying cannot help.
      if (message.canBeForwarded === false) {
        return { forward, ok: false, error: "Cloudflare cannot forward this message: it passed neither SPF nor DKIM", retry: false };
      }
      const headers = new Headers({ [TRACE_HEADER]: `message=${forward.messageRowId}; thread=${forward.threadId ?? "none"}; alias=${forward.aliasId ?? "none"}` });
      try {
        await message.forward(forward.to, headers);
        return { forward, ok: true, error: null, retry: false };
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error);
        return { forward, ok: false, error: text, retry: forward.attempts + 1 < MAX_FORWARD_ATTEMPTS };
      }
    }),
  );
}

/**
 * Written after the forwards went out. A failure worth retrying stays
 * pending: the sender's retry finds it (the lookup's `undone`) and
 * attempts it again.
 */
export async function recordForwardResults(db: Db, results: ForwardResult[], now: number): Promise<void> {
  if (!results.length) return;
  const at = new Date(now);
  const statements: BatchItem<"sqlite">[] = results.flatMap(({ forward, ok, error, retry }) => [
    db
      .update(deliveries)
      // A failure worth retrying stays pending: the sender's retry will attempt it again.
      .set({ status: ok ? "delivered" : retry ? "pending" : "failed", attempts: sql`${deliveries.attempts} + 1`, lastError: error, updatedAt: at })
      .where(eq(deliveries.id, forward.deliveryId)),
    db.insert(messageEvents).values({
      messageId: forward.messageRowId,
      type: ok ? "forwarded" : "forward_failed",
      detail: { delivery_id: forward.deliveryId, to: forward.to, ...(error ? { error, will_retry: retry } : {}) },
      createdAt: at,
    }),
  ]);
  await db.batch(statements as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]]);
}
