/**
 * Runs every task to its end, then raises the first failure. For work that
 * must not stop half done because a neighbour failed (a send that must
 * settle, a sweeper that must not block the others), while the failure
 * still reaches the runtime (the queue retries, the cron run shows it).
 */
export async function runAll(tasks: (Promise<unknown> | null)[]): Promise<void> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}
