/**
 * The Worker, built from its parts with a clock: `src/index.ts` exports the
 * production one; tests build their own to move time through the entry
 * points (`email()`, the API, `queue()`; `scheduled()` takes its time from
 * the controller, as Cloudflare's cron does).
 */
import { createApp } from "./api/app";
import { type Clock, systemClock } from "./clock";
import { sweepConsoleSessions } from "./console/session";
import { database } from "./db/client";
import type { Env } from "./env";
import { sweepLoopEntries } from "./inbound/loop-guard";
import { receive } from "./inbound/receive";
import { requestFetches } from "./incoming/fetch";
import { consume } from "./queue/consume";
import type { Job } from "./queue/jobs";
import { runAll } from "./queue/run-all";
import { sweepQueues } from "./queue/sweep";
import { sweepRetention } from "./retention";

export interface WorkerOptions {
  now?: Clock;
}

/**
 * `email()` and `queue()` read the clock once and pass the time down, so
 * one event sees one time; `scheduled()` uses the cron's own. Tests pass
 * their own clock.
 */
export function createWorker({ now = systemClock }: WorkerOptions = {}) {
  const app = createApp(now);
  return {
    fetch: app.fetch,
    async email(message, env) {
      await receive(message, env, now());
    },
    async queue(batch, env) {
      await consume(batch, env, now());
    },
    async scheduled(controller, env) {
      const db = database(env.DB);
      const at = controller.scheduledTime;
      await runAll([sweepQueues(env, db, at), sweepLoopEntries(db, at), sweepRetention(env, db, at), requestFetches(env, db, at), sweepConsoleSessions(db, at)]);
    },
  } satisfies ExportedHandler<Env, Job>;
}
