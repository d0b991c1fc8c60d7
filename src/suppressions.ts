/**
 * The one suppression model: who gets no more mail, for which stream, and
 * why (table `suppressions`). Bounces, complaints, the provider's word and
 * operators suppress for every stream; an unsubscribe for the stream it
 * came from. Sending filters recipients through `suppressedAmong` before a
 * relay sees them.
 */
import { and, eq, inArray, type SQLWrapper } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type Db, inJson } from "./db/client";
import { suppressions } from "./db/schema";
import type { Stream, SuppressionReason } from "./model";

/** The stream key of a suppression for every stream. */
export const EVERY_STREAM = "";

/**
 * Records a suppression; an address already suppressed for that scope
 * keeps its first reason (Odoo's blacklist keeps the first entry too).
 */
export function suppressStatement(
  db: Db,
  email: string,
  reason: SuppressionReason,
  at: Date,
  scope: { stream?: Stream | null; relayId?: string | null } = {},
): BatchItem<"sqlite"> {
  return db
    .insert(suppressions)
    .values({ email, stream: scope.stream ?? EVERY_STREAM, reason, relayId: scope.relayId ?? null, createdAt: at })
    .onConflictDoNothing();
}

/** The addresses among `emails` that may not receive mail of `stream` (suppressed for it or for every stream). */
export function suppressedAmong(db: Db, emails: string[] | SQLWrapper, stream: Stream | null) {
  const among = Array.isArray(emails) ? inJson(suppressions.email, emails) : inArray(suppressions.email, emails);
  return db
    .selectDistinct({ email: suppressions.email })
    .from(suppressions)
    .where(and(among, stream ? inArray(suppressions.stream, [EVERY_STREAM, stream]) : eq(suppressions.stream, EVERY_STREAM)));
}
