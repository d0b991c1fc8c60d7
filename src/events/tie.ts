/**
 * Tying provider events to our mail: the ids each provider answered at send
 * time are kept (`provider_ids`), and an event finds its message by the id
 * it names, on the relay it came through, and its recipient among that
 * message's recipients. An event naming anything else ties to nothing and
 * changes nothing.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../db/client";
import { messages, outboundRecipients, providerIds } from "../db/schema";
import { normalizeAddress } from "../mail/address";
import type { Sent } from "../outbound/settle";
import type { TiedEvent } from "./apply";
import type { RecipientEvent } from "./types";

/** The `provider_ids` rows for what a relay answered: one per recipient where it answers one per recipient, else one for the message. */
export function providerIdRows(messageId: string, relayId: string | null, sent: Sent | null): (typeof providerIds.$inferInsert)[] {
  if (!sent || !relayId) return [];
  const perRecipient = sent.recipients.flatMap((r) => (r.providerMessageId ? [{ relayId, providerMessageId: r.providerMessageId, recipient: r.address, messageId }] : []));
  if (perRecipient.length) return perRecipient;
  return sent.providerMessageId ? [{ relayId, providerMessageId: sent.providerMessageId, recipient: "", messageId }] : [];
}

/**
 * Ties the events of some relays (the one a webhook names, or every
 * Cloudflare relay for the event queue) to our messages: the ids, and the
 * recipients and stream of the messages they name, in one round trip.
 */
export async function tieEvents(db: Db, relayIds: string[], events: RecipientEvent[]): Promise<{ tied: TiedEvent[]; untied: RecipientEvent[] }> {
  if (!events.length || !relayIds.length) return { tied: [], untied: events };
  const ids = [...new Set(events.map((e) => e.providerMessageId))];
  // One statement: each id the relay answered, with the recipients and stream of the message it names.
  const rows = await db
    .select({
      relayId: providerIds.relayId,
      providerMessageId: providerIds.providerMessageId,
      idRecipient: providerIds.recipient,
      messageId: providerIds.messageId,
      address: outboundRecipients.address,
      stream: messages.stream,
    })
    .from(providerIds)
    .innerJoin(messages, eq(messages.id, providerIds.messageId))
    .innerJoin(outboundRecipients, eq(outboundRecipients.messageId, providerIds.messageId))
    .where(and(inArray(providerIds.relayId, relayIds), inArray(providerIds.providerMessageId, ids)));
  const tied: TiedEvent[] = [];
  const untied: RecipientEvent[] = [];
  for (const event of events) {
    const recipient = normalizeAddress(event.recipient) ?? event.recipient.toLowerCase();
    // The id names this recipient's copy, or the whole message; either way the address must be one of its recipients.
    const row = rows.find((r) => r.providerMessageId === event.providerMessageId && (r.idRecipient === recipient || r.idRecipient === "") && r.address === recipient);
    if (!row) {
      untied.push(event);
      continue;
    }
    tied.push({
      messageId: row.messageId,
      recipient,
      kind: event.kind,
      status: event.status,
      diagnostic: event.diagnostic,
      hard: event.hard,
      source: "provider_event",
      relayId: row.relayId,
      dedupeKey: `${row.relayId}:${event.eventId}`,
      occurredAt: event.occurredAt,
      providerSuppressed: event.providerSuppressed,
      stream: row.stream,
    });
  }
  return { tied, untied };
}
