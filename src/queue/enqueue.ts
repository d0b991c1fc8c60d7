/** Putting jobs on the queue: the one way every producer (API, inbound, retries, sweepers) does it. */
import type { Env } from "../env";
import type { Job } from "./jobs";

/**
 * Queues jobs whose work is already stored as due. A failure is only
 * logged and reported (false): the sweepers (scheduled, every 5 minutes)
 * queue overdue work again, so nothing depends on this succeeding.
 */
export async function enqueue(env: Pick<Env, "JOBS">, jobs: Job[], options: { delaySeconds?: number } = {}): Promise<boolean> {
  if (!jobs.length) return true;
  try {
    await env.JOBS.sendBatch(jobs.map((body) => ({ body, ...(options.delaySeconds !== undefined && { delaySeconds: options.delaySeconds }) })));
    return true;
  } catch (error) {
    console.error("mailgate: could not queue jobs; the sweeper will", { jobs, error: String(error) });
    return false;
  }
}
