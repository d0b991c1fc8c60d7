/**
 * Cloudflare Email Service's delivery events: a Queues event subscription
 * (one per sending domain) publishes them to the `mailgate-email-events`
 * queue, whose consumer this is. The queue belongs to our account, so
 * there is nothing to verify; each body is read, tied to the message we
 * sent through a `cloudflare` relay by the id `send()` answered, and
 * applied once. A body that can never be read is acknowledged and logged;
 * a failure of ours (D1) retries the batch, whose events then change
 * nothing twice.
 */
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { relays } from "../db/schema";
import type { Env } from "../env";
import { readCloudflareEvent } from "./providers/cloudflare";
import { recordEvents } from "./record";
import { tieEvents } from "./tie";
import type { RecipientEvent } from "./types";

export const EMAIL_EVENTS_QUEUE = "mailgate-email-events";

/** Reads, ties and applies one batch of the event queue; the batch is retried whole when D1 fails (replays change nothing). */
export async function consumeEmailEvents(env: Env, batch: readonly Message<unknown>[], now: number): Promise<void> {
  const db = database(env.DB);
  const events: RecipientEvent[] = [];
  for (const message of batch) {
    const reading = await readCloudflareEvent(message.body, now);
    if (reading.kind === "events") events.push(...reading.events);
    else if (reading.kind === "invalid") console.error("mailgate: an Email Service event that cannot be read; dropped", { id: message.id, reason: reading.reason });
  }
  const cloudflareRelays = (await db.select({ id: relays.id }).from(relays).where(eq(relays.type, "cloudflare"))).map((r) => r.id);
  const { tied, untied } = await tieEvents(db, cloudflareRelays, events);
  if (untied.length) console.warn("mailgate: Email Service events about mail we did not send; ignored", { count: untied.length });
  await recordEvents(env, db, tied, now);
  for (const message of batch) message.ack();
}
