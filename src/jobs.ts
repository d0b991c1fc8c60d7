/**
 * The queue consumers. Jobs carry ids only (Queues messages are capped at
 * 128 KB); what a job works on lives in D1 and R2. A job of a kind nobody
 * handles is retried, never dropped, and ends in the dead-letter queue,
 * whose consumer settles what ran out of retries.
 */
import { type DeliverJob, failExhaustedDeliveries, runDeliveries } from "./deliveries/run";
import type { Env } from "./env";
import type { SendJob } from "./outbound/draft";
import { dispatchSends, failExhausted } from "./outbound/dispatch";

export type Job = SendJob | DeliverJob;

export const DEAD_LETTER_QUEUE = "mailgate-jobs-dlq";

const ofKind = <K extends Job["kind"]>(batch: MessageBatch<Job>, kind: K) =>
  batch.messages.filter((m) => m.body?.kind === kind) as unknown as Message<Extract<Job, { kind: K }>>[];

export async function consume(batch: MessageBatch<Job>, env: Env): Promise<void> {
  const sends = ofKind(batch, "send");
  const deliveries = ofKind(batch, "deliver");
  for (const message of batch.messages) {
    if (message.body?.kind === "send" || message.body?.kind === "deliver") continue;
    console.error("mailgate: no consumer for this job kind; retrying", { kind: (message.body as { kind?: unknown } | null)?.kind, id: message.id });
    message.retry();
  }
  const deadLetters = batch.queue === DEAD_LETTER_QUEUE;
  // Both kinds run to the end even when one fails (a send half done must settle), then a failure is raised.
  const results = await Promise.allSettled([
    sends.length ? (deadLetters ? failExhausted(env, sends) : dispatchSends(env, sends)) : null,
    deliveries.length ? (deadLetters ? failExhaustedDeliveries(env, deliveries) : runDeliveries(env, deliveries)) : null,
  ]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}
