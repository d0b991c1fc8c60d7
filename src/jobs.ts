/**
 * The queue consumers. Jobs carry ids only (Queues messages are capped at
 * 128 KB); what a job works on lives in D1 and R2. A job of a kind nobody
 * handles is retried, never dropped, and ends in the dead-letter queue,
 * whose consumer settles what ran out of retries.
 */
import type { Env } from "./env";
import { dispatchSends, failExhausted } from "./outbound/dispatch";
import type { SendJob } from "./outbound/draft";

export type Job = SendJob;

export const DEAD_LETTER_QUEUE = "mailgate-jobs-dlq";

export async function consume(batch: MessageBatch<Job>, env: Env): Promise<void> {
  const sends = batch.messages.filter((m) => m.body?.kind === "send");
  const unknown = batch.messages.filter((m) => m.body?.kind !== "send");
  for (const message of unknown) {
    console.error("mailgate: no consumer for this job kind; retrying", { kind: (message.body as { kind?: unknown } | null)?.kind, id: message.id });
    message.retry();
  }
  if (!sends.length) return;
  if (batch.queue === DEAD_LETTER_QUEUE) await failExhausted(env, sends);
  else await dispatchSends(env, sends);
}
