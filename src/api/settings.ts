/** `/v1/settings`: the gateway-wide knobs (Odoo's `mail.gateway.loop.*` and `mail.catchall.domain.allowed`). */
import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import type { Db } from "../db/client";
import { settings } from "../db/schema";
import { DEFAULT_SETTINGS } from "../inbound/lookup";
import type { RoutingSettings } from "../inbound/route";
import { router } from "./context";
import { DomainName, errorResponses, json, jsonBody, security } from "./schemas";

const SettingsSchema = z
  .object({
    loop_minutes: z.number().int(),
    loop_threshold: z.number().int(),
    allowed_domains: z.array(z.string()),
  })
  .openapi("Settings");

const SettingsBody = z.strictObject({
  loop_minutes: z.number().int().min(1).max(10_080).optional().openapi({ description: "Window of the sender loop guard (default 120)" }),
  loop_threshold: z.number().int().min(1).max(100_000).optional().openapi({ description: "Messages a sender may put into one target within the window (default 20)" }),
  allowed_domains: z.array(DomainName).max(100).optional().openapi({ description: "Domains on which local-part-only aliases match; empty means any domain" }),
});

/** The stored settings, or the defaults while none were saved (no migration writes the row; PUT does). */
export async function readSettings(db: Db): Promise<RoutingSettings> {
  const row = await db.select().from(settings).where(eq(settings.id, 1)).get();
  return row ? { loopMinutes: row.loopMinutes, loopThreshold: row.loopThreshold, allowedDomains: row.allowedDomains } : DEFAULT_SETTINGS;
}

function settingsOut(s: RoutingSettings): z.infer<typeof SettingsSchema> {
  return { loop_minutes: s.loopMinutes, loop_threshold: s.loopThreshold, allowed_domains: s.allowedDomains };
}

export const settingsApi = router();

settingsApi.openapi(
  createRoute({
    method: "get",
    path: "/settings",
    tags: ["settings"],
    summary: "Read the settings",
    security,
    responses: { 200: json(SettingsSchema, "The settings"), ...errorResponses },
  }),
  async (c) => c.json(settingsOut(await readSettings(c.get("db"))), 200),
);

settingsApi.openapi(
  createRoute({
    method: "put",
    path: "/settings",
    tags: ["settings"],
    summary: "Change settings (fields left out keep their value)",
    security,
    request: { body: jsonBody(SettingsBody) },
    responses: { 200: json(SettingsSchema, "The settings"), ...errorResponses },
  }),
  async (c) => {
    const db = c.get("db");
    const body = c.req.valid("json");
    const current = await readSettings(db);
    const next: RoutingSettings = {
      loopMinutes: body.loop_minutes ?? current.loopMinutes,
      loopThreshold: body.loop_threshold ?? current.loopThreshold,
      allowedDomains: body.allowed_domains ? [...new Set(body.allowed_domains)] : current.allowedDomains,
    };
    const values = { ...next, updatedAt: new Date(c.get("clock")()) };
    await db
      .insert(settings)
      .values({ id: 1, ...values })
      .onConflictDoUpdate({ target: settings.id, set: values });
    return c.json(settingsOut(next), 200);
  },
);
