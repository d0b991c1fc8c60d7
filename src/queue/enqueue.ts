/** Putting jobs on the queue: the one way every producer (API, inbound, retries, sweepers) does it. */
import type { Env } from "../env";
import type { Job } from "./jobs";

/**
 * Queues jobs whose work is already stored as due. A failure is only
 * logged and reported (false): the sweepers (scheduled, every 5 minutes)
 * queue overdue work again, so nothing depends on this succeeding.
 */
export async function enqueue(env: Pick<Env, "JOBS">, jobs: Job[], options: { delaySeconds?: number } = {}): Promise<boolean> {
  let all = true;
  // Queues takes at most 100 messages per sendBatch (jobs are ids: far below its 256 KB).
  for (let i = 0; i < jobs.length; i += SEND_BATCH_LIMIT) {
    const part = jobs.slice(i, i + SEND_BATCH_LIMIT);
    try {
      await env.JOBS.sendBatch(part.map((body) => ({ body, ...(options.delaySeconds !== undefined && { delaySeconds: options.delaySeconds }) })));
    } catch (error) {
      console.error("mailgate: could not queue jobs; the sweeper will", { jobs: part, error: String(error) });
      all = false;
    }
  }
  return all;
}

/** Cloudflare Queues' limit on messages per `sendBatch`. */
const SEND_BATCH_LIMIT = 100;
