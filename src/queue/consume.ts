/**
 * The queue consumer: hands each job to its pipeline, or, on the
 * dead-letter queue, to the handler that fails what ran out of retries.
 * A job of a kind nobody handles is retried, never dropped, and ends in
 * the dead-letter queue.
 */
import { database } from "../db/client";
import { runDeliveries } from "../deliveries/run";
import type { Env } from "../env";
import { consumeEmailEvents, EMAIL_EVENTS_QUEUE } from "../events/email-service";
import { runFetches } from "../incoming/fetch";
import { dispatchSends } from "../outbound/dispatch";
import { failExhaustedDeliveries, failExhaustedSends } from "./dead-letters";
import { DEAD_LETTER_QUEUE, type Job } from "./jobs";
import { runAll } from "./run-all";

const ofKind = <K extends Job["kind"]>(batch: MessageBatch<Job>, kind: K) => batch.messages.filter((m) => m.body?.kind === kind) as unknown as Message<Extract<Job, { kind: K }>>[];

/** The Worker's `queue()` entry, for the jobs queue and its dead-letter queue alike (`batch.queue` tells which). */
export async function consume(batch: MessageBatch<Job>, env: Env, now: number): Promise<void> {
  // Cloudflare Email Service's delivery events come on a queue of their own, as Cloudflare writes them.
  if (batch.queue === EMAIL_EVENTS_QUEUE) return consumeEmailEvents(env, batch.messages as readonly Message<unknown>[], now);
  const sends = ofKind(batch, "send");
  const deliveries = ofKind(batch, "deliver");
  const fetches = ofKind(batch, "fetch");
  for (const message of batch.messages) {
    if (message.body?.kind === "send" || message.body?.kind === "deliver" || message.body?.kind === "fetch") continue;
    console.error("mailgate: no consumer for this job kind; retrying", { kind: (message.body as { kind?: unknown } | null)?.kind, id: message.id });
    message.retry();
  }
  const db = database(env.DB);
  const deadLetters = batch.queue === DEAD_LETTER_QUEUE;
  // A fetch out of retries has nothing to fail: the server keeps its last error, and the next cron fetches again.
  if (deadLetters) for (const job of fetches) job.ack();
  // Every kind runs to the end even when one fails (a send half done must settle), then a failure is raised.
  await runAll([
    sends.length ? (deadLetters ? failExhaustedSends(db, sends, now) : dispatchSends(env, sends, now)) : null,
    deliveries.length ? (deadLetters ? failExhaustedDeliveries(db, deliveries, now) : runDeliveries(env, deliveries, now)) : null,
    fetches.length && !deadLetters ? runFetches(env, db, fetches, now) : null,
  ]);
}
