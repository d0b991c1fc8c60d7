/**
 * Redelivery: a stored inbound message sent to its destinations again, as
 * new deliveries that each name the one they repeat (webhook receivers see
 * a new delivery id, and `redelivery_of`). Only what can happen after the
 * mail was received is repeated: webhooks and Odoo databases that are still
 * a destination of the alias (one may have been dropped on purpose), and
 * notifications. (Odoo itself drops a Message-ID it already has: a replay
 * into Odoo makes a record only where the first delivery made none.)
 */
import { and, asc, eq, inArray, isNull } from "drizzle-orm";
import { destinationTarget } from "../aliases/rules";
import { chunks, type Db } from "../db/client";
import { aliases, deliveries, messages } from "../db/schema";
import type { Env } from "../env";
import { newId } from "../ids";
import { enqueue } from "../queue/enqueue";

/** What can be done again after the mail was received. */
export type Replayable = "webhook" | "odoo" | "notify";

export type Redelivery =
  | {
      ok: true;
      deliveries: { id: string; type: Replayable; target: string | null; redelivery_of: string }[];
      skipped: { id: string; type: string; reason: string }[];
    }
  | { ok: false; reason: "unknown_message" | "not_stored_inbound" };

/**
 * POST /v1/messages/{id}/redeliver: one new delivery, queued, per original
 * delivery of the types asked for; forwards and webhook URLs the alias
 * dropped come back as skipped, with why.
 */
export async function redeliver(env: Env, db: Db, messageId: string, types: Replayable[], now: number): Promise<Redelivery> {
  const originalDeliveries = and(eq(deliveries.messageId, messageId), isNull(deliveries.redeliveryOf));
  const [rows, originals, owners] = await db.batch([
    db.select({ direction: messages.direction, rawKey: messages.rawKey }).from(messages).where(eq(messages.id, messageId)),
    db.select().from(deliveries).where(originalDeliveries).orderBy(asc(deliveries.id)),
    db
      .select({ id: aliases.id, destinations: aliases.destinations })
      .from(aliases)
      .where(inArray(aliases.id, db.select({ id: deliveries.aliasId }).from(deliveries).where(originalDeliveries))),
  ]);
  const row = rows[0];
  if (!row) return { ok: false, reason: "unknown_message" };
  if (row.direction !== "in" || !row.rawKey) return { ok: false, reason: "not_stored_inbound" };
  const stillDestination = (d: (typeof originals)[number]) =>
    owners.some((a) => a.id === d.aliasId && a.destinations.some((dest) => dest.type === d.type && destinationTarget(dest) === d.target));
  const wanted = originals.filter((d): d is typeof d & { type: Replayable } => (types as string[]).includes(d.type));
  const replays = wanted.filter((d) => d.type === "notify" || stillDestination(d));
  const skipped = [
    ...wanted
      .filter((d) => !replays.includes(d))
      .map((d) => ({ id: d.id, type: d.type, reason: `no longer ${d.type === "odoo" ? "an Odoo" : "a webhook"} destination of the alias` })),
    ...originals
      .filter((d) => d.type === "forward")
      .map((d) => ({ id: d.id, type: d.type, reason: "a forward can only happen while the mail is being received (Email Routing's forward())" })),
  ];
  const at = new Date(now);
  const created = replays.map((d) => ({ id: newId("dlv", now), type: d.type, target: d.target, redelivery_of: d.id, aliasId: d.aliasId, threadId: d.threadId }));
  if (created.length) {
    const values = created.map((d) => ({
      id: d.id,
      messageId,
      aliasId: d.aliasId,
      threadId: d.threadId,
      type: d.type,
      target: d.target,
      status: "pending" as const,
      nextAttemptAt: at,
      redeliveryOf: d.redelivery_of,
      createdAt: at,
      updatedAt: at,
    }));
    await db.batch(chunks(values, 8).map((list) => db.insert(deliveries).values(list)) as unknown as Parameters<typeof db.batch>[0]);
    await enqueue(
      env,
      created.map((d) => ({ kind: "deliver", id: d.id })),
    );
  }
  return { ok: true, deliveries: created.map(({ id, type, target, redelivery_of }) => ({ id, type, target, redelivery_of })), skipped };
}
