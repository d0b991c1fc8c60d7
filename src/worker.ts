/**
 * The Worker, built from its parts with a clock: `src/index.ts` exports the
 * production one; tests build their own to move time through the entry
 * points (`email()`, the API, `queue()`; `scheduled()` takes its time from
 * the controller, as Cloudflare's cron does).
 */
import { createApp } from "./api/app";
import { type Clock, systemClock } from "./clock";
import { database } from "./db/client";
import { sweepDeliveries } from "./deliveries/run";
import type { Env } from "./env";
import { receive } from "./inbound/receive";
import { sweepLoopEntries } from "./inbound/loop-guard";
import { consume } from "./jobs";
import type { Job } from "./jobs/kinds";
import { sweepOverdue } from "./outbound/dispatch";

export interface WorkerOptions {
  now?: Clock;
}

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
      await Promise.all([
        sweepOverdue(env, controller.scheduledTime),
        sweepDeliveries(env, controller.scheduledTime),
        sweepLoopEntries(database(env.DB), controller.scheduledTime),
      ]);
    },
  } satisfies ExportedHandler<Env, Job>;
}
