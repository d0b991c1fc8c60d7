/** The Worker: wiring only. */
import { createApp } from "./api/app";
import { database } from "./db/client";
import { sweepDeliveries } from "./deliveries/run";
import { sweepLoopEntries } from "./inbound/loop-guard";
import type { Env } from "./env";
import { receive } from "./inbound/receive";
import { consume, type Job } from "./jobs";
import { sweepOverdue } from "./outbound/dispatch";

const app = createApp();

export default {
  fetch: app.fetch,
  async email(message, env) {
    await receive(message, env);
  },
  async queue(batch, env) {
    await consume(batch, env);
  },
  async scheduled(controller, env) {
    await Promise.all([
      sweepOverdue(env, controller.scheduledTime),
      sweepDeliveries(env, controller.scheduledTime),
      sweepLoopEntries(database(env.DB), controller.scheduledTime),
    ]);
  },
} satisfies ExportedHandler<Env, Job>;
