/**
 * What goes on the queue: ids only (Queues messages are capped at 128 KB);
 * the work itself is stored in D1 and R2. A leaf module, so the bindings
 * (src/env.ts) can name the queue's type without importing its consumers.
 */

/** Send an outbound message (src/outbound/dispatch.ts). */
export type SendJob = { kind: "send"; id: string };
/** Run a webhook or notification delivery (src/deliveries/run.ts). */
export type DeliverJob = { kind: "deliver"; id: string };

/** Fetch a batch from an incoming mail server (src/incoming/fetch.ts). */
export type FetchJob = { kind: "fetch"; id: string };

export type Job = SendJob | DeliverJob | FetchJob;

export const DEAD_LETTER_QUEUE = "mailgate-jobs-dlq";
