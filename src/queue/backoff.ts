/** The longest delay Cloudflare Queues takes on a send or a retry (24 hours). */
export const MAX_QUEUE_DELAY_SECONDS = 24 * 3600;

/** Exponential backoff: `first`, twice that, four times, ... capped at `max` (seconds). */
export function backoffSeconds(attempt: number, schedule: { firstSeconds: number; maxSeconds: number }): number {
  return Math.min(schedule.firstSeconds * 2 ** Math.max(0, attempt - 1), schedule.maxSeconds);
}
