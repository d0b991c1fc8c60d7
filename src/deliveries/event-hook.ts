/**
 * Posts one outbound event to a customer's event hook (`POST /v1/event-hooks`),
 * signed and classified exactly like inbound webhooks (`postSigned` in
 * webhook.ts): 2xx delivered, 410 stops, anything else retried by the
 * runner for 24 hours. The delivery was written with the event
 * (src/events/hooks.ts); its id, `dlv_ev<event id>_<hook id>`, names the
 * hook, and is the payload's `id` on every retry.
 *
 * The hook is read again before each post: one deleted since, no longer
 * subscribed to the event's type, or moved to another URL gets nothing
 * more (`failed`, saying why), as an alias's dropped webhook URL does.
 */
import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { eventHooks, messages, outboundEvents } from "../db/schema";
import type { Env } from "../env";
import { openSecrets } from "./signing";
import { type DeliveryRow, failed, type Handled } from "./types";
import { postSigned } from "./webhook";
import { allowsPrivateTargets, checkWebhookUrl } from "./webhook-url";

/** The hook a delivery is for, from its id (`dlv_ev<event id>_<hook id>`, written by eventHookStatement); null if it is not one. */
function hookIdOf(delivery: DeliveryRow): string | null {
  const prefix = `dlv_ev${delivery.eventId}_`;
  return delivery.eventId !== null && delivery.id.startsWith(prefix) ? delivery.id.slice(prefix.length) : null;
}

/**
 * The `event_hook` delivery handler (src/deliveries/run.ts). The
 * receiver's failures are outcomes; it throws only for our own (D1), which
 * the queue retries.
 */
export async function postEventHook(env: Env, db: Db, delivery: DeliveryRow, now: number): Promise<Handled> {
  const checked = checkWebhookUrl(delivery.target ?? "", allowsPrivateTargets(env));
  if (!checked.ok) return failed(`the event hook URL ${checked.reason}`);
  const hookId = hookIdOf(delivery);
  if (!hookId) return failed("the delivery names no event hook");
  const [eventRows, messageRows, hookRows] = await db.batch([
    db
      .select()
      .from(outboundEvents)
      .where(eq(outboundEvents.id, delivery.eventId ?? -1)),
    db.select({ id: messages.id, messageId: messages.messageId, apiKeyId: messages.apiKeyId }).from(messages).where(eq(messages.id, delivery.messageId)),
    db.select().from(eventHooks).where(eq(eventHooks.id, hookId)),
  ]);
  const event = eventRows[0];
  const message = messageRows[0];
  const hook = hookRows[0];
  if (!event || !message || event.messageId !== message.id) return failed("the event or its message no longer exists");
  if (!hook) return failed(`the event hook ${hookId} no longer exists`);
  const type = `message.${event.type}`;
  if (!hook.events.includes(type)) return failed(`the event hook no longer subscribes to ${type}`);
  // A hook moved elsewhere meanwhile: the old URL gets nothing more (it may have been dropped for a reason).
  if (hook.url !== delivery.target) return failed("the event hook's URL changed since the event; new events go to the new one");
  // Defensive: a key's hook hears only about that key's mail (src/events/hooks.ts wrote it so).
  if (hook.apiKeyId !== null && hook.apiKeyId !== message.apiKeyId) return failed("the message was not sent by the event hook's API key");
  const secrets = await openSecrets(env.SECRETS_KEY, hook.secrets, now);
  // Never posted unsigned; a hook always has a current secret, so this only covers a secret store gone wrong.
  if (!secrets.length) return { outcome: { result: "retry", statusCode: null, error: "the event hook has no valid signing secret: POST /v1/event-hooks/{id}/secret" } };
  const body = JSON.stringify({
    id: delivery.id,
    type,
    created_at: event.occurredAt.toISOString(),
    data: {
      message_id: message.id,
      rfc_message_id: message.messageId,
      recipient: event.recipient,
      status: event.status,
      diagnostic: event.diagnostic,
    },
  });
  return postSigned(checked.url, body, secrets, delivery.id, now);
}
