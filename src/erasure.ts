/**
 * Erasure (a person's right to it): one message's content and addresses
 * are removed, its raw copy deleted, and a tombstone stays so that the
 * duplicate check and the thread links keep working. Where the check needs
 * an address (who sent it, to whom), the tombstone keeps a keyed digest of
 * it instead (HMAC under `SECRETS_KEY`, so a list of addresses cannot be
 * tried against it offline): a later copy of the same delivery is still
 * recognised, and the address itself is gone.
 */
import { eq } from "drizzle-orm";
import type { Db } from "./db/client";
import { attempts, deliveries, messageEvents, messages, messageThreads, outboundEvents, outboundRecipients, providerIds } from "./db/schema";
import type { Env } from "./env";
import { hmacHex } from "./secrets";

/** The keyed digest an erased message keeps in place of an address. */
export async function erasedAs(secretsKey: string | undefined, address: string | null): Promise<string | null> {
  return address ? `erased:${(await hmacHex(secretsKey, "erasure", address)).slice(0, 32)}` : null;
}

export type Erasure = { ok: true } | { ok: false; reason: "unknown_message" | "in_use" };

/** Erases one message; an outbound message still queued, or with deliveries still running, is refused (erase it once they end). */
export async function eraseMessage(env: Pick<Env, "RAW" | "SECRETS_KEY">, db: Db, id: string, now: number): Promise<Erasure> {
  const row = await db
    .select({
      rawKey: messages.rawKey,
      direction: messages.direction,
      status: messages.status,
      fromAddress: messages.fromAddress,
      mailFrom: messages.mailFrom,
      rcptTo: messages.rcptTo,
      decision: messages.decision,
      erasedAt: messages.erasedAt,
    })
    .from(messages)
    .where(eq(messages.id, id))
    .get();
  if (!row || row.erasedAt) return { ok: false, reason: "unknown_message" };
  if (row.direction === "out" && row.status === "queued") return { ok: false, reason: "in_use" };
  const sender = row.fromAddress ?? (row.mailFrom || null);
  const [senderDigest, rcptDigest] = await Promise.all([erasedAs(env.SECRETS_KEY, sender), erasedAs(env.SECRETS_KEY, row.rcptTo)]);
  if (row.rawKey) await env.RAW.delete(row.rawKey);
  const at = new Date(now);
  await db.batch([
    db
      .update(messages)
      .set({
        erasedAt: at,
        fromAddress: senderDigest,
        fromName: null,
        mailFrom: "",
        rcptTo: rcptDigest ?? "",
        to: [],
        cc: [],
        subject: null,
        size: 0,
        rawKey: null,
        decision: { outcome: row.decision.outcome, reason: "erased" },
        updatedAt: at,
      })
      .where(eq(messages.id, id)),
    // The links to its threads stay (replies still find them); who sent it is kept only as its digest.
    db
      .update(messageThreads)
      .set({ sender: senderDigest ?? "" })
      .where(eq(messageThreads.messageId, id)),
    db.delete(messageEvents).where(eq(messageEvents.messageId, id)),
    db.delete(deliveries).where(eq(deliveries.messageId, id)),
    db.delete(outboundRecipients).where(eq(outboundRecipients.messageId, id)),
    db.delete(attempts).where(eq(attempts.messageId, id)),
    db.delete(outboundEvents).where(eq(outboundEvents.messageId, id)),
    db.delete(providerIds).where(eq(providerIds.messageId, id)),
  ]);
  return { ok: true };
}
