/**
 * The queue consumer. Jobs carry ids only (Queues messages are capped at
 * 128 KB); whatever a job works on lives in D1 and R2.
 *
 * No job kind exists yet: the outbound and webhook issues add theirs. A job
 * nobody knows is retried, never dropped, and ends in the dead-letter queue.
 */
export type Job = { kind: string };

export async function consume(batch: MessageBatch<Job>): Promise<void> {
  for (const message of batch.messages) {
    console.error("mailgate: no consumer for this job kind; retrying", { kind: message.body?.kind, id: message.id });
    message.retry();
  }
}
