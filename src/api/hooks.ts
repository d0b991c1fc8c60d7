/**
 * `POST /hooks/relays/{relay_id}`: the providers' event webhooks. No bearer
 * token: each request is verified by its provider's own scheme with what
 * the relay's sealed `config.events` holds (src/events/providers/). An
 * unverifiable request is 401 and changes nothing; a stale one 400; a
 * replay 200 and changes nothing.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { relays } from "../db/schema";
import { allowsPrivateTargets, checkWebhookUrl } from "../deliveries/webhook-url";
import { PROVIDER_HOOKS } from "../events/providers";
import { recordEvents } from "../events/record";
import { tieEvents } from "../events/tie";
import type { EventsConfig } from "../events/types";
import { unseal } from "../secrets";
import { router } from "./context";
import { ApiError, notFound } from "./errors";
import { errorResponses, json } from "./schemas";

const HookAnswer = z
  .object({
    applied: z.number().int().openapi({ description: "Events that changed a recipient's standing" }),
    replayed: z.number().int().openapi({ description: "Events seen before: nothing changed" }),
    unknown: z.number().int().openapi({ description: "Events about mail we did not send through this relay: nothing changed" }),
  })
  .openapi("ProviderEventsAnswer");

export const hooksApi = router();

hooksApi.openapi(
  createRoute({
    method: "post",
    path: "/hooks/relays/{relay_id}",
    tags: ["hooks"],
    summary: "A provider's delivery events (Postmark, Resend, SES through SNS, Mailgun, SendGrid), verified by the provider's own signature scheme",
    request: {
      params: z.object({
        relay_id: z
          .string()
          .max(64)
          .openapi({ param: { name: "relay_id", in: "path" } }),
      }),
    },
    responses: { 200: json(HookAnswer, "Verified and applied"), ...errorResponses },
  }),
  async (c) => {
    const { relay_id } = c.req.valid("param");
    const db = c.get("db");
    const relay = await db.select({ id: relays.id, type: relays.type, secrets: relays.secrets }).from(relays).where(eq(relays.id, relay_id)).get();
    const hook = relay ? PROVIDER_HOOKS[relay.type] : undefined;
    if (!relay || !hook) throw notFound(`relay ${relay_id} with event webhooks`);
    const sealed = relay.secrets ? await unseal(c.env.SECRETS_KEY, relay.secrets) : {};
    // Without settings nothing can be verified: the same answer as a bad signature, so nothing is learned either way.
    if (!sealed.events) throw new ApiError("unauthorized", "the relay has no config.events to verify its provider's events with");
    const config = JSON.parse(sealed.events) as EventsConfig;
    const request = { method: c.req.method, url: c.req.url, headers: c.req.raw.headers, body: await c.req.text() };
    const now = c.get("clock")();
    const verified = await hook.verify(request, config, now);
    if (!verified.ok) throw new ApiError(verified.stale ? "invalid_request" : "unauthorized", `the event could not be verified: ${verified.reason}`);

    const reading = await hook.read(request);
    switch (reading.kind) {
      case "invalid":
        throw new ApiError("invalid_request", `the event cannot be read: ${reading.reason}`);
      case "ignored":
        return c.json({ applied: 0, replayed: 0, unknown: 0 }, 200);
      case "confirm_subscription": {
        // SNS waits for us to visit its SubscribeURL (verified above: it came signed by AWS).
        const checked = checkWebhookUrl(reading.url, allowsPrivateTargets(c.env));
        if (!checked.ok) throw new ApiError("invalid_request", `the subscription URL ${checked.reason}`);
        const answer = await fetch(checked.url, { redirect: "manual", signal: AbortSignal.timeout(15_000) });
        await answer.body?.cancel();
        if (!answer.ok) throw new ApiError("internal_error", `confirming the SNS subscription answered HTTP ${answer.status}`);
        return c.json({ applied: 0, replayed: 0, unknown: 0 }, 200);
      }
      case "events": {
        const { tied, untied } = await tieEvents(db, [relay.id], reading.events);
        const { applied, replayed } = await recordEvents(c.env, db, tied, now);
        return c.json({ applied: applied.length, replayed, unknown: untied.length }, 200);
      }
    }
  },
);
