/** The Worker: wiring only. */
import { createApp } from "./api/app";
import type { Env } from "./env";
import { receive } from "./inbound/receive";

const app = createApp();

export default {
  fetch: app.fetch,
  async email(message, env) {
    await receive(message, env);
  },
} satisfies ExportedHandler<Env>;
