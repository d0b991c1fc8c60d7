/**
 * Posts one message to a webhook destination, signed with the alias's
 * secrets (src/deliveries/signing.ts). 2xx: delivered. 410 Gone: the
 * receiver asked us to stop, no more retries. Anything else, or no answer
 * within the timeout: retried (src/deliveries/run.ts). Redirects are not
 * followed: they could lead past the address check.
 */
import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { aliases, messages } from "../db/schema";
import type { Env } from "../env";
import { concatBytes } from "../mail/bytes";
import { parseMessage } from "../mail/parse";
import { payloadOf } from "./payload";
import { openSecrets, SIGNATURE_HEADER, signatureHeader, type WebhookSecret } from "./signing";
import { type DeliveryRow, failed, type Handled } from "./types";
import { allowsPrivateTargets, checkWebhookUrl } from "./webhook-url";

const WEBHOOK_TIMEOUT_MS = 15_000;
/** What is kept of a failing receiver's answer, for the attempt's error text. */
const EXCERPT_BYTES = 300;

/**
 * The first `bytes` of a body, as text; the rest is never read (a receiver
 * may answer with anything). A body cut off midway throws, unless `partial`
 * keeps what came (an error excerpt is still worth showing).
 */
export async function bodyStart(response: Response, bytes: number, options: { partial?: boolean } = {}): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return "";
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    while (length < bytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      length += value.byteLength;
    }
  } catch (error) {
    if (!options.partial) throw error;
  } finally {
    await reader.cancel().catch(() => {});
  }
  return new TextDecoder().decode(concatBytes(chunks).subarray(0, bytes));
}

/**
 * The `webhook` delivery handler (src/deliveries/run.ts). The receiver's
 * failures are outcomes; it throws only for our own (D1, R2), which the
 * queue retries.
 */
export async function postWebhook(env: Env, db: Db, delivery: DeliveryRow, now: number): Promise<Handled> {
  const checked = checkWebhookUrl(delivery.target ?? "", allowsPrivateTargets(env));
  if (!checked.ok) return failed(`the webhook URL ${checked.reason}`);
  const [messageRows, aliasRows] = await db.batch([
    db
      .select({
        id: messages.id,
        messageId: messages.messageId,
        mailFrom: messages.mailFrom,
        rcptTo: messages.rcptTo,
        size: messages.size,
        decision: messages.decision,
        rawKey: messages.rawKey,
        createdAt: messages.createdAt,
      })
      .from(messages)
      .where(eq(messages.id, delivery.messageId)),
    db
      .select({ webhookSecrets: aliases.webhookSecrets, destinations: aliases.destinations })
      .from(aliases)
      .where(eq(aliases.id, delivery.aliasId ?? "")),
  ]);
  const message = messageRows[0];
  const alias = aliasRows[0];
  if (!message) return failed("the message no longer exists");
  if (!alias) return failed("the alias no longer exists");
  // A URL the alias dropped meanwhile gets nothing more (it may have been dropped for a reason).
  const destination = alias.destinations.find((d) => d.type === "webhook" && d.url === delivery.target);
  if (destination?.type !== "webhook") return failed("the URL is no longer a webhook destination of the alias");
  const secrets = await openSecrets(env.SECRETS_KEY, alias.webhookSecrets, now);
  // Unsigned, a receiver could not trust it; the operator can still give the alias a secret within the retry window.
  if (!secrets.length) return { outcome: { result: "retry", statusCode: null, error: "the alias has no webhook secret: POST /v1/aliases/{id}/webhook-secret" } };
  const object = message.rawKey ? await env.RAW.get(message.rawKey) : null;
  if (!object) throw new Error(`message ${message.id}: raw MIME missing in R2`);
  // A message that cannot be parsed never will be: failed at once, with the reason.
  const parsed = await parseMessage(await object.arrayBuffer());
  if (!parsed.ok) return failed(parsed.reason);
  const payload = await payloadOf(parsed.email, {
    deliveryId: delivery.id,
    redeliveryOf: delivery.redeliveryOf,
    message,
    threadId: delivery.threadId,
    aliasId: delivery.aliasId,
    inlineMaxBytes: destination.inline_max_bytes ?? 0,
    publicUrl: env.PUBLIC_URL ?? null,
    secretsKey: env.SECRETS_KEY,
    now,
  });
  return postSigned(checked.url, JSON.stringify(payload), secrets, payload.id, now);
}

/**
 * The POST both kinds of hook make (alias webhooks here, event hooks in
 * event-hook.ts), so they sign, time out and read answers the same way:
 * `body` signed with every secret at `now`, posted without following
 * redirects, and the answer classified: 2xx delivered, 410 gone, anything
 * else (or no answer within the timeout) retried.
 */
export async function postSigned(url: URL, body: string, secrets: WebhookSecret[], deliveryId: string, now: number): Promise<Handled> {
  const signature = await signatureHeader(
    secrets.map((s) => s.secret),
    Math.floor(now / 1000),
    body,
  );

  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      headers: { "Content-Type": "application/json", "User-Agent": "mailgate-webhook/1", [SIGNATURE_HEADER]: signature, "mailgate-delivery-id": deliveryId },
    });
  } catch (error) {
    return { outcome: { result: "retry", statusCode: null, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) } };
  }
  if (response.ok) {
    await response.body?.cancel();
    return { outcome: { result: "delivered", statusCode: response.status, error: null } };
  }
  const excerpt = (await bodyStart(response, EXCERPT_BYTES, { partial: true })).trim();
  if (response.status === 410) return { outcome: { result: "gone", statusCode: 410, error: `410 Gone: the receiver asked us to stop${excerpt ? ` (${excerpt})` : ""}` } };
  return { outcome: { result: "retry", statusCode: response.status, error: `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ""}` } };
}
