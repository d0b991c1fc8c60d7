/** The Worker: wiring only. */
import { createApp } from "./api/app";
import type { Env } from "./env";
import { receive } from "./inbound/receive";
import { consume, type Job } from "./jobs";

const app = createApp();

export default {
  fetch: app.fetch,
  async email(message, env) {
    await receive(message, env);
  },
  async queue(batch) {
    await consume(batch);
  },
} satisfies ExportedHandler<Env, Job>;
