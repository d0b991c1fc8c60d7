/**
 * Unsubscribing a recipient by a List-Unsubscribe token (src/unsubscribe.ts):
 * found through the message the token names, applied as a recipient event
 * learned from `list_unsubscribe`. The HTTP link (src/api/unsubscribe.ts)
 * and mail to the unsubscribe address (src/inbound/receive.ts) both go
 * through here.
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { messages, outboundRecipients } from "../db/schema";
import type { Env } from "../env";
import type { Stream } from "../model";
import { unsubscribeMessageOf, verifyUnsubscribeToken } from "../unsubscribe";
import type { TiedEvent } from "./apply";
import { recordEvents } from "./record";

/** Who a verified token unsubscribes, and from what. */
export interface UnsubscribeTarget {
  /** Our outbound message the token was made for. */
  messageId: string;
  /** Its recipient the token names (canonical). */
  recipient: string;
  /** The message's stream: the unsubscribe suppresses the address for it alone. */
  stream: Stream;
}

/**
 * The recipient and message a token names, when its signature verifies
 * against one of that message's recipients; null for anything else (a
 * forged token, one of a message that no longer exists). One D1 round
 * trip; the HTTP link and mail to the unsubscribe address (src/inbound/receive.ts)
 * both verify through here.
 */
export async function findUnsubscribeTarget(secretsKey: string | undefined, db: Db, token: string): Promise<UnsubscribeTarget | null> {
  const messageId = unsubscribeMessageOf(token);
  if (!messageId) return null;
  const [rows, recipients] = await db.batch([
    db
      .select({ stream: messages.stream })
      .from(messages)
      .where(and(eq(messages.id, messageId), eq(messages.direction, "out"))),
    db.select({ address: outboundRecipients.address }).from(outboundRecipients).where(eq(outboundRecipients.messageId, messageId)),
  ]);
  // Every message given a token has a stream; a row without one is never taken for "every stream".
  const stream = rows[0]?.stream;
  if (!stream) return null;
  const recipient = await verifyUnsubscribeToken(
    secretsKey,
    token,
    recipients.map((r) => r.address),
  );
  return recipient ? { messageId, recipient, stream } : null;
}

/**
 * Applies the unsubscribe as a recipient event learned from
 * `list_unsubscribe`, keyed by message and recipient whichever way it came
 * (link or mail), so it changes things once. Answers whether this call
 * applied it (false: it was applied before).
 */
export async function applyUnsubscribe(env: Pick<Env, "JOBS">, db: Db, target: UnsubscribeTarget, how: "one_click" | "mail", now: number): Promise<boolean> {
  const event: TiedEvent = {
    messageId: target.messageId,
    recipient: target.recipient,
    kind: "unsubscribed",
    status: null,
    diagnostic: how === "one_click" ? "List-Unsubscribe one-click POST (RFC 8058)" : "mail to the List-Unsubscribe address",
    hard: false,
    source: "list_unsubscribe",
    relayId: null,
    dedupeKey: `unsubscribe:${target.messageId}:${target.recipient}`,
    occurredAt: now,
    providerSuppressed: false,
    stream: target.stream,
  };
  const { applied } = await recordEvents(env, db, [event], now);
  return applied.length > 0;
}
