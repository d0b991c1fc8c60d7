/** Putting jobs on the queue (ids only; the work is stored in D1 and R2). */
import type { Env } from "./env";
import type { Job } from "./jobs";

/**
 * Queues jobs whose work is already stored as due. A failure is only
 * logged: the sweepers (scheduled, every 5 minutes) queue overdue work again,
 * so nothing depends on this succeeding.
 */
export async function enqueue(env: Env, jobs: Job[]): Promise<void> {
  if (!jobs.length) return;
  try {
    await env.JOBS.sendBatch(jobs.map((body) => ({ body })));
  } catch (error) {
    console.error("mailgate: could not queue jobs; the sweeper will", { jobs, error: String(error) });
  }
}
